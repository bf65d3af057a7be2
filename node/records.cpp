// Field names, rendering and parsing by reflection; see records.h.
#include "node/records.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <memory>

#include "bosai/v1/records.pb.h"
#include "node/dates.h"
#include "node/text.h"
#include "storage/ids.h"

namespace bosai::node {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr uint32_t kMyNumberField = v1::Resident::kMyNumberFieldNumber;

std::unique_ptr<Message> NewMessage(uint32_t entity) {
  switch (entity) {
    case v1::ENTITY_RESIDENT:
      return std::make_unique<v1::Resident>();
    case v1::ENTITY_HOUSEHOLD:
      return std::make_unique<v1::Household>();
    default:
      return nullptr;
  }
}

// "ResidentStatus" → "RESIDENT_STATUS_": the prefix of its value names.
std::string EnumPrefix(const google::protobuf::EnumDescriptor* e) {
  std::string out;
  for (char c : e->name()) {
    if (std::isupper(static_cast<unsigned char>(c)) && !out.empty()) out.push_back('_');
    out.push_back(char(std::toupper(static_cast<unsigned char>(c))));
  }
  return out + "_";
}

bool IsDateField(const FieldDescriptor* fd) {
  return fd->type() == FieldDescriptor::TYPE_INT32 &&
         (fd->name() == "birth_date" || fd->name() == "resident_since");
}

}  // namespace

Result<int> ParseSex(std::string_view text) {
  std::string t = NarrowAscii(text);
  for (auto& c : t) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (t == "男" || t == "男性" || t == "m" || t == "1" || t == "male") return v1::SEX_MALE;
  if (t == "女" || t == "女性" || t == "f" || t == "2" || t == "female") return v1::SEX_FEMALE;
  return Status::Invalid(fmt::format("\"{}\" is not a sex (男/女, M/F, 1/2)", text));
}

std::string SexText(int sex) {
  return sex == v1::SEX_MALE ? "男" : sex == v1::SEX_FEMALE ? "女" : "";
}

Result<std::string> RegisterKey(std::string_view id, std::string_view municipality,
                                std::string_view entity) {
  std::string s = NarrowAscii(TrimBlank(id));  // as pasted from a spreadsheet: " 12345 "
  const size_t colon = s.find(':');
  std::string code = colon == std::string::npos ? s : s.substr(colon + 1);
  std::string muni = colon == std::string::npos ? std::string(municipality) : s.substr(0, colon);
  // The id as given, unless the problem already quotes it.
  auto named = [&](Status st) {
    if (st.ok() || st.message().find(fmt::format("\"{}\"", id)) != std::string::npos) return st;
    return st.WithContext(fmt::format("{} id \"{}\"", entity, id));
  };
  BOSAI_RETURN_IF_ERROR(named(ValidateMunicipalityCode(muni)));
  BOSAI_RETURN_IF_ERROR(named(ValidateRegisterCode(code, fmt::format("{} code", entity))));
  return muni + ":" + code;
}

Result<int> ParseResidentStatus(std::string_view text) {
  std::string t = NarrowAscii(text);
  for (auto& c : t) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (t.empty() || t == "住民" || t == "resident") return v1::RESIDENT_STATUS_RESIDENT;
  if (t == "転出" || t == "moved_out") return v1::RESIDENT_STATUS_MOVED_OUT;
  if (t == "死亡" || t == "deceased") return v1::RESIDENT_STATUS_DECEASED;
  return Status::Invalid(fmt::format(
      "\"{}\" is not a resident's status (住民/転出/死亡, resident/moved_out/deceased)", text));
}

std::string ResidentStatusText(int status) {
  switch (status) {
    case v1::RESIDENT_STATUS_MOVED_OUT:
      return "転出";
    case v1::RESIDENT_STATUS_DECEASED:
      return "死亡";
    default:
      return "住民";
  }
}

Status CheckName(std::string_view name) {
  if (name.empty()) return Status::Invalid("empty");
  return CheckText(name, 200);
}

Status CheckKana(std::string_view kana) {
  if (!IsKanaText(kana)) return Status::Invalid(fmt::format("\"{}\" is not kana", kana));
  return CheckText(kana, 300);
}

