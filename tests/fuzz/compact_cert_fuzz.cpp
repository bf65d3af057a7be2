// libFuzzer target: the strict verifier of compact CBOR node certificates (what a QR code on a
// printed certificate will carry) must never crash or read out of bounds, and must accept only
// what the root signed, byte for byte. The seed is a valid certificate under a fixed root.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/compact_seed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bosai;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static const std::string seed = [] {
    std::string s = fuzz::CompactSeed();
    // Else nothing is ever accepted and the check below holds for nothing.
    if (!sync::VerifyCompactCertificate(s, fuzz::FixedRoot().key.public_key()).ok()) {
      __builtin_trap();
    }
    return s;
  }();
  auto c = sync::VerifyCompactCertificate(input, fuzz::FixedRoot().key.public_key());
  // Anything accepted must be exactly the signed seed (one signature, one canonical form).
  if (c.ok() && input != seed) __builtin_trap();
  return 0;
}
