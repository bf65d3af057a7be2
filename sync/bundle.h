// Offline bundles (DESIGN §5): the blocks a peer lacks, in a file signed by the exporting node.
//
// File layout:
//   offset  size  field
//   0       16    magic "BOSAI-BUNDLE-v1\n"
//   16      8     body length n, big-endian (<= kMaxBundleBytes)
//   24      n     body: bosai.sync.v1.Bundle (protobuf)
//   24+n    64    Ed25519 signature by the exporter over bytes 0 .. 24+n
// Import checks the layout, the exporter's certificate and the signature before it looks at
// any block, then verifies and applies every block like a sync session does (origin signature,
// write scope, contiguity; blocks too far ahead are held) in one transaction: a bad bundle
// applies nothing, and importing a bundle twice changes nothing.
#pragma once

#include <cstdint>
#include <string>

#include "storage/store.h"
#include "sync/trust_store.h"

namespace bosai::sync {

inline constexpr uint64_t kMaxBundleBytes = 1ull << 31;

struct ExportResult {
  uint64_t blocks = 0;
  uint64_t ops = 0;
  uint64_t bytes = 0;
};
// Writes the blocks above `base` that `reader` may read (reader null: every stream).
Result<ExportResult> ExportBundle(Store& store, const TrustStore& trust, const VersionVector& base,
                                  const NodeCertificate* reader, const std::string& for_node,
                                  const std::string& out_path);

struct ImportResult {
  std::string exporter;
  uint64_t blocks = 0;   // in the bundle
  uint64_t applied = 0;  // blocks that added ops
  uint64_t held = 0;     // blocks held for their clock
  uint64_t ops = 0;      // ops added
};
Result<ImportResult> ImportBundle(Store& store, TrustStore& trust, const std::string& path,
                                  int64_t now_ms, int64_t max_offset_ms);

// Verifies and applies blocks carried from elsewhere (a bundle's, a lost node's backup's) like a
// session does, in one write transaction by AUTHOR: BLOCKS calls its sink with each, in sequence
// order per stream. The first block refused (InvalidArgument "block N: why") undoes all.
// Origins' keys and write scopes come from TRUST: admit the certificates that came with the
// blocks first.
using BlockSink = std::function<Status(std::string_view block)>;
Result<ImportResult> ApplyCarried(Store& store, TrustStore& trust, const std::string& author,
                                  const std::function<Status(const BlockSink&)>& blocks,
                                  int64_t now_ms, int64_t max_offset_ms);

// Vector files (`bosai sync vector --out F`): JSON {"node", "incarnation", "vector": [...]}.
std::string VectorToJson(const std::string& node_id, const std::string& incarnation,
                         const VersionVector& vv);
Result<VersionVector> VectorFromJson(const std::string& text, const std::string& what);

}  // namespace bosai::sync
