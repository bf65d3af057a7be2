// Resident register import, lookup and search; see resident.h.
#include "node/resident.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "node/dates.h"
#include "node/records.h"
#include "node/text.h"
#include "storage/db.h"
#include "storage/fields.h"
#include "storage/files.h"
#include "storage/flat_map.h"
#include "storage/ids.h"

namespace bosai::node {
namespace {

using v1::ENTITY_HOUSEHOLD;
using v1::ENTITY_RESIDENT;

constexpr uint32_t kMyNumber = v1::Resident::kMyNumberFieldNumber;
constexpr uint32_t kFlagPrivateUseName = 1;
constexpr size_t kMaxProblemsShown = 100;
constexpr size_t kMaxConflictsListed = 100;  // ImportReport::conflicts_listed
constexpr uint64_t kRowsPerCommit = 2048;
constexpr std::string_view kRelationshipHead = "世帯主";

// ---- Columns of the canonical layout (DESIGN §8) and their Japanese aliases.

enum Col {
  kMunicipality,
  kResidentCode,
  kHouseholdCode,
  kName,
  kNameKana,
  kBirthDate,
  kSex,
  kRelationship,
  kPostalCode,
  kAddress,
  kMyNumberCol,
  kPhone,
  kResidentSince,
  kStatus,  // not in DESIGN §8's thirteen: optional, written by an export
  kNumCols
};

struct ColumnDef {
  const char* name;
  std::vector<std::string> aliases;
  bool required;
};

const ColumnDef kColumns[kNumCols] = {
    {"municipality_code",
     {"全国地方公共団体コード", "地方公共団体コード", "市区町村コード", "団体コード"},
     false},
    {"resident_code", {"住民票コード", "住民コード", "個人コード", "宛名番号"}, true},
    {"household_code", {"世帯番号", "世帯コード"}, true},
    {"name", {"氏名", "名前", "漢字氏名", "氏名(漢字)", "氏名漢字"}, true},
    {"name_kana",
     {"ふりがな", "フリガナ", "氏名カナ", "カナ氏名", "氏名_カナ", "氏名かな", "氏名(カナ)",
      "氏名(フリガナ)", "氏名(ふりがな)", "氏名(かな)", "カナ", "よみがな", "ヨミガナ",
      "フリガナ氏名", "氏名フリガナ"},
     false},
    {"birth_date", {"生年月日", "生年月日(西暦)", "生年月日(和暦)"}, true},
    {"sex", {"性別", "男女の別", "男女"}, true},
    {"relationship", {"続柄", "世帯主との続柄", "世帯主との関係"}, false},
    {"postal_code", {"郵便番号"}, false},
    {"address", {"住所"}, false},
    {"my_number", {"個人番号", "マイナンバー", "個人番号(マイナンバー)"}, false},
    {"phone", {"電話番号", "連絡先", "電話"}, false},
    {"resident_since", {"住民となった年月日", "住民となった日", "住定年月日"}, false},
    {"status", {"状態", "住民の状態"}, false},
};

std::string NormalizeHeader(std::string_view h) {
  std::string s = NarrowAscii(Nfc(h));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t start = s.find_first_not_of(' ');
  s = start == std::string::npos ? "" : s.substr(start);
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A column that holds a part of a canonical column, as registers split some: the family and
// given names and their readings, and 方書 (the building and room) apart from the address. The
// value held is the parts joined by a full-width space; the first part takes the canonical
// column's place, where its problems are reported.
struct PartDef {
  Col col;
  int part;           // 0: the first part, in the column's place; 1: joined after it
  const char* what;   // the part, for messages
  const char* needs;  // the other part's column, for messages
  std::vector<std::string> aliases;
};

const PartDef kParts[] = {
    {kName,
     0,
     "the family name",
     "a given name column (名)",
     {"family_name", "姓", "氏", "苗字", "姓(漢字)", "氏(漢字)"}},
    {kName,
     1,
     "the given name",
     "a family name column (姓 or 氏)",
     {"given_name", "名", "名(漢字)"}},
    {kNameKana,
     0,
     "the family name's reading",
     "a given name reading column (名カナ or メイ)",
     {"family_name_kana", "姓カナ", "氏カナ", "セイ", "姓(カナ)", "氏(カナ)", "姓(フリガナ)",
      "姓フリガナ", "姓ふりがな"}},
    {kNameKana,
     1,
     "the given name's reading",
     "a family name reading column (姓カナ or セイ)",
     {"given_name_kana", "名カナ", "メイ", "名(カナ)", "名(フリガナ)", "名フリガナ", "名ふりがな"}},
    {kAddress,
     1,
     "the building and room",
     "an address column (address or 住所)",
     {"address_building", "方書", "建物名", "建物名・部屋番号"}},
};

struct Header {
  int index[kNumCols];   // file column of each canonical column (or of its first part), or -1
  int joined[kNumCols];  // file column of the part joined after it, or -1
  size_t width = 0;
  std::vector<std::string> names;
  bool has(Col c) const { return index[c] >= 0; }
};

// Why writing PATH would destroy what must stay: the register being read (INPUT), or the data
// dir's store or keys; Ok otherwise.
Status CheckOutputPath(const Node& node, const std::string& path, const std::string& input = "") {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!input.empty() && fs::exists(path, ec) && fs::equivalent(path, input, ec)) {
    return Status::Invalid(
        fmt::format("{} is the register being imported: name another file to write", path));
  }
  const fs::path out = fs::weakly_canonical(path, ec);
  const fs::path dir = fs::weakly_canonical(node.data_dir(), ec);
  const fs::path inside = out.lexically_relative(dir);
  if (!inside.empty() && *inside.begin() != "..") {
    const std::string first = inside.begin()->string();
    if (first.rfind("bosai.db", 0) == 0 || first == "keys") {
      return Status::Invalid(
          fmt::format("{} is the node's own {}: name a file outside the data dir to write", path,
                      first == "keys" ? "keys directory" : "database"));
    }
  }
  return Status::Ok();
}

Result<Header> ParseHeader(const std::string& path, const CsvRecord& rec,
                           std::vector<std::string>* warnings) {
  Header h;
  std::fill(std::begin(h.index), std::end(h.index), -1);
  std::fill(std::begin(h.joined), std::end(h.joined), -1);
  h.width = rec.fields.size();
  h.names = rec.fields;
  std::vector<std::string> unknown;
  std::vector<size_t> unnamed;   // columns (1-based) whose header is empty
  int parts[std::size(kParts)];  // file column of each part, or -1
  std::fill(std::begin(parts), std::end(parts), -1);
  auto twice = [&](size_t i, int before, std::string_view name) {
    return Status::Invalid(fmt::format("{}:{}:{}: column {} appears twice (also column {})", path,
                                       rec.line, i + 1, name, before + 1));
  };
  for (size_t i = 0; i < rec.fields.size(); ++i) {
    std::string name = NormalizeHeader(rec.fields[i]);
    int found = -1;
    for (int c = 0; c < kNumCols && found < 0; ++c) {
      if (name == kColumns[c].name) found = c;
      for (const auto& a : kColumns[c].aliases) {
        if (name == a) found = c;
      }
    }
    if (found >= 0) {
      if (h.index[found] >= 0) return twice(i, h.index[found], kColumns[found].name);
      h.index[found] = int(i);
      continue;
    }
    for (size_t p = 0; p < std::size(kParts) && found < 0; ++p) {
      const auto& aliases = kParts[p].aliases;
      if (std::find(aliases.begin(), aliases.end(), name) == aliases.end()) continue;
      if (parts[p] >= 0) return twice(i, parts[p], rec.fields[i]);
      parts[p] = int(i);
      found = int(p);
    }
    if (found < 0 && name.empty()) {
      unnamed.push_back(i + 1);  // as a spreadsheet saves formatted cells beside the header
    } else if (found < 0) {
      unknown.push_back(rec.fields[i]);
    }
  }
  for (size_t p = 0; p < std::size(kParts); ++p) {
    if (parts[p] < 0) continue;
    const PartDef& part = kParts[p];
    const Col col = part.col;
    auto at = [&](std::string_view reason) {
      return Status::Invalid(fmt::format("{}:{}:{}: column {} ({}) {}", path, rec.line,
                                         parts[p] + 1, rec.fields[parts[p]], part.what, reason));
    };
    // The other part of the same column, if the file has it.
    int other = -1;
    for (size_t q = 0; q < std::size(kParts); ++q) {
      if (q != p && kParts[q].col == col) other = parts[q];
    }
    if (part.part == 0) {
      if (h.index[col] >= 0) {
        return at(fmt::format("and column {} both give {}: keep one", rec.fields[h.index[col]],
                              kColumns[col].name));
      }
      if (other < 0) return at(fmt::format("needs {}", part.needs));
      h.index[col] = parts[p];
    } else {
      if (h.index[col] < 0 && other < 0) return at(fmt::format("needs {}", part.needs));
      h.joined[col] = parts[p];
    }
  }
  for (int c = 0; c < kNumCols; ++c) {
    if (kColumns[c].required && h.index[c] < 0) {
      Status missing = Status::Invalid(
          fmt::format("{}:{}: required column {} is missing", path, rec.line, kColumns[c].name));
      if (rec.fields.size() == 1) {
        return missing.WithNote(
            "the header row is one column: its fields are separated by neither commas nor tabs "
            "(save the file as CSV)");
      }
      return missing;
    }
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    warnings->push_back(fmt::format("{}:{}: ignoring unknown columns: {}", path, rec.line, list));
  }
  if (!unnamed.empty()) {
    warnings->push_back(fmt::format("{}:{}: ignoring {} {}, which {} no name in the header", path,
                                    rec.line, unnamed.size() == 1 ? "column" : "columns",
                                    fmt::join(unnamed, ", "),
                                    unnamed.size() == 1 ? "has" : "have"));
  }
  return h;
}

// The error for a first row that is no header (WHY): the line of the header instead when one of
// the next few rows is one. A title, a date or a blank row above the header, as some systems
// export a register, is for the clerk to remove: an import does not guess which rows to leave out.
Status HeaderFurtherDown(const std::string& path, CsvReader& reader, const Status& why) {
  constexpr int kRowsLooked = 10;
  CsvRecord rec;
  std::vector<std::string> ignored;
  for (int i = 0; i < kRowsLooked; ++i) {
    Result<bool> more = reader.Next(&rec);
    if (!more.ok() || !*more) break;
    if (ParseHeader(path, rec, &ignored).ok()) {
      return Status::Invalid(
          fmt::format("{}:{}: the header is on line {}: remove the lines above it (the header "
                      "must be the first line)",
                      path, rec.line, rec.line));
    }
  }
  return why;
}

// ---- One validated row.

// A set of register codes with std::unordered_set<std::string>'s insert, in a flat table of
// 16-byte slots instead of a node and a string each: an import holds the household of every
// row it has seen.
class CodeSet {
 public:
  // True when `code` was not in the set; a code must be a register code (ValidateRegisterCode).
  bool insert(std::string_view code) {
    auto packed = PackedCode::Of(code);
    if (!packed) throw std::invalid_argument("CodeSet: not a register code");
    auto [slot, found] = table_.Insert(
        Hash(*packed), [&](const PackedCode& c) { return c == *packed; }, Hash);
    *slot = *packed;
    return !found;
  }

 private:
  static size_t Hash(const PackedCode& c) {
    uint64_t h = (c.hi ^ (c.lo * 0x9E3779B97F4A7C15u)) * 0xBF58476D1CE4E5B9u;
    return size_t(h ^ (h >> 31));
  }
  ProbedTable<PackedCode> table_;  // a code is never all zeros
};

struct Row {
  std::string resident_code;
  std::string household_code;
  v1::Resident resident;  // without My Number
  std::string my_number;  // 12 digits, or empty
  bool head = false;
  // What pass 2 writes, prepared by Prepare() (on pass 1's thread when the passes overlap).
  std::string key;     // of the resident
  std::string fields;  // the resident's fields, serialized (every one the register manages)
  std::string sealed;  // a Resident holding only the sealed My Number, serialized, or empty
  bool first_in_household = false;  // the first valid row of its household
  std::string household;  // the household's fields, serialized: from a 世帯主 or a first row

