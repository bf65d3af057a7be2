// A power cut, for tests (reference: reliability, "T3 power cut"): kill -9 cannot show it, for
// the kernel still writes out what a killed process wrote; a power cut loses what was not synced.
//
// While a PowerCut lives it is SQLite's default VFS, over the unix one. For each database, log
// (-wal) and rollback journal that SQLite opens it keeps what the disk holds for certain (the
// file's bytes at its last sync) and the writes and truncations made since. After CutAt(n) the
// power goes at the n-th write, sync or truncation from then on (after CutAtSync(n), the n-th
// sync): that call and every later one (and every deletion) fails, as on a machine that is off,
// so that nothing is acknowledged after it. Once every connection is closed, Recover() writes each
// file back as a disk may hold it after the power came back: its synced bytes, then all later
// writes and truncations, or none of them, or each its own way: a write written, not written, or
// piece by piece (each piece within a 512-byte sector written, not written or garbage), a
// truncation done or not, at random. SQLite promises that a transaction committed (synced) survives
// this, and that the file is never corrupt (its own tests do the same: test6.c, "crash").
//
// Several machines in one test (the seeded simulator's nodes): OnlyFiles(prefix) makes the files
// whose path begins with PREFIX the machine whose power goes; the others are not counted, never
// fail and are left as they are by Recover().
//
// Not modelled: directory entries (a file made or deleted stays made or deleted), the -shm file
// (SQLite rebuilds its index from the log after a crash) and writes outside SQLite (Forget() a
// file changed so).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace bosai::testing {

class PowerCut {
 public:
  // With REAL_SYNCS false the unix VFS's syncs are skipped: what a disk keeps is this model's,
  // and a test of many commits runs at the speed of memory.
  explicit PowerCut(uint64_t seed, bool real_syncs = true) : real_syncs_(real_syncs), rng_(seed) {
    unix_ = sqlite3_vfs_find("unix");
    vfs_ = *unix_;
    vfs_.zName = "bosai-power-cut";
    vfs_.pNext = nullptr;
    vfs_.pAppData = this;
    vfs_.szOsFile = int(sizeof(File)) + unix_->szOsFile;
    vfs_.xOpen = &Open;
    vfs_.xDelete = &Delete;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~PowerCut() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(unix_, 1);
  }
  PowerCut(const PowerCut&) = delete;
  PowerCut& operator=(const PowerCut&) = delete;

  // The machine: the files whose path begins with PREFIX ("": every file, the default).
  void OnlyFiles(std::string prefix) {
    std::lock_guard lock(mu_);
    machine_ = std::move(prefix);
  }
  // Files whose path begins with PREFIX were changed outside SQLite (copied, removed): they are
  // read again from the disk when next opened. None may be open.
  void Forget(const std::string& prefix) {
    std::lock_guard lock(mu_);
    for (auto& [path, image] : files_) {
      if (path.starts_with(prefix)) image = Image{{}, {}, true};
    }
  }

  // The power goes at the n-th write, sync or truncation of a followed file from now (n >= 1),
  // or at the n-th sync (the moment a commit becomes durable, if it gets through).
  void CutAt(uint64_t n) {
    std::lock_guard lock(mu_);
    cut_at_ = calls_ + n;
  }
  void CutAtSync(uint64_t n) {
    std::lock_guard lock(mu_);
    cut_at_sync_ = syncs_ + n;
  }
  // No cut is coming (one set is called off).
  void NoCut() {
    std::lock_guard lock(mu_);
    cut_at_ = cut_at_sync_ = 0;
  }
  // Writes, syncs and truncations of followed files so far (the power still on), and syncs.
  uint64_t calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  uint64_t syncs() const {
    std::lock_guard lock(mu_);
    return syncs_;
  }
  bool off() const {
    std::lock_guard lock(mu_);
    return off_;
  }

  // With every connection closed: the files as the disk holds them after the cut, on disk; the
  // power is back on and the files are followed again from these bytes.
  void Recover() {
    std::lock_guard lock(mu_);
    for (auto& [path, image] : files_) {
      if (image.deleted || !Ours(path.c_str())) continue;
      std::string bytes = image.synced;
      // The disk wrote all of it, none of it, or each write its own way.
      const uint64_t file_mode = rng_() % 3;
      for (const Change& c : image.unsynced) {
        // 0: not written, 1: written, 2: piece by piece
        const uint64_t whole = file_mode < 2 ? file_mode : rng_() % 3;
        if (c.truncate) {
          if (whole == 1 || (whole == 2 && rng_() % 2)) bytes.resize(size_t(c.offset));
          continue;
        }
        for (size_t done = 0; done < c.data.size();) {  // a piece per 512-byte sector
          const uint64_t at = c.offset + done;
          const size_t n = std::min<size_t>(c.data.size() - done, 512 - at % 512);
          switch (whole < 2 ? whole : rng_() % 3) {
            case 0:  // not written
              break;
            case 1:  // written
              Put(bytes, at, c.data.substr(done, n));
              break;
            default: {  // garbage
              std::string junk(n, '\0');
              for (char& ch : junk) ch = char(rng_());
              Put(bytes, at, junk);
            }
          }
          done += n;
        }
      }
      std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
      image.synced = std::move(bytes);
      image.unsynced.clear();
    }
    off_ = false;
    cut_at_ = cut_at_sync_ = 0;
  }

