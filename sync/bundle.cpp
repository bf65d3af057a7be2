// Offline bundles; see bundle.h.
#include "sync/bundle.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

#include "bosai/sync/v1/sync.pb.h"
#include "storage/files.h"
#include "sync/carried_file.h"
#include "sync/held.h"

namespace bosai::sync {
namespace {

constexpr std::string_view kMagic = "BOSAI-BUNDLE-v1\n";
constexpr size_t kHeaderBytes = 24;
constexpr size_t kSignatureBytes = 64;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(char((v >> (8 * i)) & 0xff));
}

uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | uint8_t(in[size_t(i)]);
  return v;
}

}  // namespace

Result<ExportResult> ExportBundle(Store& store, const TrustStore& trust, const VersionVector& base,
                                  const NodeCertificate* reader, const std::string& for_node,
                                  const std::string& out_path) {
  if (!store.identity()) return Status::Invalid("this node has no identity");
  v1::Bundle bundle;
  bundle.set_exporter(store.identity()->incarnation());
  bundle.set_created_ms(SystemClock::Get()->NowMillis());
  bundle.set_for_node(for_node);
  for (const auto& [id, seq] : base) {
    auto* e = bundle.add_base();
    e->set_incarnation(id.incarnation);
    e->set_scope(id.scope);
    e->set_seq(seq);
  }
  ExportResult r;
  BOSAI_RETURN_IF_ERROR(store.ReadBlocks(
      base, [&](const StreamId& s) { return !reader || TrustStore::MayRead(*reader, s); },
      [&](std::string_view block) -> Status {
        BOSAI_ASSIGN_OR_RETURN(BlockHeader h, ParseBlockHeader(block));
        bundle.add_blocks(std::string(block));
        r.blocks++;
        r.ops += h.count;
        return Status::Ok();
      }));
  bundle.add_certificates(trust.own_certificate());
  NodeCertificate nobody;
  for (const auto& pem : trust.CertificatesFor(reader ? *reader : nobody)) {
    if (pem != trust.own_certificate()) bundle.add_certificates(pem);
  }
  std::string body = bundle.SerializeAsString();
  if (body.size() > kMaxBundleBytes) {
    return Status::Invalid(fmt::format("the bundle would be {} bytes, over the limit of {}",
                                       body.size(), kMaxBundleBytes));
  }
  std::string file(kMagic);
  PutU64(file, body.size());
  file += body;
  file += store.identity()->key.Sign(file);
  BOSAI_RETURN_IF_ERROR(WriteFileAtomically(out_path, file, /*secret=*/false));
  r.bytes = file.size();
  return r;
}

Result<ImportResult> ImportBundle(Store& store, TrustStore& trust, const std::string& path,
                                  int64_t now_ms, int64_t max_offset_ms) {
  BOSAI_ASSIGN_OR_RETURN(InputFile in, InputFile::Open(path));
  auto bad = [&](const std::string& why) {
    return Status::Invalid(fmt::format("{}: {}", in.name(), why));
  };
  std::string header;
  BOSAI_RETURN_IF_ERROR(in.ReadUpTo(kHeaderBytes, &header));
  if (header.empty()) return bad("the file is empty, not a bosai bundle");
  if (header.size() != kHeaderBytes || !header.starts_with(kMagic)) {
    std::string head = header;  // a trust bundle's format follows its certificates
    BOSAI_RETURN_IF_ERROR(in.ReadUpTo((size_t(1) << 20) - head.size(), &head));
    return bad("not a bosai bundle (magic at offset 0)" +
               OtherFileNote(head, CarriedFile::kSyncBundle));
  }
  uint64_t n = GetU64(std::string_view(header).substr(kMagic.size()));
  if (n > kMaxBundleBytes) {
    return bad(fmt::format("body length {} at offset 16 is over the limit {}", n, kMaxBundleBytes));
  }
  // Read in pieces: a length the file does not hold allocates no more than it does hold.
  std::string rest;
  BOSAI_RETURN_IF_ERROR(in.ReadUpTo(n + kSignatureBytes, &rest));
  if (rest.size() != n + kSignatureBytes) {
    return bad(fmt::format("truncated: {} of {} bytes after the header", rest.size(),
                           n + kSignatureBytes));
  }
  BOSAI_ASSIGN_OR_RETURN(bool at_end, in.AtEnd());
  if (!at_end) return bad("trailing bytes after the signature");
  std::string_view body = std::string_view(rest).substr(0, n);
  std::string_view signature = std::string_view(rest).substr(n);
  v1::Bundle bundle;
  if (!bundle.ParseFromArray(body.data(), int(body.size()))) {
    return bad(
        "body does not parse: the file is damaged (export it again from the node that wrote it)");
  }
  if (bundle.certificates_size() == 0) return bad("no exporter certificate");
  auto exporter = trust.Admit(bundle.certificates(0));
  if (!exporter.ok()) return bad("exporter certificate: " + exporter.status().message());
  if (NodeOfIncarnation(bundle.exporter()) != exporter->node_id) {
    return bad(fmt::format("exporter {} does not match its certificate ({})", bundle.exporter(),
                           exporter->node_id));
  }
  if (!VerifySignature(exporter->public_key, header + std::string(body), signature)) {
    return bad(
        fmt::format("signature of {} does not verify: the file was altered", bundle.exporter()));
  }
  for (int i = 1; i < bundle.certificates_size(); ++i) (void)trust.Admit(bundle.certificates(i));

  auto r = ApplyCarried(
      store, trust, "bundle:" + bundle.exporter(),
      [&](const BlockSink& sink) {
        for (const std::string& block : bundle.blocks()) BOSAI_RETURN_IF_ERROR(sink(block));
        return Status::Ok();
      },
      now_ms, max_offset_ms);
  if (!r.ok()) {
    if (r.status().code() != Status::Code::kInvalidArgument) return r.status();  // (busy, I/O)
    return bad(r.status().message() + "; nothing was imported");
  }
  r->exporter = bundle.exporter();
  return r;
}