  // `households` holds the household codes of the valid rows prepared so far.
  void Prepare(const Node& node, CodeSet* households) {
    key = node.municipality() + ":" + resident_code;
    fields = resident.SerializeAsString();
    if (!my_number.empty()) {
      v1::Resident r;
      r.set_my_number(node.data_key()->Seal("mynumber", my_number));
      sealed = r.SerializeAsString();
    }
    first_in_household = households->insert(household_code);
    if (head || first_in_household) {  // the only rows a household is written from
      v1::Household hh;
      if (head) hh.set_head(key);
      hh.set_address(resident.address());
      hh.set_postal_code(resident.postal_code());
      household = hh.SerializeAsString();
    }
    resident = v1::Resident();  // freed here, not on pass 2's thread
  }
};

struct Problem {
  size_t line;
  size_t column;
  std::string text;
};

// What to add to a problem with a field whose text is a number as a spreadsheet shows a large
// one (9.83206E+11: a My Number or a code opened in Excel and saved): its digits are lost.
std::string SpreadsheetHint(std::string_view text) {
  size_t e = text.find_first_of("Ee");
  if (e == std::string_view::npos || e == 0 || e + 2 > text.size() || text[e + 1] != '+') {
    return "";
  }
  auto digits = [](std::string_view s) { return !s.empty() && AllDigits(s); };
  std::string_view mantissa = text.substr(0, e);
  size_t dot = mantissa.find('.');
  bool number = dot == std::string_view::npos
                    ? digits(mantissa)
                    : digits(mantissa.substr(0, dot)) && digits(mantissa.substr(dot + 1));
  if (!number || !digits(text.substr(e + 2))) return "";
  return fmt::format(
      " ({} is a number as a spreadsheet shows it, its digits lost: export the register again, or "
      "set the column's cells to text before saving)",
      text);
}

// The text of a field that a system wrote as a spreadsheet formula of it, ="00123" (so that
// Excel keeps a code's leading zeros; quotes in it doubled), or the field as it is.
std::string FormulaText(std::string_view v) {
  if (v.size() < 3 || v[0] != '=' || v[1] != '"' || v.back() != '"') return std::string(v);
  std::string text;
  for (size_t i = 2; i + 1 < v.size(); ++i) {
    if (v[i] == '"' && (i + 2 == v.size() || v[++i] != '"')) return std::string(v);  // not one
    text += v[i];
  }
  return text;
}

class RowValidator {
 public:
  RowValidator(const std::string& path, const Header& header, const Node& node)
      : path_(path), header_(header), node_(node), today_(Today()) {}

  // Fills *row; appends problems. Returns true when the row is valid.
  bool Validate(const CsvRecord& rec, Row* row, std::vector<Problem>* problems) {
    size_t before = problems->size();
    if (rec.fields.size() != header_.width) {
      Add(problems, rec.line,
          rec.fields.size() < header_.width ? rec.fields.size() + 1 : header_.width + 1, "",
          fmt::format("expected {} fields, found {}", header_.width, rec.fields.size()));
      return false;
    }
    // Text is valid UTF-8 here: CsvReader checks or converts every byte it hands out.
    // Without the blanks a register pads a field with (quoted, or full-width: "山田　太郎　　").
    auto field = [&](int i) {
      std::string_view v = TrimBlank(rec.fields[size_t(i)]);
      // A field the rejects file guarded with an apostrophe ('+81 …, '="3010"), read as it was
      if (v.size() > 1 && v[0] == '\'' && !FormulaStart(v.substr(1)).empty()) v.remove_prefix(1);
      if (!v.starts_with("=\"")) return Nfc(v);
      std::string text = Nfc(FormulaText(v));
      return std::string(TrimBlank(text));
    };
    auto get = [&](Col c) -> std::string {
      if (!header_.has(c)) return std::string();
      std::string value = field(header_.index[c]);
      if (header_.joined[c] >= 0) {
        std::string part = field(header_.joined[c]);
        if (!part.empty()) value += (value.empty() ? "" : "　") + part;
      }
      return value;
    };
    auto bad = [&](Col c, const std::string& why) {
      Add(problems, rec.line, header_.index[c] + 1, kColumns[c].name,
          why + SpreadsheetHint(NarrowAscii(get(c))));
    };
    v1::Resident& r = row->resident;

    if (header_.has(kMunicipality)) {
      std::string code = NarrowAscii(get(kMunicipality));
      if (code.size() == 5) code = "0" + code;  // a leading zero lost by a spreadsheet
      if (code.empty()) {
        bad(kMunicipality, "empty");
      } else if (Status st = ValidateMunicipalityCode(code); !st.ok()) {
        bad(kMunicipality, st.message());
      } else if (code != node_.municipality()) {
        bad(kMunicipality,
            fmt::format("{} is not this node's municipality ({})", code, node_.municipality()));
      }
    }
    row->resident_code = NarrowAscii(get(kResidentCode));
    if (Status st = ValidateRegisterCode(row->resident_code, "resident code"); !st.ok()) {
      bad(kResidentCode, st.message());
    }
    row->household_code = NarrowAscii(get(kHouseholdCode));
    if (Status st = ValidateRegisterCode(row->household_code, "household code"); !st.ok()) {
      bad(kHouseholdCode, st.message());
    } else {
      r.set_household(node_.municipality() + ":" + row->household_code);
    }

    std::string name = get(kName);
    if (Status st = CheckName(name); !st.ok()) {
      bad(kName, st.message());
    } else {
      if (HasPrivateUse(name)) r.set_flags(r.flags() | kFlagPrivateUseName);
      r.set_name(std::move(name));
    }
    if (header_.has(kNameKana)) {
      std::string kana = get(kNameKana);
      if (Status st = CheckKana(kana); !st.ok()) {
        bad(kNameKana, st.message());
      } else {  // held in full-width; a problem names the text as the file has it
        r.set_name_kana(WideKatakana(std::move(kana)));
      }
    }
    auto date = [&](Col c, bool required, auto set) {
      std::string text = get(c);
      if (text.empty()) {
        if (required) bad(c, "empty");
        return;
      }
      auto d = ParsePastDate(text, today_);
      if (!d.ok()) {
        bad(c, d.status().message());
      } else {
        set(*d);
      }
    };
    date(kBirthDate, true, [&](int32_t d) { r.set_birth_date(d); });
    if (header_.has(kResidentSince)) {
      date(kResidentSince, false, [&](int32_t d) {
        if (Status st = CheckResidentSince(d, r.birth_date()); !st.ok()) {
          bad(kResidentSince, st.message());
        } else {
          r.set_resident_since(d);
        }
      });
    }
    if (auto sex = ParseSex(get(kSex)); sex.ok()) {
      r.set_sex(v1::Sex(*sex));
    } else {
      bad(kSex, sex.status().message());
    }
    if (header_.has(kRelationship)) {
      std::string rel = get(kRelationship);
      if (Status st = CheckText(rel, 60); !st.ok()) {
        bad(kRelationship, st.message());
      } else {
        r.set_relationship(std::move(rel));
      }
    }
    if (header_.has(kPostalCode)) {
      if (auto pc = ParsePostalCode(get(kPostalCode)); pc.ok()) {
        r.set_postal_code(std::move(pc).value());
      } else {
        bad(kPostalCode, pc.status().message());
      }
    }
    if (header_.has(kAddress)) {
      std::string addr = get(kAddress);
      if (Status st = CheckText(addr, 600); !st.ok()) {
        bad(kAddress, st.message());
      } else {
        r.set_address(std::move(addr));
      }
    }
    if (header_.has(kMyNumberCol)) {
      auto digits = ParseMyNumberDigits(get(kMyNumberCol));
      if (!digits.ok()) {
        bad(kMyNumberCol, digits.status().message());
      } else if (!digits->empty() && !node_.data_key()) {
        bad(kMyNumberCol, "this node holds no data key: it cannot store My Number");
      } else {
        row->my_number = std::move(digits).value();
      }
    }
    if (header_.has(kPhone)) {
      if (auto phone = ParsePhone(get(kPhone)); phone.ok()) {
        r.set_phone(std::move(phone).value());
      } else {
        bad(kPhone, phone.status().message());
      }
    }
    if (header_.has(kStatus)) {
      if (auto status = ParseResidentStatus(get(kStatus)); status.ok()) {
        r.set_status(v1::ResidentStatus(*status));
      } else {
        bad(kStatus, status.status().message());
      }
    }
    row->head = HeadsHousehold(r);  // a 世帯主 who moved out or died heads it no longer
    return problems->size() == before;
  }

  void Add(std::vector<Problem>* problems, size_t line, size_t column, std::string_view field,
           const std::string& why) {
    problems->push_back({line, column,
                         field.empty()
                             ? fmt::format("{}:{}:{}: {}", path_, line, column, why)
                             : fmt::format("{}:{}:{}: {}: {}", path_, line, column, field, why)});
  }

 private:
  const std::string& path_;
  const Header& header_;
  const Node& node_;
  int32_t today_;
};

// Register codes (PackedCode, 24 bytes a row with its line) or My Numbers (their 12 digits as a
// number, 16 bytes), with the line each came from; finds repeats after Sort().
template <typename Code = PackedCode>
class KeyLines {
 public:
  void Add(const Code& code, uint32_t line) { entries_.push_back({code, line}); }
  void Sort() { std::sort(entries_.begin(), entries_.end()); }  // in place
  // (line of a repeat, line of the first occurrence)
  template <typename F>
  void ForEachRepeat(F f) const {
    for (size_t i = 1; i < entries_.size(); ++i) {
      size_t first = i - 1;
      while (i < entries_.size() && entries_[i].code == entries_[first].code) {
        f(entries_[i].line, entries_[first].line);
        ++i;
      }
    }
  }
  // f(code, line, whether it is the code's first line) for each line added, in the codes' order
  // (after Sort).
  template <typename F>
  void ForEach(F f) const {
    for (size_t i = 0; i < entries_.size(); ++i) {
      f(entries_[i].code, entries_[i].line, i == 0 || entries_[i].code != entries_[i - 1].code);
    }
  }
  // Whether `code` was added on a line for which keep(line) holds.
  template <typename Keep>
  bool Contains(const Code& code, Keep keep) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), Entry{code, 0});
    for (; it != entries_.end() && it->code == code; ++it) {
      if (keep(it->line)) return true;
    }
    return false;
  }

 private:
  struct Entry {
    Code code;
    uint32_t line;
    auto operator<=>(const Entry&) const = default;
  };
  std::vector<Entry> entries_;
};

std::string Field(uint32_t field, const google::protobuf::Message& full) {
  auto fields = SplitFields(full.SerializeAsString());
  auto it = fields->find(field);
  return it == fields->end() ? std::string() : it->second;
}

// The fields to write so that a record follows the register without undoing edits made on
// nodes: a field changes only where the register changed it since its previous import.
Result<Store::ScopedFields> ThreeWay(Store& store, std::string scope, uint32_t entity,
                                     const std::string& key,
                                     const std::optional<Store::RecordState>& state,
                                     const FieldMap& incoming,
                                     const std::vector<uint32_t>& managed) {
  Store::ScopedFields changes{std::move(scope), {}};
  FieldMap& out = changes.fields;
  for (uint32_t f : managed) {
    auto in = incoming.find(f);
    std::string r = in == incoming.end() ? std::string() : in->second;
    if (!state) {
      if (!r.empty()) out[f] = r;
      continue;
    }
    auto cur_it = state->body.find(f);
    std::string cur = cur_it == state->body.end() ? std::string() : cur_it->second;
    if (r == cur) continue;
    if (state->written.count(f) && !state->FromRegister(f)) {
      // What the register said before the node's edit; nothing when it never gave the field a
      // value (an empty column, or none): a register that still gives none changed nothing.
      BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> base,
                             store.GetRegisterBase(entity, key, f));
      if (base.value_or(std::string()) == r) continue;  // unchanged: keep the node's edit
      // Both changed it: the register's value is written beside the node's, not over it, and the
      // merge keeps the one it does not show as a conflict for an officer to resolve.
      changes.unseen.push_back(f);
    }
    out[f] = r;
  }
  return changes;
}

}  // namespace

std::string RegisterColumnsHelp() {
  std::string out =
      "Columns (a header row on the first line, columns in any order, names in any case and "
      "width, * required; others are ignored with a warning):\n";
  for (const ColumnDef& c : kColumns) {
    out += fmt::format("  {:<20}{}\n", std::string(c.name) + (c.required ? " *" : ""),
                       fmt::join(c.aliases, ", "));
  }
  out +=
      "Columns that hold a part of one (joined with a full-width space, the first part first):\n";
  for (const PartDef& p : kParts) {
    out += fmt::format("  {:<20}{}: {}, {} part of {}\n", p.aliases[0],
                       fmt::join(p.aliases.begin() + 1, p.aliases.end(), ", "), p.what,
                       p.part == 0 ? "the first" : "the second", kColumns[p.col].name);
  }
  out +=
      "Rows with every field empty are skipped, with a warning. A value written as a formula of "
      "its text (=\"00123\") is read as that text. A reading in half-width katakana is held in "
      "full-width.\n";
  return out;
}

Indexer ResidentIndexer() {
  return [](uint32_t entity, std::string_view body) {
    IndexColumns ix;
    if (entity != ENTITY_RESIDENT) return ix;
    // Called for each of a million records by a bulk write: reads the five fields it needs
    // from the wire format (the last occurrence of a field counts, as in a parse).
    std::string_view household, name, kana, my_number;
    int64_t birth = 0;
    WireReader reader(body);
    for (WireField f; reader.Next(f);) {
      const bool text = f.wire_type == 2;
      switch (f.number) {
        case v1::Resident::kHouseholdFieldNumber:
          if (text) household = f.bytes;
          break;
        case v1::Resident::kNameFieldNumber:
          if (text) name = f.bytes;
          break;
        case v1::Resident::kNameKanaFieldNumber:
          if (text) kana = f.bytes;
          break;
        case v1::Resident::kBirthDateFieldNumber:
          if (f.wire_type == 0) birth = int32_t(f.varint);
          break;
        case v1::Resident::kMyNumberFieldNumber:
          if (text) my_number = f.bytes;
          break;
        default:
          break;
      }
    }
    if (!reader.error().empty()) return IndexColumns();
    if (!kana.empty()) ix.text = KanaIndexForm(SearchFold(kana));
    if (!name.empty()) ix.text2 = SearchFold(name);
    if (!household.empty()) ix.ref = std::string(household);
    if (birth != 0) ix.num = birth;
    if (!my_number.empty()) {
      auto h = DataKey::LookupHashOf(my_number);
      if (h.ok()) ix.lookup = *h;
    }
    return ix;
  };
}

