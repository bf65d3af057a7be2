// Block encoding, verification and decoding; see block.h for the byte layout.
#include "storage/block.h"

#include <fmt/format.h>
#include <lz4.h>
#include <lz4hc.h>

namespace bosai {
namespace {

constexpr std::string_view kMagic = "BOB1";
constexpr int kBlockCompressionLevel = 2;
// A block whose first kProbeBytes plain LZ4 leaves above kHardlyCompressible of their size is
// stored with plain LZ4: mostly ciphertext (the My Number scope's ops), on which LZ4 HC spends
// as long as on a whole register block to gain a few percent.
constexpr size_t kProbeBytes = 64 << 10;
constexpr double kHardlyCompressible = 0.5;

// LZ4 HC: blocks are written once and sent and read many times; decoding is as fast as plain LZ4.
// Level 2 makes them markedly smaller than plain LZ4 on register data; higher levels gain a few
// percent more for up to twice the encoding time, which a first import waits for.
std::string Compress(std::string_view raw) {
  std::string out(LZ4_compressBound(int(raw.size())), '\0');
  int n = 0;
  if (raw.size() > kProbeBytes) {
    n = LZ4_compress_default(raw.data(), out.data(), int(kProbeBytes), int(out.size()));
  }
  n = n > kHardlyCompressible * kProbeBytes
          ? LZ4_compress_default(raw.data(), out.data(), int(raw.size()), int(out.size()))
          : LZ4_compress_HC(raw.data(), out.data(), int(raw.size()), int(out.size()),
                            kBlockCompressionLevel);
  out.resize(n);
  return out;
}

void PutU16(std::string& out, uint32_t v) {
  out.push_back(char(v >> 8));
  out.push_back(char(v));
}
void PutU32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(char(v >> s));
}
void PutU64(std::string& out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(char(v >> s));
}

// Reads big-endian fields from a byte string, failing once past its end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U16(uint32_t* v) { return Int(2, v); }
  bool U32(uint32_t* v) { return Int(4, v); }
  bool U64(uint64_t* v) { return Int(8, v); }
  bool Bytes(size_t n, std::string_view* out) {
    if (data_.size() - pos_ < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  template <typename T>
  bool Int(size_t n, T* v) {
    if (data_.size() - pos_ < n) return false;
    T x = 0;
    for (size_t i = 0; i < n; ++i) x = (x << 8) | uint8_t(data_[pos_ + i]);
    pos_ += n;
    *v = x;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

struct Layout {
  BlockHeader header;
  uint32_t raw_len = 0;
  std::string_view payload;
  size_t signed_len = 0;
};

Result<Layout> Parse(std::string_view block) {
  Layout l;
  Reader r(block);
  std::string_view magic, origin, scope;
  uint32_t origin_len = 0, scope_len = 0, comp_len = 0;
  auto bad = [](std::string_view what) {
    return Status::Corruption(fmt::format("block: {}", what));
  };
  if (!r.Bytes(4, &magic) || magic != kMagic) return bad("not a bosai op-log block");
  if (!r.U16(&origin_len) || origin_len == 0 || origin_len > 128 || !r.Bytes(origin_len, &origin)) {
    return bad("bad origin");
  }
  if (!r.U16(&scope_len) || scope_len == 0 || scope_len > 64 || !r.Bytes(scope_len, &scope)) {
    return bad("bad scope");
  }
  if (!r.U64(&l.header.first_seq) || l.header.first_seq == 0) return bad("bad first sequence");
  if (!r.U32(&l.header.count) || l.header.count == 0 || l.header.count > kMaxBlockOps) {
    return bad("bad op count");
  }
  if (!r.U64(&l.header.max_hlc)) return bad("truncated header");
  if (!r.U32(&l.raw_len) || l.raw_len > kMaxBlockRawBytes) return bad("payload too large");
  if (!r.U32(&comp_len) || comp_len > uint32_t(LZ4_compressBound(int(l.raw_len))) ||
      !r.Bytes(comp_len, &l.payload)) {
    return bad("truncated payload");
  }
  l.signed_len = r.pos();
  if (block.size() != l.signed_len + kBlockSignatureBytes) return bad("bad length");
  l.header.origin = std::string(origin);
  l.header.scope = std::string(scope);
  return l;
}

}  // namespace

std::string EncodeBlock(const BlockHeader& header, const v1::OpBatch& batch,
                        const SigningKey& key) {
  std::string raw;
  batch.SerializeToString(&raw);
  std::string compressed = Compress(raw);

  std::string out;
  out.reserve(64 + header.origin.size() + header.scope.size() + compressed.size());
  out += kMagic;
  PutU16(out, header.origin.size());
  out += header.origin;
  PutU16(out, header.scope.size());
  out += header.scope;
  PutU64(out, header.first_seq);
  PutU32(out, uint32_t(batch.ops_size()));
  PutU64(out, header.max_hlc);
  PutU32(out, uint32_t(raw.size()));
  PutU32(out, uint32_t(compressed.size()));
  out += compressed;
  out += key.Sign(out);
  return out;
}

Result<BlockHeader> ParseBlockHeader(std::string_view block) {
  BOSAI_ASSIGN_OR_RETURN(Layout l, Parse(block));
  return l.header;
}

Status VerifyBlock(std::string_view block, std::string_view origin_public_key) {
  BOSAI_ASSIGN_OR_RETURN(Layout l, Parse(block));
  if (!VerifySignature(origin_public_key, block.substr(0, l.signed_len),
                       block.substr(l.signed_len))) {
    return Status::Corruption(fmt::format("block {} seq {}: signature does not verify",
                                          l.header.origin, l.header.first_seq));
  }
  return Status::Ok();
}

Result<std::string> DecompressBlockPayload(std::string_view block) {
  BOSAI_ASSIGN_OR_RETURN(Layout l, Parse(block));
  std::string raw(l.raw_len, '\0');
  int n = LZ4_decompress_safe(l.payload.data(), raw.data(), int(l.payload.size()), int(raw.size()));
  if (n != int(l.raw_len)) return Status::Corruption("block: payload does not decompress");
  return raw;
}

Result<v1::OpBatch> DecodeBlockPayload(std::string_view block) {
  BOSAI_ASSIGN_OR_RETURN(Layout l, Parse(block));
  BOSAI_ASSIGN_OR_RETURN(std::string raw, DecompressBlockPayload(block));
  v1::OpBatch batch;
  if (!batch.ParseFromString(raw)) return Status::Corruption("block: payload does not parse");
  if (uint32_t(batch.ops_size()) != l.header.count) {
    return Status::Corruption("block: op count does not match the header");
  }
  if (batch.peers_size() == 0 || batch.peers(0) != l.header.origin) {
    return Status::Corruption("block: peer table does not start with the origin");
  }
  for (const auto& op : batch.ops()) {
    if (op.hlc() > l.header.max_hlc) return Status::Corruption("block: op stamped past its header");
    for (const auto& w : op.writes()) {
      if (w.context_peer_size() != w.context_seq_size()) {
        return Status::Corruption("block: malformed causal context");
      }
      for (uint32_t p : w.context_peer()) {
        if (int(p) >= batch.peers_size())
          return Status::Corruption("block: context names an unknown peer");
      }
    }
  }
  return batch;
}

}  // namespace bosai
