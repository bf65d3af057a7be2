// CRC-32C (Castagnoli), the frame checksum of the sync protocol (DESIGN §5). Debian packages no
// C++ CRC-32C library, so this is the standard reflected table algorithm (polynomial 0x82F63B78),
// with the x86-64 crc32 instruction where the processor has it. Thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace bosai::sync {

// Extends a running CRC (start with 0) over more bytes.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

// The table algorithm alone, whatever the processor (the tests compare the two).
uint32_t Crc32cPortable(std::string_view data, uint32_t crc = 0);

}  // namespace bosai::sync