Result<std::string> ResidentKey(const Node& node, std::string_view id) {
  return RegisterKey(id, node.municipality(), "resident");
}

namespace {

// Whether Ctrl-C (or SIGTERM) asked the import to stop; both passes read it at each row.
bool Cancelled(const ImportOptions& options) {
  return options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed);
}
Status Interrupted() { return Status::Cancelled("interrupted"); }

// Valid rows handed from pass 1 to pass 2 when they overlap, in file order and in batches; at
// most a few batches wait. Either side may stop the other.
class RowQueue {
 public:
  using Batch = std::vector<std::pair<size_t, Row>>;  // (line, row)
  // Pass 1: false when pass 2 has stopped (the rows are not wanted any more).
  bool Push(Batch batch) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return batches_.size() < kMaxBatches || stopped_; });
    if (stopped_) return false;
    batches_.push_back(std::move(batch));
    changed_.notify_all();
    return true;
  }
  // Pass 1, at the end of the file or on an error.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    changed_.notify_all();
  }
  // Pass 2: the next batch, or nothing once pass 1 has closed the queue and all are taken.
  std::optional<Batch> Pop() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return !batches_.empty() || closed_; });
    if (batches_.empty()) return std::nullopt;
    Batch b = std::move(batches_.front());
    batches_.pop_front();
    changed_.notify_all();
    return b;
  }
  // Pass 2 stops early.
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    changed_.notify_all();
  }

 private:
  static constexpr size_t kMaxBatches = 8;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Batch> batches_;
  bool closed_ = false;
  bool stopped_ = false;
};

// What pass 1 of an import finds: every problem of the file, the lines they are on, and the
// households that have a 世帯主 row.
struct Validation {
  std::atomic<bool> found{false};  // set as soon as a row has a problem
  std::atomic<bool> done{false};   // set when the whole file is checked, across rows too
  uint64_t rows = 0;
  uint64_t empty_rows = 0;  // skipped (EmptyRow), the first and the last on these lines
  size_t first_empty_line = 0, last_empty_line = 0;
  std::vector<Problem> problems;
  std::map<size_t, std::string> bad_lines;  // line → reasons
  KeyLines<PackedCode> heads;
};

// Whether every field of REC is empty or blank (spaces, tabs, full-width spaces): a row that a
// spreadsheet keeps below a register (cells formatted, nothing typed) and saves as commas alone.
// It holds no resident, and an import skips it.
bool EmptyRow(const CsvRecord& rec) {
  return std::all_of(rec.fields.begin(), rec.fields.end(),
                     [](const std::string& f) { return IsBlank(f); });
}

// The resident other than KEY who holds, on this node (read through DB), the My Number whose
// keyed hash is HASH, if any. (Prepared once: Prepare caches it.)
Result<std::optional<std::string>> OtherHolderOfMyNumber(Db& db, int64_t hash,
                                                         std::string_view key) {
  Stmt& q = db.Prepare(
      "SELECT r.key FROM record_index i JOIN records r ON r.id = i.record "
      "WHERE i.kind = ? AND i.value = ? AND +r.entity = ? AND r.key <> ?");
  q.Bind(1, int64_t(IndexKind::kLookup)).Bind(2, hash).Bind(3, ENTITY_RESIDENT).Bind(4, key);
  std::optional<std::string> other;
  if (q.Step()) other = std::string(q.Text(0));
  Status st = q.status();
  q.Reset();
  BOSAI_RETURN_IF_ERROR(st);
  return other;
}

// OtherHolderOfMyNumber for the rows of a file, in one snapshot of DB. A file of many rows reads
// the held My Numbers' hashes in one scan of the index (sorted as it is) rather than searching
// the index for each row; its rows are then checked at the end of the file (OtherHolder), when
// the scan of the held codes (FindLostZeros) has found each row's own record: a number is
// another's when a record other than the row's own holds it, found without reading a record.
class HeldMyNumbers {
 public:
  // Scans when ROWS look-ups would cost more than a scan of HELD entries.
  static Result<HeldMyNumbers> Open(Db& db, uint64_t rows, uint64_t held) {
    HeldMyNumbers out(db);
    if (rows < held / 16) return out;  // a search costs about as much as 16 entries scanned
    out.scanned_ = true;
    Stmt& scan =
        db.Prepare("SELECT value, record FROM record_index WHERE kind = ? ORDER BY value, record");
    scan.Bind(1, int64_t(IndexKind::kLookup));
    out.held_.reserve(held);
    while (scan.Step()) out.held_.emplace_back(scan.Int(0), scan.Int(1));
    Status st = scan.status();
    scan.Reset();
    BOSAI_RETURN_IF_ERROR(st);
    return out;
  }

  // Whether rows are checked at the end of the file (OtherHolder) rather than one by one
  // (OtherHolderOfMyNumber).
  bool deferred() const { return scanned_; }

  // The resident whose record is not OWN (none: the row's code is not held) who holds the My
  // Number whose keyed hash is HASH.
  Result<std::optional<std::string>> OtherHolder(int64_t hash, std::optional<int64_t> own) {
    auto it = std::lower_bound(held_.begin(), held_.end(), std::pair<int64_t, int64_t>(hash, 0));
    for (; it != held_.end() && it->first == hash; ++it) {
      if (it->second == own) continue;
      Stmt& q = db_->Prepare("SELECT key FROM records WHERE id = ? AND entity = ?");
      q.Bind(1, it->second).Bind(2, ENTITY_RESIDENT);
      std::optional<std::string> other;
      if (q.Step()) other = std::string(q.Text(0));
      Status st = q.status();
      q.Reset();
      BOSAI_RETURN_IF_ERROR(st);
      if (other) return other;
    }
    return std::optional<std::string>();
  }

 private:
  explicit HeldMyNumbers(Db& db) : db_(&db) {}
  Db* db_;
  bool scanned_ = false;
  std::vector<std::pair<int64_t, int64_t>> held_;  // (keyed hash, record), sorted
};

// Finds the resident codes of the file that the store holds with more or fewer leading zeros
// but not as written: a spreadsheet that read the codes as numbers dropped their zeros (or did
// so to the file of an earlier import). Imported, each would be a second resident. One scan of
// the held codes beside the file's sorted ones finds the codes not held; only those are looked
// up again, padded or stripped. With HELD_LINES, the scan also notes (line, record) for each line
// whose code is held, in the order of the codes.
Status FindLostZeros(Node& node, Db& held, const KeyLines<PackedCode>& codes, const Header& header,
                     RowValidator& validator, Validation* v,
                     std::vector<std::pair<uint32_t, int64_t>>* held_lines = nullptr) {
  const std::string prefix = node.municipality() + ":";
  std::vector<std::pair<std::string, uint32_t>> unheld;  // all-digit codes, first lines
  size_t longest = 0;                                    // of the codes held
  Stmt& scan = held.Prepare(
      "SELECT key, record FROM record_keys WHERE entity = ? AND key > ? AND key < ? "
      "ORDER BY key");
  scan.Bind(1, ENTITY_RESIDENT).Bind(2, prefix).Bind(3, prefix + "\x7f");
  bool more = scan.Step();
  auto held_code = [&] { return scan.Text(0).substr(prefix.size()); };
  codes.ForEach([&](const PackedCode& packed, uint32_t line, bool first) {
    const std::string code = packed.Text();
    for (; more && held_code() < code; more = scan.Step()) {
      longest = std::max(longest, held_code().size());
    }
    const bool is_held = more && held_code() == code;
    if (is_held && held_lines) held_lines->emplace_back(line, scan.Int(1));
    if (first && !is_held && AllDigits(code)) unheld.emplace_back(code, line);
  });
  for (; more; more = scan.Step()) longest = std::max(longest, held_code().size());
  Status scanned = scan.status();
  scan.Reset();
  BOSAI_RETURN_IF_ERROR(scanned);

  Stmt& find = held.Prepare("SELECT 1 FROM record_keys WHERE entity = ? AND key = ?");
  for (const auto& [code, line] : unheld) {
    const size_t zeros = code.find_first_not_of('0');
    if (zeros == std::string_view::npos) continue;
    const std::string_view digits = std::string_view(code).substr(zeros);
    for (size_t width = digits.size(); width <= longest; ++width) {
      std::string other = std::string(width - digits.size(), '0').append(digits);
      if (other == code) continue;
      find.Bind(1, ENTITY_RESIDENT).Bind(2, prefix + other);
      const bool hit = find.Step();
      Status found = find.status();
      find.Reset();
      BOSAI_RETURN_IF_ERROR(found);
      if (hit) {
        validator.Add(
            &v->problems, line, header.index[kResidentCode] + 1, "resident_code",
            fmt::format("{} is not held, but {}{} is: are leading zeros lost by a spreadsheet? "
                        "(export the register again, or set the column's cells to text before "
                        "saving)",
                        code, prefix, other));
        break;
      }
    }
  }
  return Status::Ok();
}

// Pass 1: validates every row of the file; writes nothing. My Numbers already held by other
// residents (of HELD_RESIDENTS) are looked up through `held`, in one snapshot; without it (a
// store holding no residents) the store is not read. With `rows`, every valid row also goes to pass
// 2 through it, until the first problem; pass 1 then runs on a thread of its own, with a connection
// of its own as `held`, beside pass 2's writes.
Status ValidateFile(Node& node, const ImportOptions& options, const std::string& read_path,
                    Encoding encoding, const Header& header, Db* held, uint64_t held_residents,
                    Validation* v, RowQueue* rows = nullptr) {
  const std::string& path = options.path;
  constexpr size_t kBatchRows = 1024;
  RowQueue::Batch batch;
  BOSAI_ASSIGN_OR_RETURN(auto reader, CsvReader::Open(read_path, encoding, path));
  CsvRecord rec;
  BOSAI_ASSIGN_OR_RETURN(bool has_header, reader->Next(&rec));
  (void)has_header;
  RowValidator validator(path, header, node);
  KeyLines<PackedCode> codes;
  KeyLines<uint64_t> numbers;
  CodeSet households;  // of the rows handed over
  auto note_problems = [&](size_t from) {
    for (size_t i = from; i < v->problems.size(); ++i) {
      std::string& reasons = v->bad_lines[v->problems[i].line];
      reasons += (reasons.empty() ? "" : "; ") + v->problems[i].text.substr(path.size() + 1);
    }
  };
  uint64_t last_progress = 0;
  std::optional<ReadSnapshot> snapshot;  // not one read transaction per row
  std::optional<HeldMyNumbers> numbers_held;
  if (held) {
    snapshot.emplace(*held);
    // Rows of a register take more than 100 bytes each.
    BOSAI_ASSIGN_OR_RETURN(numbers_held,
                           HeldMyNumbers::Open(*held, reader->file_size() / 100, held_residents));
  }
  auto taken = [&](uint32_t line, std::string_view other) {
    validator.Add(&v->problems, line, header.index[kMyNumberCol] + 1, "my_number",
                  fmt::format("already registered to resident {}", other));
  };
  std::vector<std::pair<uint32_t, int64_t>> numbers_to_check;  // (line, keyed hash), deferred
  Row row;
  while (true) {
    if (Cancelled(options)) return Interrupted();
    BOSAI_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    if (EmptyRow(rec)) {
      if (v->empty_rows++ == 0) v->first_empty_line = rec.line;
      v->last_empty_line = rec.line;
      continue;
    }
    ++v->rows;
    row = Row();
    size_t before = v->problems.size();
    bool valid = validator.Validate(rec, &row, &v->problems);
    // Repeats are found among every well-formed code, whatever else is wrong with its row.
    if (auto code = PackedCode::Of(row.resident_code)) codes.Add(*code, uint32_t(rec.line));
    if (!row.my_number.empty()) numbers.Add(std::stoull(row.my_number), uint32_t(rec.line));
    if (valid) {
      if (!row.my_number.empty() && held) {
        // Already held by another resident on this node?
        const int64_t hash = node.data_key()->LookupHash("mynumber", row.my_number);
        if (numbers_held->deferred()) {
          numbers_to_check.emplace_back(uint32_t(rec.line), hash);
        } else {
          BOSAI_ASSIGN_OR_RETURN(
              std::optional<std::string> other,
              OtherHolderOfMyNumber(*held, hash, node.municipality() + ":" + row.resident_code));
          if (other) taken(uint32_t(rec.line), *other);
        }
      }
      if (auto household = PackedCode::Of(row.household_code); household && row.head) {
        v->heads.Add(*household, uint32_t(rec.line));
      }
    }
    note_problems(before);
    if (v->problems.size() > before) v->found.store(true, std::memory_order_relaxed);
    if (rows && !v->found.load(std::memory_order_relaxed)) {
      row.Prepare(node, &households);
      batch.emplace_back(rec.line, std::move(row));
      if (batch.size() == kBatchRows && !rows->Push(std::exchange(batch, {}))) rows = nullptr;
    }
    if (options.progress && reader->bytes_read() - last_progress > (4u << 20)) {
      last_progress = reader->bytes_read();
      // Overlapping passes show as one: rows are written as soon as they are read here.
      options.progress(rows ? 2 : 1, reader->bytes_read(), reader->file_size());
    }
  }
  if (rows && !v->found.load(std::memory_order_relaxed) && !batch.empty()) {
    rows->Push(std::move(batch));
  }
  // Pass 2 may end its write while the checks across rows below run.
  if (rows) rows->Close();
  households = {};
  codes.Sort();
  numbers.Sort();
  v->heads.Sort();
  // The repeated My Numbers, before the check of the held ones: the file's numbers are freed
  // first (a register's take as much memory as that check).
  std::vector<std::pair<uint32_t, uint32_t>> repeated_numbers;  // (line, first line)
  numbers.ForEachRepeat(
      [&](uint32_t line, uint32_t first) { repeated_numbers.emplace_back(line, first); });
  numbers = {};
  size_t before = v->problems.size();
  if (held) {
    std::vector<std::pair<uint32_t, int64_t>> held_lines;  // (line, record of its code)
    BOSAI_RETURN_IF_ERROR(FindLostZeros(node, *held, codes, header, validator, v,
                                        numbers_to_check.empty() ? nullptr : &held_lines));
    // The deferred My Numbers, in file order, each beside the record of its row's code.
    std::sort(held_lines.begin(), held_lines.end());
    auto own = held_lines.begin();
    for (const auto& [line, hash] : numbers_to_check) {
      while (own != held_lines.end() && own->first < line) ++own;
      std::optional<int64_t> record;
      if (own != held_lines.end() && own->first == line) record = own->second;
      BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> other,
                             numbers_held->OtherHolder(hash, record));
      if (other) taken(line, *other);
    }
    numbers_to_check = {};
  }
  codes.ForEachRepeat([&](uint32_t line, uint32_t first) {
    validator.Add(&v->problems, line, header.index[kResidentCode] + 1, "resident_code",
                  fmt::format("duplicate of line {}", first));
  });
  for (const auto& [line, first] : repeated_numbers) {
    validator.Add(&v->problems, line, header.index[kMyNumberCol] + 1, "my_number",
                  fmt::format("the same number as line {}", first));
  }
  v->heads.ForEachRepeat([&](uint32_t line, uint32_t first) {
    validator.Add(&v->problems, line, header.index[kRelationship] + 1, "relationship",
                  fmt::format("a second 世帯主 in the household (first on line {})", first));
  });
  note_problems(before);
  std::stable_sort(v->problems.begin(), v->problems.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  v->done.store(true, std::memory_order_release);
  return Status::Ok();
}

