// Check digits and id syntax; see ids.h and reference/domain-japan.md §3, §4.
#include "storage/ids.h"

#include <fmt/format.h>

namespace bosai {
namespace {

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

int MunicipalityCheckDigit(std::string_view first5) {
  int sum = 0;
  for (int i = 0; i < 5; ++i) sum += (first5[i] - '0') * (6 - i);
  return (11 - sum % 11) % 10;
}

Status ValidateMunicipalityCode(std::string_view code) {
  if (code.size() != 6 || !AllDigits(code)) {
    return Status::Invalid(
        fmt::format("municipality code \"{}\" must be 6 digits (全国地方公共団体コード)", code));
  }
  if (MunicipalityCheckDigit(code) != code[5] - '0') {
    return Status::Invalid(
        fmt::format("municipality code \"{}\" has a wrong check digit (expected {})", code,
                    MunicipalityCheckDigit(code)));
  }
  return Status::Ok();
}

int MyNumberCheckDigit(std::string_view first11) {
  // Left-to-right weights 6,5,4,3,2,7,6,5,4,3,2.
  static constexpr int kWeights[11] = {6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
  int sum = 0;
  for (int i = 0; i < 11; ++i) sum += (first11[i] - '0') * kWeights[i];
  int r = sum % 11;
  return r <= 1 ? 0 : 11 - r;
}

Status ValidateMyNumber(std::string_view number) {
  if (number.size() != 12 || !AllDigits(number)) {
    return Status::Invalid("My Number must be 12 digits");
  }
  if (MyNumberCheckDigit(number) != number[11] - '0') {
    return Status::Invalid("My Number has a wrong check digit");
  }
  return Status::Ok();
}

Status ValidateRegisterCode(std::string_view code, std::string_view what) {
  if (code.empty() || code.size() > 20) {
    return Status::Invalid(fmt::format("{} must be 1 to 20 characters", what));
  }
  for (char c : code) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!ok)
      return Status::Invalid(fmt::format("{} \"{}\" may hold only 0-9, A-Z, a-z", what, code));
  }
  return Status::Ok();
}

namespace {
constexpr size_t kMaxCodeChars = 20;
constexpr char kCodeChars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int CodeRank(char c) {  // 1..62 in ASCII order; 0 for any other character
  if (c >= '0' && c <= '9') return c - '0' + 1;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 11;
  if (c >= 'a' && c <= 'z') return c - 'a' + 37;
  return 0;
}
}  // namespace

// Character i takes bits 127 - 6i .. 122 - 6i of the 128 (hi, then lo); 0 after the last.
std::optional<PackedCode> PackedCode::Of(std::string_view code) {
  if (code.empty() || code.size() > kMaxCodeChars) return std::nullopt;
  unsigned __int128 v = 0;
  for (char c : code) {
    const int rank = CodeRank(c);
    if (rank == 0) return std::nullopt;
    v = v << 6 | unsigned(rank);
  }
  v <<= 128 - 6 * code.size();
  return PackedCode{uint64_t(v >> 64), uint64_t(v)};
}

std::string PackedCode::Text() const {
  const unsigned __int128 v = (unsigned __int128)hi << 64 | lo;
  std::string out;
  for (size_t i = 0; i < kMaxCodeChars; ++i) {
    unsigned rank = unsigned(v >> (122 - 6 * i)) & 63;
    if (rank == 0) break;
    out.push_back(kCodeChars[rank - 1]);
  }
  return out;
}

Status ValidateNodeId(std::string_view node_id) {
  auto dash = node_id.find('-');
  if (dash != 6) {
    return Status::Invalid(fmt::format(
        "node id \"{}\" must be <municipality code>-<name>, e.g. 042021-honcho", node_id));
  }
  BOSAI_RETURN_IF_ERROR(ValidateMunicipalityCode(node_id.substr(0, 6)));
  std::string_view name = node_id.substr(7);
  if (name.empty() || name.size() > 40) {
    return Status::Invalid(
        fmt::format("node id \"{}\": the name must be 1 to 40 characters", node_id));
  }
  for (char c : name) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
    if (!ok) {
      return Status::Invalid(
          fmt::format("node id \"{}\": the name may hold only a-z, 0-9 and '-'", node_id));
    }
  }
  return Status::Ok();
}

std::string Incarnation(std::string_view node_id, int64_t epoch) {
  return fmt::format("{}#{}", node_id, epoch);
}

}  // namespace bosai
