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
// The canonical body: fragments in field-number order.
std::string JoinFields(const FieldMap& fields);

}  // namespace bosai