// Reports pass 1's problems; true when the import must stop with nothing imported.
bool Report(const Validation& v, const ImportOptions& options, ImportReport* report) {
  report->rows = v.rows;
  if (v.empty_rows == 1) {
    report->warnings.push_back(fmt::format("{}:{}: skipped a row with every field empty",
                                           options.path, v.first_empty_line));
  } else if (v.empty_rows > 1) {
    report->warnings.push_back(
        fmt::format("{}:{}: skipped {} rows with every field empty (the last on line {})",
                    options.path, v.first_empty_line, v.empty_rows, v.last_empty_line));
  }
  report->problem_count = v.problems.size();
  for (size_t i = 0; i < v.problems.size() && i < kMaxProblemsShown; ++i) {
    report->problems.push_back(v.problems[i].text);
  }
  report->rejected = v.bad_lines.size();
  return !v.problems.empty() && !options.rejects_path;
}

// What an import can tell before it reads the file through: options that go ill together, a
// rejects file it may not write, a store that cannot be written.
Status CheckBeforeReading(Node& node, const ImportOptions& options) {
  if (options.dry_run && (options.check_only || options.rejects_path)) {
    return Status::Invalid("a dry run neither only checks nor skips invalid rows");
  }
  if (options.rejects_path) {
    BOSAI_RETURN_IF_ERROR(CheckOutputPath(node, *options.rejects_path, options.path));
  }
  if (options.check_only) return Status::Ok();
  return node.store().db().CheckWritable().WithNote("nothing was imported");
}

// ImportResidents of the file at READ_PATH, which OPTIONS.path names in what it says, once
// CheckBeforeReading has passed.
Result<ImportReport> ImportFile(Node& node, const ImportOptions& options,
                                const std::string& read_path) {
  ImportReport report;
  Store& store = node.store();
  const std::string& path = options.path;

  BOSAI_ASSIGN_OR_RETURN(auto reader, CsvReader::Open(read_path, options.encoding, path));
  report.encoding = reader->encoding();
  const bool input_bom = reader->has_bom();
  CsvRecord rec;
  BOSAI_ASSIGN_OR_RETURN(bool any, reader->Next(&rec));
  if (!any) return Status::Invalid(fmt::format("{}: empty file: a header row is required", path));
  Result<Header> parsed_header = ParseHeader(path, rec, &report.warnings);
  if (!parsed_header.ok()) return HeaderFurtherDown(path, *reader, parsed_header.status());
  Header header = std::move(parsed_header).value();
  const bool dry = options.dry_run;
  RowValidator validator(path, header, node);
  BOSAI_ASSIGN_OR_RETURN(uint64_t existing, CountResidents(node));
  const bool fresh = existing == 0;
  BOSAI_ASSIGN_OR_RETURN(uint64_t existing_households, store.CountRecords(ENTITY_HOUSEHOLD));
  const bool fresh_households = existing_households == 0;

  // A first import of a large file runs as one transaction with the indexes built at the end;
  // otherwise each batch of rows is one durable transaction once the file is known to be valid
  // (below), so an interrupted import keeps the batches committed by then. Either way a kill
  // leaves a consistent store and a re-run converges.
  const bool bulk = !dry && fresh && fresh_households && reader->file_size() > (8u << 20);
  // A re-import reads each resident's record once: a large page cache would keep them for
  // nothing (a bulk write makes its own small).
  std::optional<Store::SmallCache> small_cache;
  if (!fresh) small_cache.emplace(store.db());
  // Unless invalid rows are to be skipped (which needs every problem of the file first), pass 1
  // (validation) runs on a second thread beside pass 2 (writing). Pass 2 commits nothing until
  // pass 1 has found the whole file valid: if it finds a problem, the open transaction is rolled
  // back and nothing is imported. Pass 1 runs at most RowQueue::kMaxBatches batches ahead, so
  // the first commit comes near the end of the file. Households whose 世帯主 row is not yet seen
  // wait for the end of the file.
  const bool overlap = !options.rejects_path && !options.check_only && !dry;
  Validation validation;
  Status validated;
  std::thread pass1;
  RowQueue rows;
  struct Joiner {  // whatever way this function returns
    std::thread& t;
    RowQueue& rows;
    ~Joiner() {
      rows.Stop();
      if (t.joinable()) t.join();
    }
  } joiner{pass1, rows};
  if (overlap) {
    pass1 = std::thread([&] {
      std::unique_ptr<Db> held;  // pass 2 writes through the store's own connection
      if (!fresh) {
        auto opened = Db::Open(store.path(), /*read_only=*/true);
        if (!opened.ok()) {
          validated = opened.status();
          rows.Close();
          return;
        }
        held = std::move(opened).value();
        // Its random lookups gain little from a large cache; the writer's needs it.
        validated = held->Exec("PRAGMA cache_size=-8192");
      }
      if (validated.ok()) {
        validated = ValidateFile(node, options, read_path, report.encoding, header, held.get(),
                                 existing, &validation, &rows);
      }
      rows.Close();
    });
  } else {
    Status validated_all = ValidateFile(node, options, read_path, report.encoding, header,
                                        fresh ? nullptr : &store.db(), existing, &validation);
    if (!validated_all.ok()) return validated_all.WithNote("nothing was imported");
    if (Report(validation, options, &report)) return report;  // nothing imported
    if (options.check_only) return report;
    validation.problems.clear();
    validation.problems.shrink_to_fit();
  }
  auto join_pass1 = [&]() -> Status {
    if (!pass1.joinable()) return Status::Ok();
    rows.Stop();  // pass 1 may be waiting to hand over rows no one takes any more
    pass1.join();
    return validated;
  };

  // ---- Pass 2: write valid rows in batches; each batch is one durable transaction.
  // The rejected rows as they were (but for an apostrophe before a field a spreadsheet would
  // run as a formula), after their line and reason, for the spreadsheet the file came from, to
  // mend them and import them again: in CP932 when the file was, else in UTF-8,
  // after a byte order mark when the file had one. The file appears when the import ends.
  std::unique_ptr<CsvWriter> rejects;
  if (options.rejects_path) {
    std::vector<std::string> columns = {"line", "reason"};
    columns.insert(columns.end(), header.names.begin(), header.names.end());
    const bool cp932 = report.encoding == Encoding::kCp932;
    // (Its owner's alone: the rows hold their My Numbers as the register did.)
    BOSAI_ASSIGN_OR_RETURN(
        rejects,
        CsvWriter::Create(*options.rejects_path, cp932 ? Encoding::kCp932 : Encoding::kUtf8,
                          std::move(columns), !cp932 && input_bom, true));
  }
  if (!overlap) {  // else pass 1 hands over the rows
    BOSAI_ASSIGN_OR_RETURN(reader, CsvReader::Open(read_path, report.encoding, path));
    BOSAI_ASSIGN_OR_RETURN(bool has_header, reader->Next(&rec));
    (void)has_header;
  }

  std::vector<uint32_t> resident_fields;
  auto manage = [&](Col c, uint32_t field) {
    if (header.has(c)) resident_fields.push_back(field);
  };
  resident_fields.push_back(v1::Resident::kHouseholdFieldNumber);
  resident_fields.push_back(v1::Resident::kNameFieldNumber);
  resident_fields.push_back(v1::Resident::kFlagsFieldNumber);
  manage(kNameKana, v1::Resident::kNameKanaFieldNumber);
  resident_fields.push_back(v1::Resident::kBirthDateFieldNumber);
  resident_fields.push_back(v1::Resident::kSexFieldNumber);
  manage(kRelationship, v1::Resident::kRelationshipFieldNumber);
  manage(kPostalCode, v1::Resident::kPostalCodeFieldNumber);
  manage(kAddress, v1::Resident::kAddressFieldNumber);
  manage(kPhone, v1::Resident::kPhoneFieldNumber);
  manage(kResidentSince, v1::Resident::kResidentSinceFieldNumber);
  manage(kStatus, v1::Resident::kStatusFieldNumber);
  std::sort(resident_fields.begin(), resident_fields.end());
  std::vector<uint32_t> household_fields;
  if (header.has(kRelationship)) household_fields.push_back(v1::Household::kHeadFieldNumber);
  if (header.has(kAddress)) household_fields.push_back(v1::Household::kAddressFieldNumber);
  if (header.has(kPostalCode)) household_fields.push_back(v1::Household::kPostalCodeFieldNumber);
  // Written from a row that is not its 世帯主's, a household's head is left as it is, and so is
  // its address when it has a head: a partial register without that row says nothing of them.
  std::vector<uint32_t> household_fields_but_head = household_fields;
  constexpr uint32_t kHeadField = v1::Household::kHeadFieldNumber;
  std::erase(household_fields_but_head, kHeadField);
  const std::vector<uint32_t> my_number_fields = {kMyNumber};
  // A household is written from its 世帯主 row, or from its first row when it has none. While
  // pass 1 runs beside, those seen without a 世帯主 row so far wait (with their first row's
  // fields) for the end of the file.
  CodeSet households;                                     // of the rows prepared here
  std::map<std::string, std::string> households_waiting;  // code → fields (Row::household)
  // Lists the fields of a resident's CHANGES that both the register and a node changed (the
  // first few).
  auto list_conflicts = [&](const std::string& key, const std::optional<Store::RecordState>& state,
                            const Store::ScopedFields& changes) {
    constexpr uint32_t entity = ENTITY_RESIDENT;
    report.conflicts += changes.unseen.size();
    for (uint32_t f : changes.unseen) {
      if (report.conflicts_listed.size() >= kMaxConflictsListed) break;
      auto value = [&](const FieldMap& m) {
        auto it = m.find(f);
        return RenderField(entity, f, it == m.end() ? std::string() : it->second, node.data_key(),
                           false);
      };
      report.conflicts_listed.push_back(
          fmt::format("{} {}: the register's \"{}\", the node's \"{}\"", key, FieldName(entity, f),
                      value(changes.fields), value(state->body)));
    }
  };
  // Households the file gives no 世帯主 row and the node no 世帯主 (with a relationship column):
  // how many, and the first.
  uint64_t headless = 0;
  std::string first_headless;
  auto count_headless = [&](const std::string& hkey) {
    if (headless++ == 0) first_headless = hkey;
  };
  auto write_household = [&](const std::string& code, const std::string& fields,
                             bool from_head) -> Status {
    std::string hkey = node.municipality() + ":" + code;
    if (fresh_households) {  // the row gives exactly the fields the register manages
      if (!from_head) count_headless(hkey);
      return store.PutNew(ENTITY_HOUSEHOLD, hkey, {{node.scope(), fields}}, v1::OP_SOURCE_REGISTER);
    }
    BOSAI_ASSIGN_OR_RETURN(FieldMap split, SplitFields(fields));
    BOSAI_ASSIGN_OR_RETURN(std::optional<Store::RecordState> state,
                           store.GetRecord(ENTITY_HOUSEHOLD, hkey));
    if (!from_head && !(state && state->body.count(kHeadField))) count_headless(hkey);
    BOSAI_ASSIGN_OR_RETURN(
        Store::ScopedFields changes,
        ThreeWay(store, node.scope(), ENTITY_HOUSEHOLD, hkey, state, split,
                 from_head                                ? household_fields
                 : state && state->body.count(kHeadField) ? std::vector<uint32_t>()
                                                          : household_fields_but_head));
    // A household's head, address and postal code are its residents': where both the register
    // and a node changed one, the register's is written over the node's, for the conflict is the
    // residents' (the 世帯主's address, or who is 世帯主), kept and listed there.
    changes.unseen.clear();
    return store.PutScoped(ENTITY_HOUSEHOLD, hkey, {std::move(changes)}, v1::OP_SOURCE_REGISTER);
  };

  // A resident already held: the register's changes since its previous import, in each scope
  // (one read of the record serves both).
  auto update_resident = [&](const Row& row) -> Status {
    BOSAI_ASSIGN_OR_RETURN(FieldMap fields, SplitFields(row.fields));
    BOSAI_ASSIGN_OR_RETURN(std::optional<Store::RecordState> state,
                           store.GetRecord(ENTITY_RESIDENT, row.key));
    std::vector<Store::ScopedFields> groups;
    BOSAI_ASSIGN_OR_RETURN(
        Store::ScopedFields main,
        ThreeWay(store, node.scope(), ENTITY_RESIDENT, row.key, state, fields, resident_fields));
    list_conflicts(row.key, state, main);
    groups.push_back(std::move(main));
    if (header.has(kMyNumberCol)) {
      FieldMap mn;
      if (!row.sealed.empty()) mn[kMyNumber] = row.sealed;
      BOSAI_ASSIGN_OR_RETURN(Store::ScopedFields sensitive,
                             ThreeWay(store, node.my_number_scope(), ENTITY_RESIDENT, row.key,
                                      state, mn, my_number_fields));
      list_conflicts(row.key, state, sensitive);
      groups.push_back(std::move(sensitive));
    }
    return store.PutScoped(ENTITY_RESIDENT, row.key, groups, v1::OP_SOURCE_REGISTER);
  };

  const uint64_t rows_per_commit = bulk || dry ? UINT64_MAX : kRowsPerCommit;
  // Beside pass 1, a batch is committed only once the whole file is known to be valid.
  auto may_commit = [&] {
    return !overlap ||
           (validation.done.load(std::memory_order_acquire) && validation.problems.empty());
  };
  uint64_t in_batch = 0;
  uint64_t committed = 0;  // rows of the file whose writes are committed
  uint64_t last_progress = 0;
  bool bulk_ended = false;
  auto begin = [&]() -> Status {
    BOSAI_RETURN_IF_ERROR(store.BeginWrite(node.author()));
    return bulk ? store.BeginBulk() : Status::Ok();
  };
  auto commit = [&]() -> Status {
    if (bulk && !bulk_ended) BOSAI_RETURN_IF_ERROR(store.EndBulk());
    report.ops += store.pending_ops();
    BOSAI_RETURN_IF_ERROR(store.CommitWrite());
    in_batch = 0;
    committed = report.imported;
    return Status::Ok();
  };
  // A first import is one large transaction: its pages are written once rather than twice when
  // this process has the store to itself (Store::UseRollbackJournal).
  struct Journal {
    Store& store;
    bool on;
    ~Journal() {
      if (on && !store.writing()) (void)store.RestoreWal();  // else the next open restores it
    }
  } journal{store, bulk && store.UseRollbackJournal()};
  Status st;
  Row row;
  bool invalid_seen = false;  // overlap: a row pass 1 will report
  RowQueue::Batch handed;     // from pass 1
  size_t next = 0;
  while (st.ok()) {
    if (Cancelled(options)) {
      st = Interrupted();
      break;
    }
    if (overlap) {
      if (next == handed.size()) {
        auto batch = rows.Pop();
        if (!batch) break;  // the end of the file, or pass 1 stopped at a problem
        handed = std::move(*batch);
        next = 0;
      }
      if (validation.found.load(std::memory_order_relaxed)) {
        invalid_seen = true;  // pass 1 reports it; writing on is wasted
        break;
      }
      row = std::move(handed[next++].second);
    } else {
      auto more = reader->Next(&rec);
      if (!more.ok()) {
        st = more.status();
        break;
      }
      if (!*more) break;
      if (EmptyRow(rec)) continue;  // pass 1 counted it
      auto bad = validation.bad_lines.find(rec.line);
      if (bad != validation.bad_lines.end()) {
        std::vector<std::string> fields = {std::to_string(rec.line), bad->second};
        for (const std::string& f : rec.fields) {
          // Not run by the spreadsheet that opens the rejects: an apostrophe before it.
          fields.push_back(FormulaStart(f).empty() ? f : "'" + f);
        }
        st = rejects->WriteAsRead(fields).WithContext(*options.rejects_path);
        if (!st.ok()) break;
        continue;
      }
      std::vector<Problem> again;
      row = Row();
      if (!validator.Validate(rec, &row, &again)) {
        st = Status::Invalid(
            fmt::format("{}:{}: the file changed during the import", path, rec.line));
        break;
      }
      row.Prepare(node, &households);
    }
    if (in_batch == 0) {
      st = begin();
      if (!st.ok()) break;
    }
    ++report.imported;
    const std::string& key = row.key;
    uint64_t ops_before = store.pending_ops();

    // My Number goes to its own scope (DESIGN §5): same record, separate op.
    if (fresh) {  // row.fields holds exactly the fields the register manages
      st = store.PutNew(ENTITY_RESIDENT, key,
                        {{node.scope(), row.fields}, {node.my_number_scope(), row.sealed}},
                        v1::OP_SOURCE_REGISTER);
    } else {
      st = update_resident(row);
    }
    // The household: from its 世帯主 row, or from its first row when it has none.
    if (st.ok() && !household_fields.empty()) {
      if (row.head) {
        if (!households_waiting.empty()) households_waiting.erase(row.household_code);
        st = write_household(row.household_code, row.household, /*from_head=*/true);
      } else if (row.first_in_household) {
        if (overlap) {
          households_waiting.emplace(row.household_code, std::move(row.household));
        } else {
          // (A valid row's household code is a register code.)
          auto household = PackedCode::Of(row.household_code).value_or(PackedCode{});
          auto head_written = [&](uint32_t line) {
            return !validation.bad_lines.count(line);  // a rejected 世帯主 writes nothing
          };
          if (!validation.heads.Contains(household, head_written)) {
            st = write_household(row.household_code, row.household, /*from_head=*/false);
          }
        }
      }
    }
    if (store.pending_ops() > ops_before) ++report.changed;
    if (st.ok() && ++in_batch >= rows_per_commit && may_commit()) st = commit();
    if (!overlap && options.progress && reader->bytes_read() - last_progress > (4u << 20)) {
      last_progress = reader->bytes_read();
      options.progress(2, reader->bytes_read(), reader->file_size());
    }
  }
  if (st.ok() && Cancelled(options)) st = Interrupted();  // pass 1 may have stopped first
  if (overlap) {
    // Every row is written: the households without a 世帯主 row follow, and the bulk write
    // builds its indexes while pass 1 checks across rows (repeated codes and numbers).
    Status ended;
    if (st.ok() && !invalid_seen && !validation.found.load(std::memory_order_relaxed)) {
      if (!households_waiting.empty() && in_batch == 0) st = begin();
      for (auto it = households_waiting.begin(); st.ok() && it != households_waiting.end(); ++it) {
        st = write_household(it->first, it->second, /*from_head=*/false);
        ++in_batch;
      }
      if (st.ok() && bulk && in_batch > 0) {
        ended = store.EndBulk();
        bulk_ended = true;
      }
    }
    Status v = join_pass1();
    if (st.ok()) st = v;
    // Pass 1's problems come first: a repeated key also fails the end of the bulk write.
    if (st.ok() && Report(validation, options, &report)) {
      if (store.writing()) store.AbortWrite();  // nothing imported
      report.imported = report.changed = report.ops = report.conflicts = 0;
      report.conflicts_listed.clear();
      return report;
    }
    if (st.ok()) st = ended;
    if (st.ok() && invalid_seen) {
      st = Status::Invalid(fmt::format("{}: the file changed during the import", path));
    }
  }
  if (st.ok() && dry) {
    report.ops = store.pending_ops();
    if (store.writing()) store.AbortWrite();  // what it would do, and nothing kept
    return report;
  }
  if (st.ok() && in_batch > 0) st = commit();
  if (!st.ok()) {
    if (store.writing()) store.AbortWrite();
    if (committed == 0) return st.WithNote("nothing was imported");
    return st.WithNote(fmt::format(
        "the file's first {} rows were imported before it, and importing the file again "
        "completes the import",
        committed));
  }
  if (rejects) BOSAI_RETURN_IF_ERROR(rejects->Close());
  if (headless > 0 && header.has(kRelationship)) {
    const bool one = headless == 1;
    report.warnings.push_back(fmt::format(
        "{}: {} no 世帯主 (relationship 世帯主), in the file or on this node (the first: {}): "
        "`bosai conflicts list` lists {}",
        path, one ? "a household has" : fmt::format("{} households have", headless), first_headless,
        one ? "it" : "them"));
  }
  return report;
}

}  // namespace

