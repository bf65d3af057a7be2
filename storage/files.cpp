// Small files; see files.h.
#include "storage/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace bosai {

Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("{}: cannot read", path.string()));
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, size_t(in.gcount()));
    if (data.size() > max_bytes) {
      return Status::Invalid(fmt::format("{}: larger than {} bytes", path.string(), max_bytes));
    }
  }
  if (in.bad()) return Status::IoError(fmt::format("{}: read failed", path.string()));
  return data;
}

std::string JsonMessage(std::string_view what) {
  if (what.rfind("[json.exception.", 0) == 0) {
    const size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

Status WriteNewFile(const std::filesystem::path& path, std::string_view content, bool secret) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) {
    return Status::IoError(
        fmt::format("{}: cannot create: {}", path.string(), std::strerror(errno)));
  }
  bool ok =
      ::write(fd, content.data(), content.size()) == ssize_t(content.size()) && ::fsync(fd) == 0;
  int error = errno;
  ::close(fd);
  if (!ok) {
    return Status::IoError(
        fmt::format("{}: write failed: {}", path.string(), std::strerror(error)));
  }
  return Status::Ok();
}

}  // namespace bosai
