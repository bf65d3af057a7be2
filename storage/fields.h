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
// says which.
class WireReader {
 public:
  explicit WireReader(std::string_view encoded) : encoded_(encoded) {}
  bool Next(WireField& out);
  // After Next() returned false: empty at a clean end, what is wrong otherwise.
  const std::string& error() const { return error_; }

 private:
  std::string_view encoded_;
  size_t pos_ = 0;
  std::string error_;
};
// The canonical body: fragments in field-number order.
std::string JoinFields(const FieldMap& fields);

}  // namespace bosai