Result<ImportReport> ImportResidents(Node& node, const ImportOptions& options) {
  ImportOptions named = options;
  named.path = InputName(options.path);  // "standard input" for "-"
  BOSAI_RETURN_IF_ERROR(CheckBeforeReading(node, named));
  if (options.path != "-") return ImportFile(node, named, named.path);
  // Read more than once (its encoding, its rows, and again when invalid rows are skipped): a
  // copy of what comes in, made once what needs no file is known to be right.
  BOSAI_ASSIGN_OR_RETURN(SpooledInput spooled, SpooledInput::FromStandardInput());
  return ImportFile(node, named, spooled.path());
}

Result<std::optional<ResidentRecord>> GetResident(Node& node, std::string_view key) {
  BOSAI_ASSIGN_OR_RETURN(auto body, node.store().GetBody(ENTITY_RESIDENT, key));
  if (!body) return std::optional<ResidentRecord>();
  ResidentRecord r{std::string(key), {}};
  if (!r.resident.ParseFromString(*body)) {
    return Status::Corruption(fmt::format("resident {} is damaged", key));
  }
  return std::optional<ResidentRecord>(std::move(r));
}

Result<std::vector<ResidentRecord>> SearchResidents(Node& node, const ResidentQuery& q) {
  // One condition walks its entries of record_index (kana first, then My Number, then birth
  // date); the others look up the entries of the records found. A name alone scans.
  std::vector<std::string> where;
  std::vector<std::function<void(Stmt&, int)>> binds;
  std::optional<IndexKind> walk;
  std::string order = "r.key";
  // An entry of `kind` equal to the next bound value: walked, or looked up for each record.
  auto equal_to = [&](IndexKind kind, bool walk_it) {
    if (walk_it) {
      walk = kind;
      where.push_back("i.value = ?");
    } else {
      where.push_back(fmt::format(
          "EXISTS(SELECT 1 FROM record_index x WHERE x.kind = {} AND x.value = ? AND x.record = "
          "r.id)",
          int64_t(kind)));
    }
  };
  if (q.kana) {
    std::string k = SearchFold(*q.kana);
    if (k.empty()) return Status::Invalid("--kana is empty");
    if (!IsKanaText(*q.kana))
      return Status::Invalid(fmt::format("--kana \"{}\" is not kana", *q.kana));
    // A store indexed before the compact form, opened to read only, holds the search form.
    BOSAI_ASSIGN_OR_RETURN(std::optional<uint64_t> indexed, node.store().IndexedBy());
    if (indexed >= kCompactKanaIndexerVersion) k = KanaIndexForm(k);
    walk = IndexKind::kText;
    where.push_back("i.value >= ? AND i.value < ?");
    binds.push_back([k](Stmt& s, int i) { s.Bind(i, k); });
    binds.push_back([k](Stmt& s, int i) { s.Bind(i, k + "\xF4\x8F\xBF\xBF"); });
    order = "i.value, r.key";
  }
  if (q.name) {
    std::string n = SearchFold(*q.name);
    if (n.empty()) return Status::Invalid("--name is empty");
    where.push_back("instr(r.idx_text2, ?) > 0");
    binds.push_back([n](Stmt& s, int i) { s.Bind(i, n); });
  }
  if (q.birth) {
    auto d = ParseDate(*q.birth);
    if (!d.ok()) return d.status().WithContext("--birth");
    equal_to(IndexKind::kNum, !walk && !q.my_number);
    binds.push_back([v = *d](Stmt& s, int i) { s.Bind(i, int64_t(v)); });
  }
  std::string sealed;
  if (q.my_number) {
    std::string digits;
    for (char c : NarrowAscii(*q.my_number)) {
      if (c != ' ' && c != '-') digits.push_back(c);
    }
    BOSAI_RETURN_IF_ERROR(ValidateMyNumber(digits).WithContext("--my-number"));
    if (!node.data_key())
      return Status::Invalid("this node holds no data key: it cannot look up My Number");
    sealed = node.data_key()->Seal("mynumber", digits);
    equal_to(IndexKind::kLookup, !walk);
    binds.push_back([h = *DataKey::LookupHashOf(sealed)](Stmt& s, int i) { s.Bind(i, h); });
  }
  std::string household;
  if (q.household) {
    auto id = RegisterKey(*q.household, node.municipality(), "household");
    if (!id.ok()) return id.status().WithContext("--household");
    household = std::move(id).value();
    equal_to(IndexKind::kRef, !walk);
    binds.push_back([v = RefValue(household)](Stmt& s, int i) { s.Bind(i, v); });
  }
  if (binds.empty()) {
    return Status::Invalid(
        "give at least one of --kana, --name, --birth, --my-number, --household");
  }
  if (q.limit == 0 || q.limit > kMaxSearchLimit) {
    return Status::Invalid(fmt::format("--limit must be 1 to {}", kMaxSearchLimit));
  }
  std::string sql =
      walk ? fmt::format(
                 "SELECT r.key, record_body(r.body, r.key) FROM record_index i JOIN records r "
                 "ON r.id = i.record WHERE i.kind = {} AND +r.entity = ?",
                 int64_t(*walk))
           : std::string(
                 "SELECT r.key, record_body(r.body, r.key) FROM records r WHERE r.entity = ?");
  for (const std::string& w : where) sql += " AND " + w;
  sql += " ORDER BY " + order + " LIMIT ?";
  BOSAI_ASSIGN_OR_RETURN(Stmt s, node.store().db().PrepareOnce(sql));
  s.Bind(1, ENTITY_RESIDENT);
  int i = 2;
  for (auto& b : binds) b(s, i++);
  s.Bind(i, int64_t(q.limit));
  std::vector<ResidentRecord> out;
  while (s.Step()) {
    ResidentRecord r{std::string(s.Text(0)), {}};
    std::string_view body = s.Blob(1);
    if (!r.resident.ParseFromArray(body.data(), int(body.size()))) {
      return Status::Corruption(fmt::format("resident {} is damaged", r.key));
    }
    if (!sealed.empty() && r.resident.my_number() != sealed) continue;        // hash collision
    if (!household.empty() && r.resident.household() != household) continue;  // the same
    out.push_back(std::move(r));
  }
  BOSAI_RETURN_IF_ERROR(s.status());
  if (!household.empty()) {
    auto order = [](const ResidentRecord& r) {
      return std::tuple(!HeadsHousehold(r.resident),
                        r.resident.status() != v1::RESIDENT_STATUS_RESIDENT,
                        r.resident.birth_date(), std::string_view(r.key));
    };
    std::sort(out.begin(), out.end(), [&](const ResidentRecord& a, const ResidentRecord& b) {
      return order(a) < order(b);
    });
  }
  return out;
}

