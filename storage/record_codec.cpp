// Record body codec: LZ4 against a per-store dictionary; see record_codec.h.
#include "storage/record_codec.h"

// LZ4_attach_dictionary is part of LZ4's static API: linked from its static library.
#define LZ4_STATIC_LINKING_ONLY
#include <fmt/format.h>
#include <lz4.h>

#include "bosai/v1/ops.pb.h"

namespace bosai {
namespace {

constexpr char kCompressed = 0x01;
constexpr char kClockForm = 0x02;
constexpr char kProtobufClock = 0x0A;  // field 1 (stamps), length-delimited
// A decoded body larger than this is a damaged header, not a record.
constexpr uint64_t kMaxBodyBytes = uint64_t(64) << 20;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += char(v | 0x80);
    v >>= 7;
  }
  out += char(v);
}

bool GetVarint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    auto byte = uint8_t(in.front());
    in.remove_prefix(1);
    v |= uint64_t(byte & 0x7f) << shift;
    if (byte < 0x80) return true;
  }
  return false;
}

}  // namespace

struct RecordDictionary::Stream {
  LZ4_stream_t lz4;
};

RecordDictionary::RecordDictionary(uint32_t id, std::string data)
    : id_(id), data_(std::move(data)), stream_(std::make_unique<Stream>()) {
  LZ4_initStream(&stream_->lz4, sizeof(stream_->lz4));
  LZ4_loadDict(&stream_->lz4, data_.data(), int(data_.size()));
}

RecordDictionary::~RecordDictionary() = default;

std::string RecordDictionary::Compress(std::string_view body) const {
  // Each thread's working stream; the dictionary's stream is only read.
  struct Working {
    Working() { LZ4_initStream(&lz4, sizeof(lz4)); }
    LZ4_stream_t lz4;
  };
  thread_local Working working;
  std::string out;
  out += kCompressed;
  PutVarint(out, id_);
  PutVarint(out, body.size());
  const size_t header = out.size();
  out.resize(header + size_t(LZ4_compressBound(int(body.size()))));
  LZ4_resetStream_fast(&working.lz4);
  LZ4_attach_dictionary(&working.lz4, &stream_->lz4);
  int n = LZ4_compress_fast_continue(&working.lz4, body.data(), out.data() + header,
                                     int(body.size()), int(out.size() - header), 1);
  if (n <= 0 || header + size_t(n) >= body.size()) return std::string(body);
  out.resize(header + size_t(n));
  return out;
}

std::string MakeDictionaryBytes(const std::vector<std::string_view>& samples) {
  std::string out;
  size_t total = 0;
  size_t first = samples.size();
  while (first > 0 && total < kMaxDictionaryBytes) total += samples[--first].size();
  for (size_t i = first; i < samples.size(); ++i) out += samples[i];
  if (out.size() > kMaxDictionaryBytes) out.erase(0, out.size() - kMaxDictionaryBytes);
  return out;
}

Result<const RecordDictionary*> RecordCodec::Dictionary(uint32_t id) {
  auto it = dictionaries_.find(id);
  if (it != dictionaries_.end()) return it->second.get();
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> data, loader_(id));
  if (!data) return Status::Corruption(fmt::format("record dictionary {} is missing", id));
  auto dict = std::make_unique<RecordDictionary>(id, std::move(*data));
  return dictionaries_.emplace(id, std::move(dict)).first->second.get();
}

Result<std::string_view> RecordCodec::Decode(std::string_view stored, std::string& buffer) {
  if (!IsCompressedBody(stored)) return stored;
  std::string_view in = stored.substr(1);
  uint64_t id = 0, size = 0;
  if (!GetVarint(in, id) || id == 0 || id > UINT32_MAX || !GetVarint(in, size) ||
      size > kMaxBodyBytes) {
    return Status::Corruption("a compressed record body has a damaged header");
  }
  BOSAI_ASSIGN_OR_RETURN(const RecordDictionary* dict, Dictionary(uint32_t(id)));
  buffer.resize(size_t(size));
  int n = LZ4_decompress_safe_usingDict(in.data(), buffer.data(), int(in.size()), int(size),
                                        dict->data().data(), int(dict->data().size()));
  if (n < 0 || uint64_t(n) != size) {
    return Status::Corruption("a compressed record body does not decompress");
  }
  return std::string_view(buffer);
}

