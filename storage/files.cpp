// Small files; see files.h.
#include "storage/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace bosai {

namespace {

// A descriptor of the file at PATH open to read, or why it cannot be read, naming it.
// "-" is standard input (a descriptor of its own).
Result<int> OpenToRead(const std::filesystem::path& path) {
  const int fd = path == "-" ? ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)
                             : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    std::string why = fmt::format("{}: {}", path.string(), std::strerror(error));
    return error == ENOENT ? Status::NotFound(std::move(why)) : Status::IoError(std::move(why));
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::Invalid(fmt::format("{}: is a directory, not a file", path.string()));
  }
  return fd;
}

bool WriteAllAndSync(int fd, std::string_view content) {
  return WriteAll(fd, content) && SyncOutput(fd);
}

}  // namespace

bool WriteAll(int fd, std::string_view content) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    content.remove_prefix(size_t(n));
  }
  return true;
}

// Writes all of CONTENT to FD and syncs it.
std::string InputName(const std::filesystem::path& path) {
  return path == "-" ? "standard input" : path.string();
}

Result<InputFile> InputFile::Open(const std::filesystem::path& path) {
  if (path == "-" && ::isatty(STDIN_FILENO)) {
    return Status::Invalid(
        "standard input (-) is a terminal: pipe the file in (… | bosai …), or name it");
  }
  BOSAI_ASSIGN_OR_RETURN(int fd, OpenToRead(path));
  return InputFile(fd, InputName(path));
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status InputFile::ReadUpTo(size_t n, std::string* out) {
  // In pieces appended: a length declared by a damaged file allocates no more than the file holds.
  // A file (not a pipe) says how much it holds: room for that is made once.
  struct stat st {};
  const off_t at = ::lseek(fd_, 0, SEEK_CUR);
  if (at >= 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > at) {
    out->reserve(out->size() + std::min(n, size_t(st.st_size - at)));
  }
  char piece[65536];
  while (n > 0) {
    const ssize_t got = ::read(fd_, piece, std::min(n, sizeof piece));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return Status::IoError(fmt::format("{}: read failed: {}", name_, std::strerror(errno)));
    }
    if (got == 0) break;
    out->append(piece, size_t(got));
    n -= size_t(got);
  }
  return Status::Ok();
}

Result<bool> InputFile::AtEnd() {
  std::string one;
  BOSAI_RETURN_IF_ERROR(ReadUpTo(1, &one));
  return one.empty();
}

std::string TemporaryDirectory() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

int UnlinkedTemporaryFile(std::string_view prefix) {
  std::string path = fmt::format("{}/{}-XXXXXX", TemporaryDirectory(), prefix);
  const int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(path.c_str());
  return fd;
}

Result<SpooledInput> SpooledInput::FromStandardInput() {
  BOSAI_ASSIGN_OR_RETURN(InputFile in, InputFile::Open("-"));
  const int fd = UnlinkedTemporaryFile("bosai-stdin");
  if (fd < 0) {
    return Status::IoError(fmt::format("{}: cannot make a file to hold standard input: {}",
                                       TemporaryDirectory(), std::strerror(errno)));
  }
  SpooledInput spooled(fd);
  std::string piece;
  do {
    piece.clear();
    BOSAI_RETURN_IF_ERROR(in.ReadUpTo(size_t(1) << 20, &piece));
    if (!WriteAll(fd, piece)) {
      return Status::IoError(fmt::format("{}: cannot hold standard input: {}", TemporaryDirectory(),
                                         std::strerror(errno)));
    }
  } while (!piece.empty());
  return spooled;
}

SpooledInput::~SpooledInput() {
  if (fd_ >= 0) ::close(fd_);
}

std::string SpooledInput::path() const { return "/proc/self/fd/" + std::to_string(fd_); }

Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes,
                                  const std::function<std::string(std::string_view)>& too_large) {
  BOSAI_ASSIGN_OR_RETURN(InputFile file, InputFile::Open(path));
  std::string data;
  BOSAI_RETURN_IF_ERROR(file.ReadUpTo(max_bytes + 1, &data));
  if (data.size() > max_bytes) {
    return Status::Invalid(
        fmt::format("{}: {}", file.name(),
                    too_large ? too_large(data) : fmt::format("larger than {} bytes", max_bytes)));
  }
  return data;
}