namespace {

// ExportResidents; WRITER is the file's, once made.
Result<ExportReport> WriteExport(Node& node, const ExportOptions& options,
                                 std::unique_ptr<CsvWriter>& writer) {
  BOSAI_RETURN_IF_ERROR(CheckOutputPath(node, options.path));
  if (options.reveal_my_number && !node.data_key()) {
    return Status::Invalid("this node holds no data key: it cannot read My Number");
  }
  // Without My Numbers the file has no my_number column at all (an empty one would read back as
  // every My Number cleared): the columns it has, by their index in kColumns.
  std::vector<size_t> written;
  std::vector<std::string> columns;
  for (size_t i = 0; i < kNumCols; ++i) {
    if (i == kMyNumberCol && !options.reveal_my_number) continue;
    written.push_back(i);
    columns.emplace_back(kColumns[i].name);
  }
  BOSAI_ASSIGN_OR_RETURN(writer,
                         CsvWriter::Create(options.path, options.encoding, columns, options.bom,
                                           /*secret=*/options.reveal_my_number));
  Db& db = node.store().db();
  ReadSnapshot snapshot(db);
  BOSAI_ASSIGN_OR_RETURN(uint64_t total, CountResidents(node));
  BOSAI_ASSIGN_OR_RETURN(
      Stmt q, db.PrepareOnce("SELECT key, record_body(body, key) FROM records WHERE entity = ? "
                             "ORDER BY id"));
  q.Bind(1, ENTITY_RESIDENT);
  ExportReport report;
  v1::Resident r;
  std::vector<std::string> fields(kNumCols), line(written.size());
  const std::string prefix = node.municipality() + ":";
  auto code = [&](std::string_view id) {
    return std::string(id.substr(0, prefix.size()) == prefix ? id.substr(prefix.size()) : id);
  };
  auto date = [](int32_t d) { return d ? FormatDate(d) : std::string(); };
  while (q.Step()) {
    const std::string key(q.Text(0));
    std::string_view body = q.Blob(1);
    if (!r.ParseFromArray(body.data(), int(body.size()))) {
      return Status::Corruption(fmt::format("resident {} is damaged", key));
    }
    std::string my_number;
    if (!r.my_number().empty()) {
      if (options.reveal_my_number) {
        BOSAI_ASSIGN_OR_RETURN(my_number, node.data_key()->Open("mynumber", r.my_number()));
      } else {
        ++report.my_numbers_left_out;
      }
    }
    fields[kMunicipality] = node.municipality();
    fields[kResidentCode] = code(key);
    fields[kHouseholdCode] = code(r.household());
    fields[kName] = r.name();
    fields[kNameKana] = r.name_kana();
    fields[kBirthDate] = date(r.birth_date());
    fields[kSex] = SexText(r.sex());
    fields[kRelationship] = r.relationship();
    fields[kPostalCode] = r.postal_code();
    fields[kAddress] = r.address();
    fields[kMyNumberCol] = std::move(my_number);
    fields[kPhone] = r.phone();
    fields[kResidentSince] = date(r.resident_since());
    fields[kStatus] = ResidentStatusText(r.status());
    // A value that came by sync from a node that did not check it is not handed to a
    // spreadsheet to run.
    for (size_t i = 0; i < fields.size(); ++i) {
      if (std::string formula = FormulaStart(fields[i]); !formula.empty()) {
        return Status::Invalid(fmt::format("{}: {}: {}; correct it (bosai resident edit)", key,
                                           kColumns[i].name, formula));
      }
    }
    for (size_t j = 0; j < written.size(); ++j) line[j] = std::move(fields[written[j]]);
    if (Status st = writer->Write(line); !st.ok()) {
      const bool cp932 =
          options.encoding == Encoding::kCp932 && st.code() == Status::Code::kInvalidArgument;
      return (cp932 ? st.WithNote("write UTF-8 instead: --encoding utf-8 --bom, which Excel reads "
                                  "as well")
                    : st)
          .WithContext(key);
    }
    ++report.residents;
    if (options.progress && report.residents % 16384 == 0) {
      options.progress(report.residents, total);
    }
  }
  BOSAI_RETURN_IF_ERROR(q.status());
  BOSAI_RETURN_IF_ERROR(writer->Close());
  report.substitutions = writer->substitutions();
  return report;
}

}  // namespace

Result<ExportReport> ExportResidents(Node& node, const ExportOptions& options) {
  std::unique_ptr<CsvWriter> writer;
  Result<ExportReport> report = WriteExport(node, options, writer);
  if (report.ok()) return report;
  // What became of the file: none was begun; or, written beside it, it is removed with the
  // writer; or it has the residents before the error (a pipe, a terminal).
  const std::string name = options.path == "-" ? "standard output" : options.path;
  std::string note = "nothing was written";
  if (writer) {
    note = writer->in_place() ? fmt::format("the residents before it went to {}", name)
                              : fmt::format("{} was not written", name);
  }
  return report.status().WithNote(note);
}

Result<bool> HasHousehold(Node& node, std::string_view key) {
  BOSAI_ASSIGN_OR_RETURN(auto body, node.store().GetBody(ENTITY_HOUSEHOLD, key));
  return body.has_value();
}

Result<uint64_t> CountResidents(Node& node) { return node.store().CountRecords(ENTITY_RESIDENT); }

Result<std::vector<SharedMyNumber>> SharedMyNumbers(Node& node, bool reveal,
                                                    std::optional<std::string_view> sealed) {
  std::vector<SharedMyNumber> out;
  if (!node.data_key()) return out;
  Db& db = node.store().db();
  ReadSnapshot snapshot(db);
  // The keyed hashes held more than once (the index is in hash order: no sort), or SEALED's.
  std::vector<int64_t> hashes;
  if (!sealed) {
    BOSAI_ASSIGN_OR_RETURN(
        Stmt q, db.PrepareOnce("SELECT value FROM record_index WHERE kind = ? GROUP BY value "
                               "HAVING count(*) > 1"));
    q.Bind(1, int64_t(IndexKind::kLookup));
    while (q.Step()) hashes.push_back(q.Int(0));
    BOSAI_RETURN_IF_ERROR(q.status());
  } else if (!sealed->empty()) {
    BOSAI_ASSIGN_OR_RETURN(int64_t hash, DataKey::LookupHashOf(*sealed));
    hashes.push_back(hash);
  }
  BOSAI_ASSIGN_OR_RETURN(
      Stmt holders,
      db.PrepareOnce("SELECT r.key, record_body(r.body, r.key) FROM record_index i JOIN records r "
                     "ON r.id = i.record WHERE i.kind = ? AND i.value = ? AND +r.entity = ?"));
  for (int64_t hash : hashes) {
    // By the sealed number itself: two numbers whose hashes collide are not shared.
    std::map<std::string, std::vector<std::string>> by_number;
    holders.Bind(1, int64_t(IndexKind::kLookup)).Bind(2, hash).Bind(3, ENTITY_RESIDENT);
    while (holders.Step()) {
      v1::Resident r;
      std::string key(holders.Text(0));
      std::string_view body = holders.Blob(1);
      if (!r.ParseFromArray(body.data(), int(body.size()))) {
        holders.Reset();
        return Status::Corruption(fmt::format("resident {} is damaged", key));
      }
      by_number[r.my_number()].push_back(std::move(key));
    }
    BOSAI_RETURN_IF_ERROR(holders.status());
    holders.Reset();
    for (auto& [number, keys] : by_number) {
      if (keys.size() < 2 || (sealed && number != *sealed)) continue;
      std::sort(keys.begin(), keys.end());
      v1::Resident holder;
      holder.set_my_number(number);
      out.push_back({RenderField(ENTITY_RESIDENT, kMyNumber, holder.SerializeAsString(),
                                 node.data_key(), reveal),
                     std::move(keys)});
    }
  }
  std::sort(out.begin(), out.end(), [](const SharedMyNumber& a, const SharedMyNumber& b) {
    return a.residents < b.residents;
  });
  return out;
}

bool HeadsHousehold(const v1::Resident& r) {
  return r.relationship() == kRelationshipHead && r.status() == v1::RESIDENT_STATUS_RESIDENT;
}

