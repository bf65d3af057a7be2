// How record fields read to people: names of entities and fields, rendering a field's stored
// encoding as text, and parsing text into a field (for edits and conflict resolution). Works by
// protobuf reflection over storage/proto/bosai/v1/records.proto. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/crypto.h"
#include "storage/status.h"

namespace bosai::node {

std::string EntityName(uint32_t entity);                 // "resident", "household", or "entity-N"
std::string FieldName(uint32_t entity, uint32_t field);  // "name", or "field-N" if unknown
Result<uint32_t> FieldNumber(uint32_t entity, std::string_view name);
std::vector<std::string> FieldNames(uint32_t entity);  // in number order

// Text for a stored field encoding ("" when cleared). My Number is masked unless reveal.
std::string RenderField(uint32_t entity, uint32_t field, std::string_view encoded,
                        const DataKey* data_key, bool reveal);

// The stored encoding of a field from text as a person types it (dates in ISO or 和暦, sex as
// 男/女, My Number sealed with the data key), for an edit or a conflict's resolution. A
// resident's field is held to the register's rules, as an import holds its columns (below); a
// household given by its code is one of MUNICIPALITY. Empty text clears a field that may be
// empty. An error names the field.
Result<std::string> ParseField(uint32_t entity, uint32_t field, std::string_view text,
                               const DataKey* data_key, std::string_view municipality);

// The id of a register record ("042021:123") from an id or, for MUNICIPALITY, a code alone, as a
// person gives it (full-width digits narrowed); the municipality code's check digit and the code
// are checked, an error naming "ENTITY id" or "ENTITY code" ("resident", "household").
Result<std::string> RegisterKey(std::string_view id, std::string_view municipality,
                                std::string_view entity);

// ---- The register's rules for a resident's fields (DESIGN §3), shared by an import (for each
// column) and ParseField (for each edit). Text is NFC; an error says what is wrong with it,
// without the field's name.
Status CheckName(std::string_view name);  // not empty, CheckText of 200 bytes
Status CheckKana(std::string_view kana);  // kana (folded as search folds it), at most 300 bytes
// Free text (a relationship, an address): at most MAX_BYTES, and not what a spreadsheet opening
// an export would run as a formula (FormulaStart).
Status CheckText(std::string_view text, size_t max_bytes);
// Why TEXT would be run as a formula by a spreadsheet that opens a CSV file holding it (it
// begins with =, +, @, or - and more: "CSV injection"), or "" when it would not.
std::string FormulaStart(std::string_view text);
// A date in ISO form or 和暦 (ParseDate), not after TODAY (YYYYMMDD).
Result<int32_t> ParsePastDate(std::string_view text, int32_t today);
// A resident became one (住民となった年月日) on SINCE, not before they were born on BIRTH
// (YYYYMMDD; 0 when either is not known).
Status CheckResidentSince(int32_t since, int32_t birth);
Result<int> ParseSex(std::string_view text);  // 男/女, M/F, 1/2 → v1::Sex
std::string SexText(int sex);                 // 男, 女, "" (unspecified), as the register says it
// 住民/転出/死亡 or resident/moved_out/deceased (empty: 住民) → v1::ResidentStatus.
Result<int> ParseResidentStatus(std::string_view text);
std::string ResidentStatusText(int status);  // 住民, 転出, 死亡
// Seven digits, "" when empty; hyphens and 〒 dropped, a zero a spreadsheet dropped put back.
Result<std::string> ParsePostalCode(std::string_view text);
// A phone number as written (digits, - ( ) + and spaces, 6 to 15 digits), "" when empty; a
// leading zero a spreadsheet dropped put back.
Result<std::string> ParsePhone(std::string_view text);
// The twelve digits of a My Number (check digit verified), "" when empty.
Result<std::string> ParseMyNumberDigits(std::string_view text);

std::string MaskMyNumber(std::string_view digits);  // "********3214"

}  // namespace bosai::node
