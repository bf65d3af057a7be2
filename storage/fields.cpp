// Wire-format field splitting; see fields.h.
#include "storage/fields.h"

#include <fmt/format.h>

namespace bosai {

namespace {

// Reads a varint at `pos` of `s`, advancing pos; false when it is cut or longer than 10 bytes.
// (WireReader reads one-byte varints, most tags and lengths, inline.)
bool ReadVarint(std::string_view s, size_t& pos, uint64_t& out) {
  out = 0;
  for (int shift = 0; shift < 70 && pos < s.size(); shift += 7) {
    auto b = uint8_t(s[pos++]);
    out |= uint64_t(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// Skips the value of a field of `wire_type` at `pos`; groups up to their end, nested up to
// `depth` levels. False when the bytes are malformed.
bool SkipValue(std::string_view s, size_t& pos, uint32_t number, uint32_t wire_type, int depth) {
  uint64_t v = 0;
  switch (wire_type) {
    case 0:
      return ReadVarint(s, pos, v);
    case 1:
    case 5: {
      size_t n = wire_type == 1 ? 8 : 4;
      if (s.size() - pos < n) return false;
      pos += n;
      return true;
    }
    case 2:
      if (!ReadVarint(s, pos, v) || v > s.size() - pos) return false;
      pos += size_t(v);
      return true;
    case 3:
      while (depth > 0) {
        uint64_t tag = 0;
        if (!ReadVarint(s, pos, tag) || tag > UINT32_MAX) return false;
        if ((tag & 7) == 4) return (tag >> 3) == number;
        if ((tag >> 3) == 0 || !SkipValue(s, pos, uint32_t(tag >> 3), tag & 7, depth - 1)) {
          return false;
        }
      }
      return false;
    default:
      return false;  // an end of group without its start, or no wire type
  }
}

}  // namespace

bool WireReader::VarintSlow(uint64_t& v) { return ReadVarint(encoded_, pos_, v); }

bool WireReader::SkipOther(uint32_t number, uint32_t wire_type) {
  return SkipValue(encoded_, pos_, number, wire_type, 64);
}

std::string WireReader::error() const {
  return failed_ ? fmt::format("malformed field at byte {}", pos_) : std::string();
}

Result<FieldMap> SplitFields(std::string_view encoded) {
  FieldMap out;
  WireReader reader(encoded);
  for (WireField f; reader.Next(f);) out[f.number].append(f.encoded);
  if (!reader.error().empty()) return Status::Corruption("record body: " + reader.error());
  return out;
}

std::string JoinFields(const FieldMap& fields) {
  size_t n = 0;
  for (const auto& [num, bytes] : fields) n += bytes.size();
  std::string out;
  out.reserve(n);
  for (const auto& [num, bytes] : fields) out += bytes;
  return out;
}

}  // namespace bosai
