// Record body codec: LZ4 against a per-store dictionary; see record_codec.h.
#include "storage/record_codec.h"

// LZ4_attach_dictionary is part of LZ4's static API: linked from its static library.
#define LZ4_STATIC_LINKING_ONLY
#include <fmt/format.h>
#include <lz4.h>

namespace bosai {
namespace {

constexpr char kCompressed = 0x01;
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

}  // namespace bosai
