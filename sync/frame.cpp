// Frame encoding and incremental decoding; see frame.h for the layout.
#include "sync/frame.h"

#include <fmt/format.h>
#include <lz4.h>

#include "sync/crc32c.h"

namespace bosai::sync {
namespace {

constexpr uint8_t kFlagLz4 = 1;
constexpr size_t kHeaderBytes = 10;  // length, type, flags, crc

void PutU32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(char(v >> s));
}
uint32_t GetU32(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}
bool KnownType(uint8_t t) { return t >= 1 && t <= 5; }

}  // namespace

const char* FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "Hello";
    case FrameType::kBlocks:
      return "Blocks";
    case FrameType::kAck:
      return "Ack";
    case FrameType::kHeartbeat:
      return "Heartbeat";
    case FrameType::kError:
      return "Error";
  }
  return "?";
}

Result<std::string> EncodeFrame(FrameType type, std::string_view body, bool compress) {
  if (body.size() > kMaxBodyBytes) {
    return Status::Invalid(
        fmt::format("frame body of {} bytes exceeds {}", body.size(), kMaxBodyBytes));
  }
  std::string payload;  // what the CRC covers
  uint8_t flags = 0;
  if (compress && !body.empty()) {
    std::string packed(size_t(LZ4_compressBound(int(body.size()))), '\0');
    int n = LZ4_compress_default(body.data(), packed.data(), int(body.size()), int(packed.size()));
    if (n > 0 && size_t(n) + 4 < body.size()) {
      flags |= kFlagLz4;
      PutU32(payload, uint32_t(body.size()));
      payload.append(packed.data(), size_t(n));
    }
  }
  if (!(flags & kFlagLz4)) payload.assign(body);
  if (payload.size() + 6 > kMaxFrameBytes) {
    return Status::Invalid(
        fmt::format("frame of {} bytes exceeds {}", payload.size() + 6, kMaxFrameBytes));
  }
  std::string out;
  out.reserve(kHeaderBytes + payload.size());
  PutU32(out, uint32_t(payload.size() + 6));
  out.push_back(char(type));
  out.push_back(char(flags));
  PutU32(out, Crc32c(payload));
  out += payload;
  return out;
}

Status FrameDecoder::Feed(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  buffer_.append(bytes);
  return Status::Ok();
}

Result<std::optional<Frame>> FrameDecoder::Next() {
  if (!failed_.ok()) return failed_;
  std::string_view b = std::string_view(buffer_).substr(pos_);
  auto fail = [&](const std::string& why) {
    failed_ = Status::Invalid(fmt::format("frame {}: {}", frames_ + 1, why));
    return failed_;
  };
  if (b.size() < 4) return std::optional<Frame>();
  uint32_t rest = GetU32(b, 0);
  // Limits first: nothing is allocated for a frame that cannot be valid.
  if (rest < 6 || rest > kMaxFrameBytes) return fail(fmt::format("bad length {}", rest));
  if (b.size() >= 6) {
    if (!KnownType(uint8_t(b[4]))) return fail(fmt::format("unknown type {}", uint8_t(b[4])));
    if (uint8_t(b[5]) & ~kFlagLz4)
      return fail(fmt::format("unknown flags 0x{:02x}", uint8_t(b[5])));
  }
  if (b.size() < 4 + size_t(rest)) return std::optional<Frame>();  // wait for the rest

  Frame f;
  f.type = FrameType(uint8_t(b[4]));
  bool lz4 = uint8_t(b[5]) & kFlagLz4;
  uint32_t crc = GetU32(b, 6);
  std::string_view payload = b.substr(kHeaderBytes, rest - 6);
  if (Crc32c(payload) != crc) return fail("checksum mismatch");
  if (lz4) {
    if (payload.size() < 4) return fail("truncated compressed body");
    uint32_t raw = GetU32(payload, 0);
    if (raw == 0 || raw > kMaxBodyBytes)
      return fail(fmt::format("bad uncompressed length {}", raw));
    f.body.resize(raw);
    int n =
        LZ4_decompress_safe(payload.data() + 4, f.body.data(), int(payload.size() - 4), int(raw));
    if (n != int(raw)) return fail("body does not decompress to its stated length");
  } else {
    f.body.assign(payload);
  }
  pos_ += 4 + size_t(rest);
  ++frames_;
  return std::optional<Frame>(std::move(f));
}

}  // namespace bosai::sync