std::string FormulaStart(std::string_view text) {
  if (text.empty()) return "";
  const char c = text.front();
  if (c == '=' || c == '+' || c == '@' || (c == '-' && text.size() > 1)) {
    return fmt::format(
        "\"{}\" begins with {}, which a spreadsheet opening the register would run "
        "as a formula",
        text, c);
  }
  return "";
}

Status CheckText(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Status::Invalid(fmt::format("longer than {} bytes", max_bytes));
  }
  if (std::string formula = FormulaStart(text); !formula.empty()) {
    return Status::Invalid(std::move(formula));
  }
  return Status::Ok();
}

Status CheckResidentSince(int32_t since, int32_t birth) {
  if (since == 0 || birth == 0 || since >= birth) return Status::Ok();
  return Status::Invalid(
      fmt::format("{} is before birth_date {}", FormatDate(since), FormatDate(birth)));
}

Result<int32_t> ParsePastDate(std::string_view text, int32_t today) {
  BOSAI_ASSIGN_OR_RETURN(int32_t d, ParseDate(text));
  if (d > today) return Status::Invalid(fmt::format("{} is in the future", FormatDate(d)));
  return d;
}

Result<std::string> ParsePostalCode(std::string_view text) {
  std::string pc;
  for (char c : NarrowNumber(text)) {
    if (c != '-') pc.push_back(c);
  }
  if (pc.rfind("〒", 0) == 0) pc = pc.substr(std::string_view("〒").size());
  const bool digits = AllDigits(pc);
  // A leading zero lost by a spreadsheet (北海道's 060-0001 read as the number 600001). Five
  // digits could be an old postal code as well, and stay a problem.
  if (digits && pc.size() == 6 && text.find('-') == std::string_view::npos) pc.insert(0, 1, '0');
  if (!pc.empty() && (pc.size() != 7 || !digits)) {
    return Status::Invalid(fmt::format("\"{}\" is not a 7-digit postal code", text));
  }
  return pc;
}

Result<std::string> ParsePhone(std::string_view text) {
  std::string phone = NarrowNumber(text);
  size_t digits = 0;
  bool ok = true;
  for (char c : phone) {
    if (c >= '0' && c <= '9') {
      ++digits;
    } else if (c != '-' && c != '(' && c != ')' && c != ' ' && c != '+') {
      ok = false;
    }
  }
  // A leading zero lost by a spreadsheet: 0225-95-1111 saved as the number 225951111. Japanese
  // numbers are 10 or 11 digits with the 0 (090-1234-5678).
  if (ok && (digits == 9 || digits == 10) && digits == phone.size() && phone[0] != '0') {
    phone.insert(0, 1, '0');
  }
  if (!phone.empty() && (!ok || digits < 6 || digits > 15)) {
    return Status::Invalid(fmt::format("\"{}\" is not a phone number", text));
  }
  return phone;
}

Result<std::string> ParseMyNumberDigits(std::string_view text) {
  std::string digits;
  for (char c : NarrowNumber(text)) {
    if (c != ' ' && c != '-') digits.push_back(c);
  }
  if (!digits.empty()) BOSAI_RETURN_IF_ERROR(ValidateMyNumber(digits));
  return digits;
}

std::string EntityName(uint32_t entity) {
  switch (entity) {
    case v1::ENTITY_RESIDENT:
      return "resident";
    case v1::ENTITY_HOUSEHOLD:
      return "household";
    default:
      return fmt::format("entity-{}", entity);
  }
}

std::string FieldName(uint32_t entity, uint32_t field) {
  auto msg = NewMessage(entity);
  const FieldDescriptor* fd = msg ? msg->GetDescriptor()->FindFieldByNumber(int(field)) : nullptr;
  return fd ? fd->name() : fmt::format("field-{}", field);
}

std::vector<std::string> FieldNames(uint32_t entity) {
  std::vector<std::string> names;
  if (auto msg = NewMessage(entity)) {
    for (int i = 0; i < msg->GetDescriptor()->field_count(); ++i) {
      names.push_back(msg->GetDescriptor()->field(i)->name());
    }
  }
  return names;
}