namespace {

// The residents of HOUSEHOLD (its id or code), as `resident search --household` lists them.
Result<std::vector<ResidentRecord>> Members(Node& node, std::string_view household) {
  ResidentQuery members;
  members.household = std::string(household);
  members.limit = kMaxSearchLimit;
  return SearchResidents(node, members);
}

// The household KEY as the store holds it, or nullopt.
Result<std::optional<v1::Household>> LoadHousehold(Node& node, std::string_view key) {
  BOSAI_ASSIGN_OR_RETURN(auto body, node.store().GetBody(ENTITY_HOUSEHOLD, key));
  if (!body) return std::optional<v1::Household>();
  v1::Household h;
  if (!h.ParseFromString(*body)) {
    return Status::Corruption(fmt::format("household {} is damaged", key));
  }
  return std::optional<v1::Household>(std::move(h));
}

// The head a household's record names, or nullopt when the store holds no such household.
Result<std::optional<std::string>> NamedHead(Node& node, std::string_view household) {
  BOSAI_ASSIGN_OR_RETURN(std::optional<v1::Household> h, LoadHousehold(node, household));
  if (!h) return std::optional<std::string>();
  return std::optional<std::string>(h->head());
}

// What an edit writes to a household beside a resident's fields: the fields that change.
struct HouseholdWrite {
  std::string household;
  FieldMap fields;
  std::vector<uint32_t> settles;  // fields whose every version held the write names
  bool headless = false;          // its 世帯主 is no longer one
};

// The household field a resident's field decides for the household it heads: its head (by the
// resident's household, relationship and status), address or postal code; 0 for none.
uint32_t HouseholdFieldOf(uint32_t resident_field) {
  switch (resident_field) {
    case v1::Resident::kHouseholdFieldNumber:
    case v1::Resident::kRelationshipFieldNumber:
    case v1::Resident::kStatusFieldNumber:
      return v1::Household::kHeadFieldNumber;
    case v1::Resident::kAddressFieldNumber:
      return v1::Household::kAddressFieldNumber;
    case v1::Resident::kPostalCodeFieldNumber:
      return v1::Household::kPostalCodeFieldNumber;
    default:
      return 0;
  }
}

// The fields of household HOUSEHOLD (held as HELD, or not held) that differ from a household
// headed by HEAD_KEY as an import writes one from its 世帯主's row (HEAD; none: the address is
// left as it is); and SETTLED (a household field, or 0), written whether it differs or not, to
// settle its conflicts.
Result<HouseholdWrite> HeadedBy(const std::string& household,
                                const std::optional<v1::Household>& held,
                                const std::string& head_key, const v1::Resident* head,
                                uint32_t settled) {
  v1::Household want = held.value_or(v1::Household());
  want.set_head(head_key);
  if (head) {  // its address is its 世帯主's
    want.set_address(head->address());
    want.set_postal_code(head->postal_code());
  }
  BOSAI_ASSIGN_OR_RETURN(FieldMap now, SplitFields(held ? held->SerializeAsString() : ""));
  BOSAI_ASSIGN_OR_RETURN(FieldMap wanted, SplitFields(want.SerializeAsString()));
  HouseholdWrite w{household, {}, {}};
  for (uint32_t f : {v1::Household::kHeadFieldNumber, v1::Household::kAddressFieldNumber,
                     v1::Household::kPostalCodeFieldNumber}) {
    auto in = [f](const FieldMap& m) {
      auto it = m.find(f);
      return it == m.end() ? std::string() : it->second;
    };
    const bool decided = f == v1::Household::kHeadFieldNumber || head;  // else left as it is
    if (f == settled && decided) {
      w.settles.push_back(f);
      w.fields[f] = in(wanted);
    } else if (in(now) != in(wanted)) {
      w.fields[f] = in(wanted);
    }
  }
  return w;
}

// A household has one 世帯主 (HeadsHousehold), whom its record names (Household.head), and its
// 世帯主's address. An edit of resident KEY (now BEFORE; its new fields MAIN) that makes it, or
// keeps it, its household's 世帯主 is refused while another resident of the household is, and
// writes KEY's name and address to the household (also when the record named another: the edit
// mends it); one that ends KEY's being 世帯主 of a household that names it (another relationship
// or household, moved out or died) leaves that household without one (headless; its record
// still names KEY), or names the one other 世帯主 a merge left there. An edit of no field these
// depend on changes no household. A resolution of the resident's field SETTLED (or 0) writes the
// household field it decides, which settles that field's conflicts too: two nodes that both changed
// a 世帯主's address conflict on the household's as well, and one resolution settles both.
Result<std::vector<HouseholdWrite>> HouseholdChanges(Node& node, std::string_view key,
                                                     const v1::Resident& before,
                                                     const FieldMap& main, uint32_t settled) {
  constexpr uint32_t kDecides[] = {
      v1::Resident::kHouseholdFieldNumber, v1::Resident::kRelationshipFieldNumber,
      v1::Resident::kStatusFieldNumber, v1::Resident::kAddressFieldNumber,
      v1::Resident::kPostalCodeFieldNumber};
  std::vector<HouseholdWrite> changes;
  v1::Resident after = before;
  bool decides = false;
  for (uint32_t f : kDecides) {
    auto it = main.find(f);
    if (it == main.end()) continue;
    decides = true;
    v1::Resident part;
    if (!part.ParseFromString(it->second)) return Status::Corruption("an edit's field is damaged");
    if (f == v1::Resident::kHouseholdFieldNumber) after.set_household(part.household());
    if (f == v1::Resident::kRelationshipFieldNumber) after.set_relationship(part.relationship());
    if (f == v1::Resident::kStatusFieldNumber) after.set_status(part.status());
    if (f == v1::Resident::kAddressFieldNumber) after.set_address(part.address());
    if (f == v1::Resident::kPostalCodeFieldNumber) after.set_postal_code(part.postal_code());
  }
  if (!decides) return changes;
  const bool was_head = HeadsHousehold(before);
  const bool is_head = HeadsHousehold(after);
  const bool moved = after.household() != before.household();
  // The other residents of HOUSEHOLD who are its 世帯主 (more than one only after a merge).
  auto other_heads = [&](const std::string& household) -> Result<std::vector<ResidentRecord>> {
    BOSAI_ASSIGN_OR_RETURN(std::vector<ResidentRecord> found, Members(node, household));
    std::vector<ResidentRecord> heads;
    for (ResidentRecord& m : found) {
      if (m.key != key && HeadsHousehold(m.resident)) heads.push_back(std::move(m));
    }
    return heads;
  };
  if (was_head && (!is_head || moved) && !before.household().empty()) {
    BOSAI_ASSIGN_OR_RETURN(auto held, LoadHousehold(node, before.household()));
    if (held && held->head() == key) {
      // The one other 世帯主 a merge left, if any, follows. Else the record keeps naming KEY, its
      // last 世帯主, until a resident is made one: a write clearing it would conflict with the
      // new 世帯主 that a node apart (or the register) names meanwhile, over nothing.
      BOSAI_ASSIGN_OR_RETURN(std::vector<ResidentRecord> others, other_heads(before.household()));
      const bool one = others.size() == 1;
      BOSAI_ASSIGN_OR_RETURN(
          HouseholdWrite w,
          HeadedBy(before.household(), held, one ? others[0].key : std::string(key),
                   one ? &others[0].resident : nullptr, HouseholdFieldOf(settled)));
      w.headless = !one;
      changes.push_back(std::move(w));
    }
  }
  if (is_head && !after.household().empty()) {
    BOSAI_ASSIGN_OR_RETURN(std::vector<ResidentRecord> others, other_heads(after.household()));
    if (!others.empty()) {
      return Status::Invalid(fmt::format(
          "relationship: household {} has a 世帯主 already, {}: change their relationship first",
          after.household(), others[0].key));
    }
    BOSAI_ASSIGN_OR_RETURN(auto held, LoadHousehold(node, after.household()));
    BOSAI_ASSIGN_OR_RETURN(HouseholdWrite w, HeadedBy(after.household(), held, std::string(key),
                                                      &after, HouseholdFieldOf(settled)));
    changes.push_back(std::move(w));
  }
  if (moved && !is_head && !after.household().empty() &&
      after.status() == v1::RESIDENT_STATUS_RESIDENT) {
    // Into a household that may have no 世帯主 (one new to this node): nothing to write, but
    // the edit says so when it has none, as when its 世帯主 leaves.
    HouseholdWrite w;
    w.household = after.household();
    w.headless = true;
    changes.push_back(std::move(w));
  }
  std::erase_if(changes, [](const HouseholdWrite& w) { return w.fields.empty() && !w.headless; });
  return changes;
}

}  // namespace

std::string HouseholdHeadProblem::Describe() const {
  std::string named_as = named.empty() ? "names none" : fmt::format("names {}", named);
  if (heads.empty()) {
    return named.empty()
               ? fmt::format("household {} has no 世帯主 among its residents", household)
               : fmt::format(
                     "household {} has no 世帯主 among its residents (its record still names {})",
                     household, named);
  }
  if (heads.size() > 1) {
    return fmt::format("household {} has {} 世帯主: {} (its record {})", household, heads.size(),
                       fmt::join(heads, ", "), named_as);
  }
  return fmt::format("household {}: its 世帯主 is {}, but its record {}", household, heads[0],
                     named_as);
}

nlohmann::json HouseholdHeadJson(const HouseholdHeadProblem& p) {
  return {{"household", p.household}, {"heads", p.heads}, {"named", p.named}};
}

// The households where someone lives, each with the number of its residents who are its 世帯主
// and the first one's key (the others aside: a household has one), for HouseholdHeadProblems.
// Keys are held once, in an arena, and a household in a slot of 24 bytes: a register's
// households in a fraction of what a map of strings to vectors of strings took.
class HeadTally {
 public:
  struct Household {
    uint32_t key_off = 0, key_len = 0;  // key_len 0: an empty slot
    uint32_t head_off = 0, head_len = 0;
    uint32_t heads = 0;
    bool seen = false;  // its record was read
    bool operator==(const Household&) const = default;
  };

  // Notes a resident who lives in HOUSEHOLD, its 世帯主 when HEAD is given.
  void Add(std::string_view household, std::optional<std::string_view> head) {
    auto [h, found] = table_.Insert(
        Hash(household), [&](const Household& s) { return Key(s) == household; },
        [this](const Household& s) { return Hash(Key(s)); });
    if (!found) {
      h->key_off = Append(household);
      h->key_len = uint32_t(household.size());
    }
    if (!head) return;
    if (h->heads++ == 0) {
      h->head_off = Append(*head);
      h->head_len = uint32_t(head->size());
    } else {
      more_heads_.emplace(std::string(household), std::string(*head));
    }
  }
  Household* Find(std::string_view household) {
    return table_.Find(Hash(household), [&](const Household& s) { return Key(s) == household; });
  }
  std::string_view Key(const Household& h) const {
    return std::string_view(arena_).substr(h.key_off, h.key_len);
  }
  // Its 世帯主, in key order.
  std::vector<std::string> Heads(const Household& h) const {
    std::vector<std::string> heads;
    if (h.heads > 0) heads.emplace_back(std::string_view(arena_).substr(h.head_off, h.head_len));
    auto [from, to] = more_heads_.equal_range(std::string(Key(h)));
    for (auto it = from; it != to; ++it) heads.push_back(it->second);
    std::sort(heads.begin(), heads.end());
    return heads;
  }
  // The only 世帯主 when there is exactly one.
  std::optional<std::string_view> OnlyHead(const Household& h) const {
    if (h.heads != 1) return std::nullopt;
    return std::string_view(arena_).substr(h.head_off, h.head_len);
  }
  std::vector<Household>& slots() { return table_.slots(); }  // an empty one has key_len 0

 private:
  static size_t Hash(std::string_view key) { return std::hash<std::string_view>()(key); }
  uint32_t Append(std::string_view text) {
    if (arena_.size() + text.size() > UINT32_MAX) throw std::length_error("HeadTally: arena");
    const auto off = uint32_t(arena_.size());
    arena_.append(text);
    return off;
  }

  ProbedTable<Household> table_;
  std::string arena_;
  std::multimap<std::string, std::string> more_heads_;  // household → its second 世帯主 and on
};

Result<std::vector<HouseholdHeadProblem>> HouseholdHeadProblems(Node& node) {
  Db& db = node.store().db();
  Store::SmallCache small_cache(db);  // each record is read once
  ReadSnapshot snapshot(db);
  HeadTally households;
  BOSAI_ASSIGN_OR_RETURN(
      Stmt q, db.PrepareOnce("SELECT key, record_body(body, key) FROM records WHERE entity = ?"));
  q.Bind(1, ENTITY_RESIDENT);
  v1::Resident r;  // the three fields read, from the wire format: a million records are read
  while (q.Step()) {
    r.Clear();
    std::string_view household;
    WireReader reader(q.Blob(1));
    for (WireField f; reader.Next(f);) {  // the last occurrence of a field counts, as in a parse
      if (f.number == v1::Resident::kHouseholdFieldNumber && f.wire_type == 2) {
        household = f.bytes;
      } else if (f.number == v1::Resident::kRelationshipFieldNumber && f.wire_type == 2) {
        r.set_relationship(std::string(f.bytes));
      } else if (f.number == v1::Resident::kStatusFieldNumber && f.wire_type == 0) {
        r.set_status(v1::ResidentStatus(f.varint));
      }
    }
    if (!reader.error().empty()) {
      return Status::Corruption(fmt::format("resident {} is damaged", q.Text(0)));
    }
    if (household.empty() || r.status() != v1::RESIDENT_STATUS_RESIDENT) continue;
    households.Add(household, HeadsHousehold(r) ? std::optional(q.Text(0)) : std::nullopt);
  }
  BOSAI_RETURN_IF_ERROR(q.status());
  q.Reset();
  // The heads their records name, read in one pass too.
  std::vector<HouseholdHeadProblem> out;
  q.Bind(1, ENTITY_HOUSEHOLD);
  v1::Household h;
  while (q.Step()) {
    HeadTally::Household* t = households.Find(q.Text(0));
    if (!t) continue;
    std::string_view body = q.Blob(1);
    if (!h.ParseFromArray(body.data(), int(body.size()))) {
      return Status::Corruption(fmt::format("household {} is damaged", q.Text(0)));
    }
    t->seen = true;
    if (households.OnlyHead(*t) == h.head()) continue;
    out.push_back({std::string(q.Text(0)), households.Heads(*t), h.head()});
  }
  BOSAI_RETURN_IF_ERROR(q.status());
  for (const HeadTally::Household& t : households.slots()) {  // lived in, but no record
    if (t.key_len != 0 && !t.seen) {
      out.push_back({std::string(households.Key(t)), households.Heads(t), ""});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const HouseholdHeadProblem& a, const HouseholdHeadProblem& b) {
              return a.household < b.household;
            });
  return out;
}

Result<std::optional<HouseholdHeadProblem>> HouseholdHeadProblemOf(Node& node,
                                                                   std::string_view household) {
  BOSAI_ASSIGN_OR_RETURN(std::vector<ResidentRecord> found, Members(node, household));
  HouseholdHeadProblem p;
  bool lived_in = false;
  for (const ResidentRecord& m : found) {  // in key order when more than one is 世帯主
    p.household = m.resident.household();
    lived_in |= m.resident.status() == v1::RESIDENT_STATUS_RESIDENT;
    if (HeadsHousehold(m.resident)) p.heads.push_back(m.key);
  }
  if (!lived_in) return std::optional<HouseholdHeadProblem>();
  std::sort(p.heads.begin(), p.heads.end());
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> named, NamedHead(node, p.household));
  p.named = named.value_or("");
  if (p.heads.size() == 1 && p.named == p.heads[0]) return std::optional<HouseholdHeadProblem>();
  return std::optional<HouseholdHeadProblem>(std::move(p));
}

std::vector<std::string> EditableResidentFields() {
  std::vector<std::string> names;
  const auto* d = v1::Resident::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->number() != v1::Resident::kFlagsFieldNumber) {
      names.push_back(d->field(i)->name());
    }
  }
  return names;
}

