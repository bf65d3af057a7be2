// CRC-32C; see crc32c.h.
#include "sync/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace bosai::sync {
namespace {

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t Table(std::string_view data, uint32_t crc) {
  for (unsigned char b : data) crc = kTable[(crc ^ b) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The SSE 4.2 crc32 instruction computes the same polynomial, eight bytes at a time.
__attribute__((target("sse4.2"))) uint32_t Instruction(std::string_view data, uint32_t crc) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t c = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  crc = uint32_t(c);
  for (; n > 0; ++p, --n) crc = _mm_crc32_u8(crc, uint8_t(*p));
  return crc;
}
const bool kHasInstruction = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t Crc32c(std::string_view data, uint32_t crc) {
#if defined(__x86_64__)
  if (kHasInstruction) return ~Instruction(data, ~crc);
#endif
  return ~Table(data, ~crc);
}

uint32_t Crc32cPortable(std::string_view data, uint32_t crc) { return ~Table(data, ~crc); }

}  // namespace bosai::sync