Result<uint32_t> FieldNumber(uint32_t entity, std::string_view name) {
  auto msg = NewMessage(entity);
  const FieldDescriptor* fd =
      msg ? msg->GetDescriptor()->FindFieldByName(std::string(name)) : nullptr;
  if (!fd) {
    return Status::Invalid(fmt::format("{} has no field \"{}\" (its fields: {})",
                                       EntityName(entity), name,
                                       fmt::join(FieldNames(entity), ", ")));
  }
  return uint32_t(fd->number());
}

std::string MaskMyNumber(std::string_view digits) {
  if (digits.size() < 4) return "********";
  return std::string(digits.size() - 4, '*') + std::string(digits.substr(digits.size() - 4));
}

std::string RenderField(uint32_t entity, uint32_t field, std::string_view encoded,
                        const DataKey* data_key, bool reveal) {
  auto msg = NewMessage(entity);
  if (!msg) return ToHex(encoded);
  const FieldDescriptor* fd = msg->GetDescriptor()->FindFieldByNumber(int(field));
  if (!fd || !msg->ParseFromArray(encoded.data(), int(encoded.size()))) {
    return fmt::format("<{} bytes, unknown field>", encoded.size());
  }
  const auto* refl = msg->GetReflection();
  if (entity == v1::ENTITY_RESIDENT && field == kMyNumberField) {
    std::string sealed = refl->GetString(*msg, fd);
    if (sealed.empty()) return "";
    if (!data_key) return "<sealed>";
    auto plain = data_key->Open("mynumber", sealed);
    if (!plain.ok()) return "<sealed>";
    return reveal ? *plain : MaskMyNumber(*plain);
  }
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return refl->GetString(*msg, fd);
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v = refl->GetInt32(*msg, fd);
      if (IsDateField(fd)) return v ? FormatDate(v) : "";
      return std::to_string(v);
    }
    case FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(refl->GetUInt32(*msg, fd));
    case FieldDescriptor::CPPTYPE_ENUM: {
      // As the register says them (what an import reads, an edit takes and an export writes).
      if (fd->name() == "sex") return SexText(refl->GetEnumValue(*msg, fd));
      if (entity == v1::ENTITY_RESIDENT && field == v1::Resident::kStatusFieldNumber) {
        return ResidentStatusText(refl->GetEnumValue(*msg, fd));
      }
      // Any other: FOO_MOVED_OUT → moved_out
      std::string name = refl->GetEnum(*msg, fd)->name();
      std::string prefix = EnumPrefix(fd->enum_type());
      std::string tail = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
      for (auto& c : tail) c = char(std::tolower(static_cast<unsigned char>(c)));
      return tail;
    }
    default:
      return "<unsupported>";
  }
}

namespace {

// TEXT (NFC) of the resident's field FIELD by the register's rules (what an import checks): an
// error that names what is wrong, or the text in the form it is stored in.
Result<std::string> ResidentText(uint32_t field, std::string text, std::string_view municipality) {
  switch (field) {
    case v1::Resident::kNameFieldNumber:
      BOSAI_RETURN_IF_ERROR(CheckName(text));
      return text;
    case v1::Resident::kNameKanaFieldNumber:
      if (!text.empty()) BOSAI_RETURN_IF_ERROR(CheckKana(text));
      return WideKatakana(std::move(text));
    case v1::Resident::kBirthDateFieldNumber:
    case v1::Resident::kResidentSinceFieldNumber:
      if (text.empty()) {
        if (field == v1::Resident::kBirthDateFieldNumber) return Status::Invalid("empty");
        return text;
      }
      BOSAI_RETURN_IF_ERROR(ParsePastDate(text, Today()).status());
      return text;
    case v1::Resident::kSexFieldNumber:
      BOSAI_RETURN_IF_ERROR(ParseSex(text).status());
      return text;
    case v1::Resident::kHouseholdFieldNumber: {
      if (text.empty()) return Status::Invalid("empty");
      BOSAI_ASSIGN_OR_RETURN(std::string id, RegisterKey(text, municipality, "household"));
      if (id.substr(0, id.find(':')) != municipality) {
        return Status::Invalid(fmt::format("{} is not a household of this node's municipality ({})",
                                           id, municipality));
      }
      return id;
    }
    case v1::Resident::kRelationshipFieldNumber:
      BOSAI_RETURN_IF_ERROR(CheckText(text, 60));
      return text;
    case v1::Resident::kPostalCodeFieldNumber:
      return ParsePostalCode(text);
    case v1::Resident::kAddressFieldNumber:
      BOSAI_RETURN_IF_ERROR(CheckText(text, 600));
      return text;
    case v1::Resident::kPhoneFieldNumber:
      return ParsePhone(text);
    case v1::Resident::kMyNumberFieldNumber:
      return ParseMyNumberDigits(text);
    default:
      return text;
  }
}

}  // namespace