namespace {

// Refuses the My Number in VALUE (a Resident holding it sealed) when a resident other than KEY
// holds it on this node: unique per person, as an import has it.
Status CheckMyNumberFree(Node& node, std::string_view key, const std::string& value) {
  v1::Resident sealed;
  if (!sealed.ParseFromString(value) || sealed.my_number().empty()) return Status::Ok();
  BOSAI_ASSIGN_OR_RETURN(int64_t hash, DataKey::LookupHashOf(sealed.my_number()));
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> other,
                         OtherHolderOfMyNumber(node.store().db(), hash, key));
  if (other) {
    return Status::Invalid(fmt::format("my_number: already registered to resident {}", *other));
  }
  return Status::Ok();
}

// Refuses an edit (FIELDS, as ParseField gives them) of RESIDENT's birth date or 住民となった年月日
// that would leave the second before the first, as an import refuses such a row.
Status CheckEditedDates(const v1::Resident& resident, const FieldMap& fields) {
  constexpr uint32_t kBirth = v1::Resident::kBirthDateFieldNumber;
  constexpr uint32_t kSince = v1::Resident::kResidentSinceFieldNumber;
  v1::Resident after = resident;
  for (uint32_t field : {kBirth, kSince}) {
    auto it = fields.find(field);
    if (it == fields.end()) continue;
    v1::Resident part;
    if (!part.ParseFromString(it->second)) return Status::Corruption("an edited date is damaged");
    field == kBirth ? after.set_birth_date(part.birth_date())
                    : after.set_resident_since(part.resident_since());
  }
  Status st = CheckResidentSince(after.resident_since(), after.birth_date());
  if (st.ok()) return st;
  if (fields.count(kSince)) return Status::Invalid("resident_since: " + st.message());
  return Status::Invalid(fmt::format("birth_date: {} is after resident_since {}",
                                     FormatDate(after.birth_date()),
                                     FormatDate(after.resident_since())));
}

// Runs WRITE (the record's own fields) and HOUSEHOLDS (HouseholdChanges) in one transaction;
// then adds to HEADLESS the households left without a 世帯主 where someone still lives (also when
// that cannot be read now: the write is committed).
Status WriteWithHouseholds(Node& node, const std::vector<HouseholdWrite>& households,
                           std::vector<std::string>* headless,
                           const std::function<Status(Store&)>& write) {
  Store& store = node.store();
  BOSAI_RETURN_IF_ERROR(store.BeginWrite(node.author()));
  Status st = write(store);
  for (const HouseholdWrite& w : households) {
    if (!st.ok()) break;
    std::vector<std::pair<uint32_t, Dot>> resolves;
    for (uint32_t field : w.settles) {
      Result<std::vector<FieldVersion>> held =
          store.GetFieldVersions(ENTITY_HOUSEHOLD, w.household, field);
      st = held.status();
      if (!st.ok()) break;
      for (const FieldVersion& v : *held) resolves.emplace_back(field, v.dot);
    }
    if (st.ok() && !w.fields.empty()) {
      st = store.Put(node.scope(), ENTITY_HOUSEHOLD, w.household, w.fields, v1::OP_SOURCE_USER,
                     resolves);
    }
  }
  if (st.ok()) st = store.CommitWrite();
  if (!st.ok()) {
    if (store.writing()) store.AbortWrite();
    return st;
  }
  for (const HouseholdWrite& w : households) {
    if (!w.headless || !headless) continue;
    Result<std::optional<HouseholdHeadProblem>> left = HouseholdHeadProblemOf(node, w.household);
    if (!left.ok() || *left) headless->push_back(w.household);
  }
  return st;
}

}  // namespace

Status UpdateResident(Node& node, std::string_view key,
                      const std::vector<std::pair<std::string, std::string>>& assignments,
                      std::vector<std::string>* headless, std::vector<std::string>* unchanged) {
  BOSAI_ASSIGN_OR_RETURN(auto current, GetResident(node, key));
  if (!current) return Status::NotFound(fmt::format("no resident {}", key));
  FieldMap main, sensitive;
  const std::vector<std::string> editable = EditableResidentFields();
  std::vector<std::string_view> named;
  std::vector<uint32_t> same;  // fields that hold the value given already
  for (const auto& [name, text] : assignments) {
    if (name == "flags") return Status::Invalid("flags are computed, not set");
    if (std::find(editable.begin(), editable.end(), name) == editable.end()) {
      return Status::Invalid(fmt::format("resident has no field \"{}\" (its fields: {})", name,
                                         fmt::join(editable, ", ")));
    }
    if (std::find(named.begin(), named.end(), name) != named.end()) {
      return Status::Invalid(fmt::format("{} is given twice: give each field once", name));
    }
    named.push_back(name);
    BOSAI_ASSIGN_OR_RETURN(uint32_t field, FieldNumber(ENTITY_RESIDENT, name));
    BOSAI_ASSIGN_OR_RETURN(std::string value, ParseField(ENTITY_RESIDENT, field, text,
                                                         node.data_key(), node.municipality()));
    if (value == Field(field, current->resident)) same.push_back(field);
    if (field == kMyNumber) BOSAI_RETURN_IF_ERROR(CheckMyNumberFree(node, key, value));
    (field == kMyNumber ? sensitive : main)[field] = value;
    if (field == v1::Resident::kNameFieldNumber) {
      v1::Resident flags;
      flags.set_flags((current->resident.flags() & ~kFlagPrivateUseName) |
                      (HasPrivateUse(text) ? kFlagPrivateUseName : 0));
      main[v1::Resident::kFlagsFieldNumber] = Field(v1::Resident::kFlagsFieldNumber, flags);
    }
  }
  BOSAI_RETURN_IF_ERROR(CheckEditedDates(current->resident, main));
  // The household follows every field given (an unchanged relationship 世帯主 mends a household
  // that names another); the resident's fields that hold their value already are not written
  // (no op), as an import writes none: the value shown stays shown, a conflict on it open.
  BOSAI_ASSIGN_OR_RETURN(auto households,
                         HouseholdChanges(node, key, current->resident, main, /*settled=*/0));
  for (uint32_t field : same) {
    (field == kMyNumber ? sensitive : main).erase(field);
    if (field == v1::Resident::kNameFieldNumber) main.erase(v1::Resident::kFlagsFieldNumber);
    if (unchanged) unchanged->push_back(FieldName(ENTITY_RESIDENT, field));
  }
  std::erase_if(households, [](const HouseholdWrite& w) {
    return w.fields.empty() && w.settles.empty() && !w.headless;
  });
  if (main.empty() && sensitive.empty() && households.empty()) return Status::Ok();
  return WriteWithHouseholds(node, households, headless, [&](Store& store) {
    Status st = store.Put(node.scope(), ENTITY_RESIDENT, key, main);
    if (st.ok()) st = store.Put(node.my_number_scope(), ENTITY_RESIDENT, key, sensitive);
    return st;
  });
}

namespace {

// A household's address or postal code VALUE as the same field of its 世帯主 (FIELD) holds it.
Result<std::string> AsHeadsField(uint32_t field, const std::string& value) {
  v1::Household household;
  if (!household.ParseFromString(value))
    return Status::Corruption("a household's value is damaged");
  v1::Resident head;
  head.set_address(household.address());
  head.set_postal_code(household.postal_code());
  return Field(field, head);
}

// A household's address is its 世帯主's: the conflict of its 世帯主 on the same field that a
// conflict on a household's address or postal code is settled through (the one with the same
// other value, which the same write made, else the first), if there is one.
Result<std::optional<Conflict>> HeadsConflict(Node& node, const Conflict& conflict) {
  const uint32_t field = conflict.field == v1::Household::kAddressFieldNumber
                             ? v1::Resident::kAddressFieldNumber
                         : conflict.field == v1::Household::kPostalCodeFieldNumber
                             ? v1::Resident::kPostalCodeFieldNumber
                             : 0;
  if (conflict.entity != ENTITY_HOUSEHOLD || field == 0) return std::optional<Conflict>();
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> head, NamedHead(node, conflict.key));
  if (!head || head->empty()) return std::optional<Conflict>();
  BOSAI_ASSIGN_OR_RETURN(std::string other, AsHeadsField(field, conflict.other.value));
  BOSAI_ASSIGN_OR_RETURN(std::vector<Conflict> theirs,
                         node.store().ListConflicts(ENTITY_RESIDENT, *head));
  std::erase_if(theirs, [&](const Conflict& c) { return c.field != field; });
  std::stable_partition(theirs.begin(), theirs.end(),
                        [&](const Conflict& c) { return c.other.value == other; });
  if (theirs.empty()) return std::optional<Conflict>();
  return std::optional<Conflict>(theirs[0]);
}

}  // namespace

Status ResolveConflict(Node& node, const Conflict& conflict, const std::string& value,
                       std::vector<std::string>* headless) {
  BOSAI_ASSIGN_OR_RETURN(std::optional<Conflict> heads, HeadsConflict(node, conflict));
  if (heads) {  // settles both
    BOSAI_ASSIGN_OR_RETURN(std::string as_head, AsHeadsField(heads->field, value));
    return ResolveConflict(node, *heads, as_head, headless);
  }
  std::vector<HouseholdWrite> households;
  if (conflict.entity == ENTITY_RESIDENT) {
    if (conflict.field == kMyNumber) {
      BOSAI_RETURN_IF_ERROR(CheckMyNumberFree(node, conflict.key, value));
    }
    BOSAI_ASSIGN_OR_RETURN(auto current, GetResident(node, conflict.key));
    if (current) {
      FieldMap chosen;
      chosen[conflict.field] = value;
      BOSAI_ASSIGN_OR_RETURN(households, HouseholdChanges(node, conflict.key, current->resident,
                                                          chosen, conflict.field));
    }
  }
  return WriteWithHouseholds(node, households, headless, [&](Store& store) {
    return store.Put(conflict.other.scope, conflict.entity, conflict.key, {{conflict.field, value}},
                     v1::OP_SOURCE_USER, {{conflict.field, conflict.other.dot}});
  });
}

Result<std::vector<Conflict>> FindConflicts(Node& node, const ConflictFilter& filter) {
  std::string record;
  if (!TrimBlank(filter.record).empty()) {
    BOSAI_ASSIGN_OR_RETURN(record, RegisterKey(filter.record, node.municipality(), "record"));
  }
  const std::string field(TrimBlank(filter.field));
  if (!field.empty() && !FieldNumber(ENTITY_RESIDENT, field).ok() &&
      !FieldNumber(ENTITY_HOUSEHOLD, field).ok()) {
    return Status::Invalid(
        fmt::format("no record has a field \"{}\" (a resident's: {}; a household's: {})", field,
                    fmt::join(FieldNames(ENTITY_RESIDENT), ", "),
                    fmt::join(FieldNames(ENTITY_HOUSEHOLD), ", ")));
  }
  // A record's by its key (a resident's and a household's read alike), in the store's order.
  std::vector<Conflict> all;
  for (uint32_t entity : record.empty()
                             ? std::vector<uint32_t>{0}
                             : std::vector<uint32_t>{ENTITY_RESIDENT, ENTITY_HOUSEHOLD}) {
    BOSAI_ASSIGN_OR_RETURN(std::vector<Conflict> some, node.store().ListConflicts(entity, record));
    std::move(some.begin(), some.end(), std::back_inserter(all));
  }
  std::vector<Conflict> out;
  for (Conflict& c : all) {
    if (field.empty() || FieldName(c.entity, c.field) == field) out.push_back(std::move(c));
  }
  return out;
}

Status ResolveConflicts(Node& node, const std::vector<std::string>& ids, bool keep_shown,
                        ConflictsResolved* out) {
  for (const std::string& id : ids) {
    BOSAI_ASSIGN_OR_RETURN(std::optional<Conflict> c, node.store().GetConflict(id));
    if (!c) {
      out->not_open.push_back(id);
      continue;
    }
    BOSAI_RETURN_IF_ERROR(
        ResolveConflict(node, *c, keep_shown ? c->shown.value : c->other.value, &out->headless)
            .WithContext(fmt::format("conflict {}", id)));
    out->resolved.push_back(id);
  }
  std::sort(out->headless.begin(), out->headless.end());
  out->headless.erase(std::unique(out->headless.begin(), out->headless.end()), out->headless.end());
  return Status::Ok();
}

nlohmann::json ResidentJson(const Node& node, const ResidentRecord& rec, bool reveal) {
  const v1::Resident& r = rec.resident;
  const FieldMap fields = SplitFields(r.SerializeAsString()).value();  // split once, not per field
  auto render = [&](uint32_t field) {
    auto it = fields.find(field);
    return RenderField(ENTITY_RESIDENT, field, it == fields.end() ? std::string_view() : it->second,
                       node.data_key(), reveal);
  };
  nlohmann::json j;
  j["id"] = rec.key;
  j["household"] = r.household();
  j["name"] = r.name();
  j["name_kana"] = r.name_kana();
  j["birth_date"] = r.birth_date() ? FormatDate(r.birth_date()) : "";
  j["sex"] = render(v1::Resident::kSexFieldNumber);
  j["relationship"] = r.relationship();
  j["postal_code"] = r.postal_code();
  j["address"] = r.address();
  j["my_number"] =
      r.my_number().empty() ? nlohmann::json(nullptr) : nlohmann::json(render(kMyNumber));
  j["phone"] = r.phone();
  j["resident_since"] = r.resident_since() ? FormatDate(r.resident_since()) : "";
  j["status"] = render(v1::Resident::kStatusFieldNumber);
  j["private_use_name"] = (r.flags() & kFlagPrivateUseName) != 0;
  return j;
}

}  // namespace bosai::node