Result<ImportResult> ApplyCarried(Store& store, TrustStore& trust, const std::string& author,
                                  const std::function<Status(const BlockSink&)>& blocks,
                                  int64_t now_ms, int64_t max_offset_ms) {
  ImportResult r;
  BOSAI_RETURN_IF_ERROR(EnsureHeldSchema(store));
  BOSAI_ASSIGN_OR_RETURN(VersionVector before, store.Vector());
  // Into a store that holds no records yet (a node provisioned from a bundle, or one a lost
  // node's backup is taken into): the bulk path of a first sync, each record built once at the
  // end rather than merged op by op.
  BOSAI_ASSIGN_OR_RETURN(const bool bootstrapping, store.BeginBootstrap());
  if (Status begun = store.BeginWrite(author); !begun.ok()) {
    if (bootstrapping) (void)store.EndBootstrap();
    return begun;
  }
  std::set<StreamId> held_streams;
  Status st = blocks([&](std::string_view block) -> Status {
    auto received = ApplyOrHold(store, block, trust.keys(), trust.may_write(), now_ms,
                                max_offset_ms, held_streams);
    if (!received.ok()) {
      return Status::Invalid(fmt::format("block {}: {}", r.blocks, received.status().message()));
    }
    ++r.blocks;
    if (received->held) ++r.held;
    return Status::Ok();
  });
  if (!st.ok()) {
    store.AbortWrite();
    if (bootstrapping) (void)store.EndBootstrap();  // (nothing to build)
    return st;
  }
  Status committed = store.CommitWrite();
  if (bootstrapping) {
    Status built = store.EndBootstrap();  // (after a crash, the next open builds them)
    if (committed.ok()) committed = built;
  }
  BOSAI_RETURN_IF_ERROR(committed);
  BOSAI_ASSIGN_OR_RETURN(VersionVector after, store.Vector());
  for (const auto& [stream, seq] : after) {
    auto it = before.find(stream);
    uint64_t had = it == before.end() ? 0 : it->second;
    if (seq > had) {
      r.ops += seq - had;
      ++r.applied;
    }
  }
  return r;
}

std::string VectorToJson(const std::string& node_id, const std::string& incarnation,
                         const VersionVector& vv) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& [id, seq] : vv) {
    entries.push_back({{"incarnation", id.incarnation}, {"scope", id.scope}, {"seq", seq}});
  }
  nlohmann::json doc = {{"node", node_id}, {"incarnation", incarnation}, {"vector", entries}};
  return doc.dump(2) + "\n";
}

Result<VersionVector> VectorFromJson(const std::string& text, const std::string& what) {
  VersionVector vv;
  try {
    auto doc = nlohmann::json::parse(text);
    const auto& entries = doc.at("vector");
    size_t i = 0;
    for (const auto& e : entries) {
      const auto& seq = e.at("seq");
      if (!seq.is_number_unsigned()) {
        return Status::Invalid(fmt::format("{}: vector[{}].seq is not a sequence number", what, i));
      }
      vv[{e.at("incarnation").get<std::string>(), e.at("scope").get<std::string>()}] =
          seq.get<uint64_t>();
      ++i;
    }
  } catch (const nlohmann::json::exception& e) {
    const std::string other = OtherFileNote(text, CarriedFile::kVector);
    if (!other.empty()) return Status::Invalid(fmt::format("{}: not a vector file{}", what, other));
    return Status::Invalid(fmt::format("{}: not a vector file: {}", what, JsonMessage(e.what())));
  }
  return vv;
}

}  // namespace bosai::sync
