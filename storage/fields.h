// Splits a protobuf message encoding into per-field fragments and joins them back (the unit of
// field merge, DESIGN §4). Works on the wire format alone, so fields unknown to this version are
// kept as opaque bytes. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/flat_map.h"
#include "storage/status.h"

namespace bosai {

// Field number -> every encoded occurrence of that field (tag included), in order.
using FieldMap = FlatMap<uint32_t, std::string>;

Result<FieldMap> SplitFields(std::string_view encoded);

// One occurrence of a field in a message's wire format.
struct WireField {
  uint32_t number = 0;
  uint32_t wire_type = 0;    // 0 varint, 1 fixed64, 2 length-delimited, 3/4 group, 5 fixed32
  uint64_t varint = 0;       // the value, for a varint
  std::string_view bytes;    // the contents, for a length-delimited field
  std::string_view encoded;  // the whole occurrence, tag included
};

// Reads a message's fields in order without parsing it into a message: for code that needs a
// few fields of many records. Next() is false at the end or at malformed bytes; then error()
// says which. Next() is inline: a bulk write calls it for every field of a million records.
class WireReader {
 public:
  explicit WireReader(std::string_view encoded) : encoded_(encoded) {}
  bool Next(WireField& out) {
    if (pos_ >= encoded_.size() || failed_) return false;
    const size_t start = pos_;
    uint64_t tag = 0;
    if (!Varint(tag) || (tag >> 3) == 0 || tag > UINT32_MAX) return Fail(start);
    out.number = uint32_t(tag >> 3);
    out.wire_type = uint32_t(tag & 7);
    out.varint = 0;
    out.bytes = {};
    if (out.wire_type == 0) {
      if (!Varint(out.varint)) return Fail(start);
    } else if (out.wire_type == 2) {
      uint64_t size = 0;
      if (!Varint(size) || size > encoded_.size() - pos_) return Fail(start);
      out.bytes = std::string_view(encoded_.data() + pos_, size_t(size));
      pos_ += size_t(size);
    } else if (!SkipOther(out.number, out.wire_type)) {
      return Fail(start);
    }
    out.encoded = std::string_view(encoded_.data() + start, pos_ - start);
    return true;
  }
  // After Next() returned false: empty at a clean end, what is wrong otherwise.
  std::string error() const;

 private:
  bool Varint(uint64_t& v) {
    if (pos_ < encoded_.size() && uint8_t(encoded_[pos_]) < 0x80) {  // most: one byte
      v = uint8_t(encoded_[pos_++]);
      return true;
    }
    return VarintSlow(v);
  }
  bool VarintSlow(uint64_t& v);
  bool SkipOther(uint32_t number, uint32_t wire_type);  // fixed-size values and groups
  bool Fail(size_t at) {
    failed_ = true;
    pos_ = at;
    return false;
  }

  std::string_view encoded_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// The canonical body: fragments in field-number order.
std::string JoinFields(const FieldMap& fields);

}  // namespace bosai