 private:
  struct Change {
    bool truncate = false;
    uint64_t offset = 0;  // of a write; the new size, of a truncation
    std::string data;
  };
  struct Image {
    std::string synced;
    std::vector<Change> unsynced;
    bool deleted = false;
  };
  struct File {
    sqlite3_file base;
    PowerCut* owner;
    Image* image;      // null: not followed (a temporary file)
    const char* path;  // of a followed file
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
  };
  static_assert(sizeof(File) % 8 == 0);

  static void Put(std::string& bytes, uint64_t at, const std::string& data) {
    if (bytes.size() < at + data.size()) bytes.resize(size_t(at + data.size()));
    bytes.replace(size_t(at), data.size(), data);
  }

  // Whether the file at PATH (null: a temporary file) is the machine's.
  bool Ours(const char* path) const {
    return machine_.empty() || (path != nullptr && std::string_view(path).starts_with(machine_));
  }

  // Counts a write, sync or truncation of the file at PATH; false once the power is off (this
  // call cut it, or an earlier one did) and the file is the machine's.
  bool PowerOn(bool followed, const char* path, bool sync = false) {
    std::lock_guard lock(mu_);
    if (!Ours(path)) return true;
    if (off_) return false;
    if (!followed) return true;
    ++calls_;
    syncs_ += sync;
    off_ = (cut_at_ != 0 && calls_ >= cut_at_) || (cut_at_sync_ != 0 && syncs_ >= cut_at_sync_);
    return !off_;
  }