std::string JsonMessage(std::string_view what) {
  if (what.rfind("[json.exception.", 0) == 0) {
    const size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

OutputTarget ResolveOutput(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (path == "-") return {"/dev/stdout", true};  // as most tools read it
  // /dev/stdout and its kin name this process's descriptors (a file the shell opened to append
  // to, say): written to, never replaced, whatever they lead to.
  const std::string text = fs::absolute(path).lexically_normal().string();
  if (text.rfind("/dev/", 0) == 0 || text.rfind("/proc/", 0) == 0) return {path, true};
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);  // of what a link names
  if (ec || !fs::exists(st)) return {path, false};
  if (!fs::is_regular_file(st)) return {path, true};
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    fs::path target = fs::canonical(path, ec);
    return ec ? OutputTarget{path, true} : OutputTarget{target, false};
  }
  return {path, false};
}

bool SyncOutput(int fd) { return ::fsync(fd) == 0 || errno == EINVAL || errno == ENOTSUP; }

Status SyncDirectory(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.empty() ? "." : path;
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Status::IoError(fmt::format("{}: cannot open: {}", dir.string(), std::strerror(errno)));
  }
  const bool ok = SyncOutput(fd);
  const int error = errno;
  ::close(fd);
  if (!ok) {
    return Status::IoError(fmt::format("{}: sync failed: {}", dir.string(), std::strerror(error)));
  }
  return Status::Ok();
}

Status WriteNewFile(const std::filesystem::path& path, std::string_view content, bool secret) {
  if (path == "-") {  // standard output, as ResolveOutput has it
    if (WriteAllAndSync(STDOUT_FILENO, content)) return Status::Ok();
    return Status::IoError(fmt::format("standard output: write failed: {}", std::strerror(errno)));
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0 && errno == EEXIST) {
    return Status::Exists(fmt::format(
        "{}: exists already, and is never written over: remove it, or name another file",
        path.string()));
  }
  if (fd < 0) {
    return Status::IoError(
        fmt::format("{}: cannot create: {}", path.string(), std::strerror(errno)));
  }
  const bool ok = WriteAllAndSync(fd, content);
  const int error = errno;
  ::close(fd);
  if (!ok) {
    return Status::IoError(
        fmt::format("{}: write failed: {}", path.string(), std::strerror(error)));
  }
  return SyncDirectory(path.parent_path());
}

Status LinkNewFile(const std::filesystem::path& partial, const std::filesystem::path& path) {
  std::error_code ec;
  int fd = ::open(partial.c_str(), O_RDONLY | O_CLOEXEC);
  const bool synced = fd >= 0 && SyncOutput(fd);
  const int sync_error = errno;
  if (fd >= 0) ::close(fd);
  if (!synced) {
    std::filesystem::remove(partial, ec);
    return Status::IoError(
        fmt::format("{}: sync failed: {}", partial.string(), std::strerror(sync_error)));
  }
  // link() fails if PATH appeared meanwhile: it is never written over.
  const int linked = ::link(partial.c_str(), path.c_str());
  const int link_error = errno;
  std::filesystem::remove(partial, ec);
  if (linked != 0) {
    std::string why = fmt::format("{}: {}", path.string(), std::strerror(link_error));
    return link_error == EEXIST ? Status::Exists(why) : Status::IoError(why);
  }
  return SyncDirectory(path.parent_path());
}

Status WriteFileAtomically(const std::filesystem::path& to, std::string_view content, bool secret) {
  const OutputTarget target = ResolveOutput(to);
  if (target.in_place) {
    // Appended: a file the shell opened for this process (`>` has emptied it, `>>` has not).
    int fd = ::open(target.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    const bool ok = fd >= 0 && WriteAllAndSync(fd, content);
    const int error = errno;
    if (fd >= 0) ::close(fd);
    if (!ok) {
      return Status::IoError(
          fmt::format("{}: write failed: {}", to.string(), std::strerror(error)));
    }
    return Status::Ok();
  }
  const std::filesystem::path& path = target.path;
  const std::filesystem::path tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());  // one left by a crash, with other permissions
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) {
    // Named as asked for; the temporary file only when something is in its way.
    const int error = errno;
    std::error_code ec;
    std::string why = fmt::format("{}: cannot create: {}", to.string(), std::strerror(error));
    if (error != ENOENT && std::filesystem::exists(tmp, ec)) {
      why += fmt::format(" ({} is in the way)", tmp.string());
    }
    return Status::IoError(std::move(why));
  }
  bool ok = WriteAllAndSync(fd, content);
  int error = errno;
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    error = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::IoError(fmt::format("{}: write failed: {}", to.string(), std::strerror(error)));
  }
  return SyncDirectory(path.parent_path());
}

}  // namespace bosai
