// Wire frames of the sync protocol (DESIGN §5), independent of any transport. Encoding is a pure
// function; FrameDecoder takes bytes as they arrive and yields whole frames, checking every
// length against its limit before it allocates or decompresses anything. Not thread-safe: a
// decoder belongs to one session.
//
// Frame layout (big-endian):
//   offset  size  field
//   0       4     length of the rest of the frame (type onwards), 6 .. kMaxFrameBytes
//   4       1     type (FrameType)
//   5       1     flags: bit 0 = body is LZ4 (block format); other bits must be 0
//   6       4     CRC-32C of every byte after this field
//   10      4     uncompressed body length, only when bit 0 is set (<= kMaxBodyBytes)
//   10|14   n     body
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/status.h"

namespace bosai::sync {

inline constexpr uint32_t kMaxFrameBytes = 4u << 20;  // after the length field
inline constexpr uint32_t kMaxBodyBytes = 8u << 20;   // a body once decompressed

enum class FrameType : uint8_t {
  kHello = 1,
  kBlocks = 2,
  kAck = 3,
  kHeartbeat = 4,
  kError = 5,
};
const char* FrameTypeName(FrameType type);

struct Frame {
  FrameType type = FrameType::kHeartbeat;
  std::string body;  // decompressed
};

// Encodes a frame; compresses the body with LZ4 when that makes it smaller (and compress is
// true). The body must fit the limits.
Result<std::string> EncodeFrame(FrameType type, std::string_view body, bool compress = true);

class FrameDecoder {
 public:
  // Appends received bytes. Fails (and stays failed) on a frame that breaks the layout, a limit
  // or its checksum; the message names the frame by its position in the stream.
  Status Feed(std::string_view bytes);
  // The next whole frame, if one has arrived.
  Result<std::optional<Frame>> Next();
  // Bytes held that do not yet form a whole frame.
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  std::string buffer_;
  size_t pos_ = 0;
  uint64_t frames_ = 0;  // frames decoded so far, for error messages
  Status failed_;
};

}  // namespace bosai::sync
