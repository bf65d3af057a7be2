// Field names, rendering and parsing by reflection; see records.h.
#include "node/records.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

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

Result<int> ParseSex(std::string_view text) {
  std::string t = NarrowAscii(text);
  for (auto& c : t) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (t == "男" || t == "男性" || t == "m" || t == "1" || t == "male") return v1::SEX_MALE;
  if (t == "女" || t == "女性" || t == "f" || t == "2" || t == "female") return v1::SEX_FEMALE;
  return Status::Invalid(fmt::format("\"{}\" is not a sex (男/女, M/F, 1/2)", text));
}

}  // namespace

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

Result<uint32_t> FieldNumber(uint32_t entity, std::string_view name) {
  auto msg = NewMessage(entity);
  const FieldDescriptor* fd =
      msg ? msg->GetDescriptor()->FindFieldByName(std::string(name)) : nullptr;
  if (!fd) return Status::Invalid(fmt::format("{} has no field \"{}\"", EntityName(entity), name));
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
      // SEX_FEMALE → female, RESIDENT_STATUS_MOVED_OUT → moved_out
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

Result<std::string> ParseField(uint32_t entity, uint32_t field, std::string_view text,
                               const DataKey* data_key) {
  auto msg = NewMessage(entity);
  const FieldDescriptor* fd = msg ? msg->GetDescriptor()->FindFieldByNumber(int(field)) : nullptr;
  if (!fd)
    return Status::Invalid(
        fmt::format("{} field {} is unknown to this version", EntityName(entity), field));
  if (text.empty()) return std::string();
  if (!IsValidUtf8(text)) return Status::Invalid(fmt::format("{}: not valid UTF-8", fd->name()));
  const auto* refl = msg->GetReflection();
  auto err = [&](const Status& s) {
    return Status::Invalid(fmt::format("{}: {}", fd->name(), s.message()));
  };
  if (entity == v1::ENTITY_RESIDENT && field == kMyNumberField) {
    std::string digits;
    for (char c : NarrowAscii(text)) {
      if (c != ' ' && c != '-') digits.push_back(c);
    }
    Status st = ValidateMyNumber(digits);
    if (!st.ok()) return err(st);
    if (!data_key) return Status::Invalid("this node holds no data key: it cannot store My Number");
    refl->SetString(msg.get(), fd, data_key->Seal("mynumber", digits));
  } else if (fd->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    refl->SetString(msg.get(), fd, Nfc(text));
  } else if (IsDateField(fd)) {
    auto d = ParseDate(text);
    if (!d.ok()) return err(d.status());
    refl->SetInt32(msg.get(), fd, *d);
  } else if (fd->name() == "sex") {
    auto s = ParseSex(text);
    if (!s.ok()) return err(s.status());
    refl->SetEnumValue(msg.get(), fd, *s);
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
