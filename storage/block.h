// Signed op-log blocks: the unit in which ops are stored, shipped and relayed (DESIGN §4).
// A block holds consecutive ops of one stream (incarnation, scope), LZ4-compressed, signed by the
// origin incarnation with Ed25519 so that any relay can forward it and none can forge it.
// Pure functions, thread-safe.
//
// Encoding (big-endian integers):
//   offset  size  field
//   0       4     magic "BOB1"
//   4       2     origin length n            (1..128)
//   6       n     origin incarnation, e.g. "042021-honcho#1"
//   .       2     scope length m             (1..64)
//   .       m     scope, e.g. "042021" or "042021/mynumber"
//   .       8     first_seq                  (>= 1)
//   .       4     op count                   (1..kMaxBlockOps)
//   .       8     highest HLC of the ops
//   .       4     uncompressed payload length (<= kMaxBlockRawBytes)
//   .       4     compressed payload length c
//   .       c     LZ4 block format of a bosai.v1.OpBatch
//   .       64    Ed25519 signature over every byte before it
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bosai/v1/ops.pb.h"
#include "storage/crypto.h"
#include "storage/status.h"

namespace bosai {

inline constexpr uint32_t kMaxBlockOps = 4096;
inline constexpr uint32_t kMaxBlockRawBytes = 4u << 20;     // decoder limit
inline constexpr uint32_t kTargetBlockRawBytes = 1u << 20;  // encoder closes a block here
inline constexpr size_t kBlockSignatureBytes = 64;

struct BlockHeader {
  std::string origin;  // incarnation
  std::string scope;
  uint64_t first_seq = 0;
  uint32_t count = 0;
  uint64_t max_hlc = 0;
  uint64_t last_seq() const { return first_seq + count - 1; }
};

// Compresses and signs a batch. batch.ops must be non-empty.
std::string EncodeBlock(const BlockHeader& header, const v1::OpBatch& batch, const SigningKey& key);

// Parses the header and checks the layout and limits, without verifying the signature or
// decompressing. Every length is checked before it is used.
Result<BlockHeader> ParseBlockHeader(std::string_view block);

// Checks the signature against the origin's public key.
Status VerifyBlock(std::string_view block, std::string_view origin_public_key);

// Decompresses and parses the payload; checks that it holds header.count ops.
Result<v1::OpBatch> DecodeBlockPayload(std::string_view block);

// The signature: the last bytes of a block, a name for its content (empty when too short).
inline std::string_view BlockSignature(std::string_view block) {
  return block.size() < kBlockSignatureBytes ? std::string_view()
                                             : block.substr(block.size() - kBlockSignatureBytes);
}

// Decompresses the payload (an encoded v1::OpBatch) without parsing it.
Result<std::string> DecompressBlockPayload(std::string_view block);

}  // namespace bosai
