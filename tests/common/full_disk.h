// A disk with no room left, for tests: while a FullDisk lives, every write SQLite's unix VFS
// makes (write, pwrite, pwrite64) fails with ENOSPC, as on a full disk, in this whole process.
// SQLite's own system-call hooks do it (sqlite3_vfs::xSetSystemCall): no privileges, no mount.
#pragma once

#include <errno.h>
#include <sqlite3.h>
#include <sys/types.h>

#include <cstddef>

namespace bosai::testing {

class FullDisk {
 public:
  FullDisk() {
    vfs_->xSetSystemCall(vfs_, "write", reinterpret_cast<sqlite3_syscall_ptr>(&NoRoom));
    vfs_->xSetSystemCall(vfs_, "pwrite", reinterpret_cast<sqlite3_syscall_ptr>(&NoRoomAt));
    vfs_->xSetSystemCall(vfs_, "pwrite64", reinterpret_cast<sqlite3_syscall_ptr>(&NoRoomAt));
  }
  ~FullDisk() {
    for (const char* call : {"write", "pwrite", "pwrite64"}) {
      vfs_->xSetSystemCall(vfs_, call, nullptr);  // back to the default
    }
  }
  FullDisk(const FullDisk&) = delete;
  FullDisk& operator=(const FullDisk&) = delete;

 private:
  static ssize_t NoRoom(int, const void*, size_t) {
    errno = ENOSPC;
    return -1;
  }
  static ssize_t NoRoomAt(int, const void*, size_t, off_t) {
    errno = ENOSPC;
    return -1;
  }
  sqlite3_vfs* vfs_ = sqlite3_vfs_find("unix");
};

}  // namespace bosai::testing
