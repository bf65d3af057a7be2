// CRC-32C (Castagnoli), the frame checksum of the sync protocol (DESIGN §5). Debian packages no
// C++ CRC-32C library, so this is the standard reflected table algorithm (polynomial 0x82F63B78).
// Thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace bosai::sync {

// Extends a running CRC (start with 0) over more bytes.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace bosai::sync