Result<std::string> ParseField(uint32_t entity, uint32_t field, std::string_view input,
                               const DataKey* data_key, std::string_view municipality) {
  auto msg = NewMessage(entity);
  const FieldDescriptor* fd = msg ? msg->GetDescriptor()->FindFieldByNumber(int(field)) : nullptr;
  if (!fd)
    return Status::Invalid(
        fmt::format("{} field {} is unknown to this version", EntityName(entity), field));
  if (!IsValidUtf8(input)) return Status::Invalid(fmt::format("{}: not valid UTF-8", fd->name()));
  auto err = [&](const Status& s) {
    return Status::Invalid(fmt::format("{}: {}", fd->name(), s.message()));
  };
  std::string text = Nfc(TrimBlank(input));  // as an import reads a field
  if (entity == v1::ENTITY_RESIDENT) {
    auto checked = ResidentText(field, std::move(text), municipality);
    if (!checked.ok()) return err(checked.status());
    text = std::move(checked).value();
  }
  if (text.empty()) return std::string();
  const auto* refl = msg->GetReflection();
  if (entity == v1::ENTITY_RESIDENT && field == kMyNumberField) {
    if (!data_key) return Status::Invalid("this node holds no data key: it cannot store My Number");
    refl->SetString(msg.get(), fd, data_key->Seal("mynumber", text));
  } else if (fd->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    refl->SetString(msg.get(), fd, text);
  } else if (IsDateField(fd)) {
    auto d = ParseDate(text);
    if (!d.ok()) return err(d.status());
    refl->SetInt32(msg.get(), fd, *d);
  } else if (fd->name() == "sex") {
    auto s = ParseSex(text);
    if (!s.ok()) return err(s.status());
    refl->SetEnumValue(msg.get(), fd, *s);
  } else if (entity == v1::ENTITY_RESIDENT && field == v1::Resident::kStatusFieldNumber) {
    auto st = ParseResidentStatus(text);
    if (!st.ok()) return err(st.status());
    refl->SetEnumValue(msg.get(), fd, *st);
  } else if (fd->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
    std::string upper;
    for (char c : text) upper.push_back(char(std::toupper(static_cast<unsigned char>(c))));
    const auto* ev = fd->enum_type()->FindValueByName(EnumPrefix(fd->enum_type()) + upper);
    if (!ev)
      return Status::Invalid(fmt::format("{}: \"{}\" is not a known value", fd->name(), text));
    refl->SetEnumValue(msg.get(), fd, ev->number());
  } else if (fd->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
             fd->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
    try {
      size_t used = 0;
      long long v = std::stoll(std::string(text), &used);
      if (used != text.size()) throw std::invalid_argument("trailing");
      if (fd->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        refl->SetInt32(msg.get(), fd, int32_t(v));
      } else {
        refl->SetUInt32(msg.get(), fd, uint32_t(v));
      }
    } catch (const std::exception&) {
      return Status::Invalid(fmt::format("{}: \"{}\" is not a number", fd->name(), text));
    }
  } else {
    return Status::Invalid(fmt::format("{}: cannot be set from text", fd->name()));
  }
  return msg->SerializeAsString();
}

}  // namespace bosai::node
