// An empty directory for a test's files, shared by the unit tests of every module.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace bosai::testing {

// `name` and this process's id under the temp dir, emptied.
inline std::filesystem::path FreshDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / (name + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace bosai::testing
