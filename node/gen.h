// Synthetic resident registers for drills, demos, tests and benchmarks (`bosai gen residents`).
// Writes the canonical CSV layout (DESIGN §8) in UTF-8 without BOM, LF, English headers:
// households with a realistic size distribution and relationships, an age pyramid, addresses in
// the municipality, unique valid My Numbers. The same seed gives the same file. Thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "storage/status.h"

namespace bosai::node {

struct GenOptions {
  std::string municipality;  // 6-digit code
  uint64_t count = 0;        // residents
  uint64_t seed = 1;
};

inline constexpr uint64_t kMaxGenCount = 50'000'000;

// Whether GenerateResidents takes OPTIONS: a valid municipality code, a count of 1 to
// kMaxGenCount.
Status CheckGenOptions(const GenOptions& options);

// Writes to `out` (a file opened for writing, or stdout).
Status GenerateResidents(const GenOptions& options, std::FILE* out);

}  // namespace bosai::node
