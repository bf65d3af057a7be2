// How record fields read to people: names of entities and fields, rendering a field's stored
// encoding as text, and parsing text into a field (for edits and conflict resolution). Works by
// protobuf reflection over storage/proto/bosai/v1/records.proto. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/crypto.h"
#include "storage/status.h"

namespace bosai::node {

std::string EntityName(uint32_t entity);                 // "resident", "household", or "entity-N"
std::string FieldName(uint32_t entity, uint32_t field);  // "name", or "field-N" if unknown
Result<uint32_t> FieldNumber(uint32_t entity, std::string_view name);

// Text for a stored field encoding ("" when cleared). My Number is masked unless reveal.
std::string RenderField(uint32_t entity, uint32_t field, std::string_view encoded,
                        const DataKey* data_key, bool reveal);

// The stored encoding of a field from text as a person types it (dates in ISO or 和暦, sex as
// 男/女, My Number sealed with the data key). Empty text clears the field.
Result<std::string> ParseField(uint32_t entity, uint32_t field, std::string_view text,
                               const DataKey* data_key);

std::string MaskMyNumber(std::string_view digits);  // "********3214"

}  // namespace bosai::node
