// Identifiers and their check digits: 全国地方公共団体コード (JIS X 0402), 個人番号 (My Number),
// node ids and incarnations (DESIGN §3). Pure functions, thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/status.h"

namespace bosai {

// Check digit of a 5-digit municipality code prefix: the 6th digit of a valid code.
int MunicipalityCheckDigit(std::string_view first5);
// A valid 6-digit code with a correct check digit.
Status ValidateMunicipalityCode(std::string_view code);

// Check digit of the first 11 digits of a My Number (平成26年総務省令第85号 第5条).
int MyNumberCheckDigit(std::string_view first11);
Status ValidateMyNumber(std::string_view number);

// A register code: 1–20 characters of [0-9A-Za-z].
Status ValidateRegisterCode(std::string_view code, std::string_view what);

// A register code (or a My Number's 12 digits) in 16 bytes: six bits a character, from the
// first, so that codes compare as their texts do (0-9 < A-Z < a-z, a prefix first). An import
// holds one for each row of a register to find repeats, where a string took twice as much.
struct PackedCode {
  uint64_t hi = 0, lo = 0;                                     // never both 0 for a code
  static std::optional<PackedCode> Of(std::string_view code);  // none unless a register code
  std::string Text() const;
  bool operator==(const PackedCode&) const = default;
  std::strong_ordering operator<=>(const PackedCode&) const = default;
};

// A node id is "<municipality code>-<name>", name of [a-z0-9-] (1–40), e.g. "042021-honcho".
Status ValidateNodeId(std::string_view node_id);

// "<node id>#<epoch>", e.g. "042021-honcho#3".
std::string Incarnation(std::string_view node_id, int64_t epoch);

}  // namespace bosai