  static int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags,
                  int* out_flags) {
    auto* self = static_cast<PowerCut*>(vfs->pAppData);
    auto* f = reinterpret_cast<File*>(file);
    f->base.pMethods = nullptr;
    int rc = self->unix_->xOpen(self->unix_, name, f->real(), flags, out_flags);
    if (rc != SQLITE_OK) return rc;
    f->owner = self;
    f->image = nullptr;
    f->path = nullptr;
    if (name && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL))) {
      std::lock_guard lock(self->mu_);
      auto [it, made] = self->files_.try_emplace(name);
      Image& image = it->second;
      f->path = it->first.c_str();
      if (image.deleted || (image.synced.empty() && image.unsynced.empty())) {
        std::ifstream in(name, std::ios::binary);  // what the disk holds now, synced
        image = Image{std::string(std::istreambuf_iterator<char>(in), {}), {}, false};
      }
      f->image = &image;
    }
    f->base.pMethods = f->real()->pMethods->iVersion >= 3   ? &kMethods3
                       : f->real()->pMethods->iVersion == 2 ? &kMethods2
                                                            : &kMethods1;
    return SQLITE_OK;
  }
  static int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
    auto* self = static_cast<PowerCut*>(vfs->pAppData);
    if (!self->PowerOn(false, name)) return SQLITE_IOERR_DELETE;
    int rc = self->unix_->xDelete(self->unix_, name, sync_dir);
    std::lock_guard lock(self->mu_);
    if (auto it = self->files_.find(name); it != self->files_.end()) {
      it->second = Image{{}, {}, true};
    }
    return rc;
  }

  static File* Of(sqlite3_file* file) { return reinterpret_cast<File*>(file); }
  static sqlite3_file* Real(sqlite3_file* file) { return Of(file)->real(); }

  static int Close(sqlite3_file* file) { return Real(file)->pMethods->xClose(Real(file)); }
  static int Read(sqlite3_file* file, void* buf, int n, sqlite3_int64 at) {
    return Real(file)->pMethods->xRead(Real(file), buf, n, at);
  }
  static int Write(sqlite3_file* file, const void* buf, int n, sqlite3_int64 at) {
    File* f = Of(file);
    if (!f->owner->PowerOn(f->image != nullptr, f->path)) return SQLITE_IOERR_WRITE;
    int rc = f->real()->pMethods->xWrite(f->real(), buf, n, at);
    if (rc == SQLITE_OK && f->image) {
      std::lock_guard lock(f->owner->mu_);
      f->image->unsynced.push_back(
          {false, uint64_t(at), std::string(static_cast<const char*>(buf), size_t(n))});
    }
    return rc;
  }
  static int Truncate(sqlite3_file* file, sqlite3_int64 size) {
    File* f = Of(file);
    if (!f->owner->PowerOn(f->image != nullptr, f->path)) return SQLITE_IOERR_TRUNCATE;
    int rc = f->real()->pMethods->xTruncate(f->real(), size);
    if (rc == SQLITE_OK && f->image) {
      std::lock_guard lock(f->owner->mu_);
      f->image->unsynced.push_back({true, uint64_t(size), {}});
    }
    return rc;
  }
  static int Sync(sqlite3_file* file, int flags) {
    File* f = Of(file);
    if (!f->owner->PowerOn(f->image != nullptr, f->path, /*sync=*/true)) return SQLITE_IOERR_FSYNC;
    int rc = f->owner->real_syncs_ ? f->real()->pMethods->xSync(f->real(), flags) : SQLITE_OK;
    if (rc == SQLITE_OK && f->image) {  // what was written is on the disk now, as written
      std::lock_guard lock(f->owner->mu_);
      for (const Change& c : f->image->unsynced) {
        if (c.truncate) {
          f->image->synced.resize(size_t(c.offset));
        } else {
          Put(f->image->synced, c.offset, c.data);
        }
      }
      f->image->unsynced.clear();
    }
    return rc;
  }
  static int FileSize(sqlite3_file* file, sqlite3_int64* size) {
    return Real(file)->pMethods->xFileSize(Real(file), size);
  }
  static int Lock(sqlite3_file* file, int level) {
    return Real(file)->pMethods->xLock(Real(file), level);
  }
  static int Unlock(sqlite3_file* file, int level) {
    return Real(file)->pMethods->xUnlock(Real(file), level);
  }
  static int CheckReservedLock(sqlite3_file* file, int* out) {
    return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
  }
  static int FileControl(sqlite3_file* file, int op, void* arg) {
    return Real(file)->pMethods->xFileControl(Real(file), op, arg);
  }
  static int SectorSize(sqlite3_file* file) {
    return Real(file)->pMethods->xSectorSize(Real(file));
  }
  static int DeviceCharacteristics(sqlite3_file* file) {
    return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
  }
  static int ShmMap(sqlite3_file* file, int page, int size, int extend, void volatile** out) {
    return Real(file)->pMethods->xShmMap(Real(file), page, size, extend, out);
  }
  static int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
    return Real(file)->pMethods->xShmLock(Real(file), offset, n, flags);
  }
  static void ShmBarrier(sqlite3_file* file) { Real(file)->pMethods->xShmBarrier(Real(file)); }
  static int ShmUnmap(sqlite3_file* file, int delete_flag) {
    return Real(file)->pMethods->xShmUnmap(Real(file), delete_flag);
  }
  static int Fetch(sqlite3_file* file, sqlite3_int64 at, int n, void** out) {
    return Real(file)->pMethods->xFetch(Real(file), at, n, out);
  }
  static int Unfetch(sqlite3_file* file, sqlite3_int64 at, void* p) {
    return Real(file)->pMethods->xUnfetch(Real(file), at, p);
  }

  static constexpr sqlite3_io_methods Methods(int version) {
    return {version,
            &Close,
            &Read,
            &Write,
            &Truncate,
            &Sync,
            &FileSize,
            &Lock,
            &Unlock,
            &CheckReservedLock,
            &FileControl,
            &SectorSize,
            &DeviceCharacteristics,
            version >= 2 ? &ShmMap : nullptr,
            version >= 2 ? &ShmLock : nullptr,
            version >= 2 ? &ShmBarrier : nullptr,
            version >= 2 ? &ShmUnmap : nullptr,
            version >= 3 ? &Fetch : nullptr,
            version >= 3 ? &Unfetch : nullptr};
  }
  static const sqlite3_io_methods kMethods1, kMethods2, kMethods3;

  const bool real_syncs_;
  sqlite3_vfs* unix_;
  sqlite3_vfs vfs_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::string, Image> files_;  // by path; nodes stay put, so File keeps pointers
  std::string machine_;
  uint64_t calls_ = 0, syncs_ = 0;
  uint64_t cut_at_ = 0, cut_at_sync_ = 0;  // 0: not set
  bool off_ = false;
};

inline const sqlite3_io_methods PowerCut::kMethods1 = PowerCut::Methods(1);
inline const sqlite3_io_methods PowerCut::kMethods2 = PowerCut::Methods(2);
inline const sqlite3_io_methods PowerCut::kMethods3 = PowerCut::Methods(3);

}  // namespace bosai::testing