namespace {

uint64_t ZigZag(int64_t v) { return (uint64_t(v) << 1) ^ uint64_t(v >> 63); }
int64_t UnZigZag(uint64_t v) { return int64_t(v >> 1) ^ -int64_t(v & 1); }

bool DecodeProtobufClock(std::string_view stored, StoredClock* out) {
  v1::RecordClock clock;
  if (!clock.ParseFromArray(stored.data(), int(stored.size())) ||
      clock.field_stamp_size() % 2 != 0) {
    return false;
  }
  for (const auto& st : clock.stamps()) {
    out->stamps.push_back({st.stream(), st.seq(), st.hlc(), st.register_()});
  }
  for (int i = 0; i < clock.field_stamp_size(); i += 2) {
    out->fields.emplace_back(clock.field_stamp(i), clock.field_stamp(i + 1));
  }
  out->siblings = clock.siblings();
  return true;
}

// The compact form, after its first byte.
bool DecodeCompactClock(std::string_view in, StoredClock* out) {
  uint64_t n = 0;
  // A stamp takes at least three bytes: no count beyond what the bytes can hold is believed.
  if (!GetVarint(in, n) || n > in.size()) return false;
  uint64_t first_hlc = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t stream = 0, seq = 0, hlc = 0;
    if (!GetVarint(in, stream) || (stream >> 1) > UINT32_MAX || !GetVarint(in, seq)) return false;
    if (i == 0) {
      if (in.size() < 8) return false;
      for (int b = 0; b < 8; ++b) hlc |= uint64_t(uint8_t(in[b])) << (8 * b);
      in.remove_prefix(8);
      first_hlc = hlc;
    } else {
      uint64_t diff = 0;
      if (!GetVarint(in, diff)) return false;
      hlc = first_hlc + uint64_t(UnZigZag(diff));
    }
    out->stamps.push_back({uint32_t(stream >> 1), seq, hlc, (stream & 1) != 0});
  }
  uint64_t m = 0;
  if (!GetVarint(in, m) || m > in.size()) return false;
  for (uint64_t i = 0; i < m; ++i) {
    uint64_t field = 0, index = 0;
    if (!GetVarint(in, field) || field > UINT32_MAX || !GetVarint(in, index)) return false;
    out->fields.emplace_back(uint32_t(field), uint32_t(std::min<uint64_t>(index, UINT32_MAX)));
  }
  uint64_t siblings = 0;
  if (!GetVarint(in, siblings) || siblings > UINT32_MAX || !in.empty()) return false;
  out->siblings = uint32_t(siblings);
  return true;
}

}  // namespace

void EncodeClock(const StoredClock& clock, std::string* out) {
  out->clear();
  *out += kClockForm;
  PutVarint(*out, clock.stamps.size());
  const uint64_t first_hlc = clock.stamps.empty() ? 0 : clock.stamps[0].hlc;
  for (size_t i = 0; i < clock.stamps.size(); ++i) {
    const ClockStamp& st = clock.stamps[i];
    PutVarint(*out, uint64_t(st.stream) << 1 | uint64_t(st.reg));
    PutVarint(*out, st.seq);
    if (i == 0) {
      for (int b = 0; b < 8; ++b) *out += char(st.hlc >> (8 * b));
    } else {
      PutVarint(*out, ZigZag(int64_t(st.hlc - first_hlc)));
    }
  }
  PutVarint(*out, clock.fields.size());
  for (const auto& [field, index] : clock.fields) {
    PutVarint(*out, field);
    PutVarint(*out, index);
  }
  PutVarint(*out, clock.siblings);
}

Status DecodeClock(std::string_view stored, StoredClock* out) {
  out->stamps.clear();
  out->fields.clear();
  out->siblings = 0;
  bool ok = false;
  if (!stored.empty() && stored.front() == kProtobufClock) {
    ok = DecodeProtobufClock(stored, out);
  } else if (!stored.empty() && stored.front() == kClockForm) {
    ok = DecodeCompactClock(stored.substr(1), out);
  }
  ok = ok && !out->stamps.empty();
  for (const auto& [field, index] : out->fields) ok = ok && index < out->stamps.size();
  return ok ? Status::Ok() : Status::Corruption("damaged clock");
}

}  // namespace bosai
