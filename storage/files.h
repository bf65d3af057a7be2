// Small files: keys, certificates, configs, trust bundles. Bounded reads, so a wrong path (a
// database, a device) gives a clear error instead of filling memory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "storage/status.h"

namespace bosai {

inline constexpr size_t kMaxSmallFileBytes = 16u << 20;

// The whole file; NotFound when it cannot be read, Invalid when over max_bytes.
Result<std::string> ReadSmallFile(const std::filesystem::path& path,
                                  size_t max_bytes = kMaxSmallFileBytes);

}  // namespace bosai
