// Wire-format field splitting; see fields.h.
#include "storage/fields.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

namespace bosai {

using google::protobuf::internal::WireFormatLite;

Result<FieldMap> SplitFields(std::string_view encoded) {
  FieldMap out;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(encoded.data()),
                                            static_cast<int>(encoded.size()));
  while (true) {
    int start = in.CurrentPosition();
    uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (in.CurrentPosition() != static_cast<int>(encoded.size())) {
        return Status::Corruption(fmt::format("record body: bad tag at byte {}", start));
      }
      break;
    }
    uint32_t field = WireFormatLite::GetTagFieldNumber(tag);
    auto wire_type = WireFormatLite::GetTagWireType(tag);
    if (field == 0 || wire_type == WireFormatLite::WIRETYPE_END_GROUP ||
        !WireFormatLite::SkipField(&in, tag)) {
      return Status::Corruption(fmt::format("record body: malformed field at byte {}", start));
    }
    out[field].append(encoded.substr(start, in.CurrentPosition() - start));
  }
  return out;
}

std::string JoinFields(const FieldMap& fields) {
  size_t n = 0;
  for (const auto& [num, bytes] : fields) n += bytes.size();
  std::string out;
  out.reserve(n);
  for (const auto& [num, bytes] : fields) out += bytes;
  return out;
}

}  // namespace bosai
