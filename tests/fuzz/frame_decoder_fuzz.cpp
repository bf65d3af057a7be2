// libFuzzer target: the sync frame decoder must never crash, read out of bounds or allocate past
// its limits, whatever bytes a peer sends, however they are split.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sync/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bosai::sync;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte chooses how the rest is split into reads.
  size_t step = size > 0 ? 1 + data[0] % 64 : 1;
  FrameDecoder d;
  for (size_t at = size > 0 ? 1 : 0; at < size; at += step) {
    if (!d.Feed(input.substr(at, step)).ok()) break;
    while (true) {
      auto f = d.Next();
      if (!f.ok() || !f->has_value()) break;
      if ((*f)->body.size() > kMaxBodyBytes) __builtin_trap();
    }
  }
  return 0;
}
