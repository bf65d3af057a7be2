// Small files; see files.h.
#include "storage/files.h"

#include <fmt/format.h>

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

}  // namespace bosai
