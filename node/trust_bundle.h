// Trust bundles (DESIGN §5, §7): what a municipality's root tells its nodes and partners about
// who to trust — its root certificate, the node certificates and read grants it issued, and the
// nodes it revoked — signed by the root's status signer (so the root key stays offline) with a
// sequence number that only grows, so an older bundle cannot undo a revocation.
//
// Root directory additions (see enroll.h): status.key / status.crt (the status signer, made by
// `keys root init`, or on first use for older root dirs), issued/*.crt (every certificate and grant
// the root issued), revoked.txt (one node id per line), trust.seq (the last sequence number
// exported).
//
// Bundle file: JSON {"format": "bosai-trust-v1", "municipality", "seq", "created_ms", "root",
// "status_signer", "certificates": [PEM...], "revoked": [node ids], "signature": hex}; the
// signature covers the document without its "signature" member, serialized with sorted keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "node/node.h"

namespace bosai::node {

// At the root: records a revocation for the next trust export.
struct RootRevocation {
  bool already = false;  // revoked before: nothing changed
  // The nodes this root issued a certificate to, when NODE_ID is none of them (a mistyped id
  // would leave the node it meant trusted); empty when it is one, or the root kept no record.
  std::vector<std::string> issued_to_others;
};
Result<RootRevocation> RevokeAtRoot(const std::string& root_dir, const std::string& node_id);

struct TrustExport {
  uint64_t seq = 0;
  size_t certificates = 0;
  size_t revoked = 0;
};
Result<TrustExport> ExportTrust(const std::string& root_dir, const std::string& out_path);

struct TrustImport {
  std::string municipality;
  uint64_t seq = 0;
  size_t certificates = 0;  // admitted
  size_t revoked = 0;
  bool self_revoked = false;  // the bundle revokes this node: its peers refuse it from now on
};
// On a node: verifies the bundle against the root this node trusts for that municipality and
// applies it; a bundle not newer than the last one imported is refused.
Result<TrustImport> ImportTrust(Node& node, const std::string& path);

// Makes the root's status signer (status.key, status.crt) if the root dir has none.
Status EnsureStatusSigner(const std::string& root_dir);

// Keeps a copy of a certificate the root issued, for trust exports.
Status RecordIssued(const std::string& root_dir, const std::string& name, const std::string& pem);

// Whether the root may certify a node id to another key than before: never for a request
// (`keys node issue`); for `init --root-key`, by which drills make their nodes again under the
// same ids (a peer that holds the old node's writes still refuses the new one: TrustStore).
enum class AnotherKey { kRefused, kAllowed };

// At the root, before it certifies PUBLIC_KEY (raw Ed25519) as NODE_ID. Refused when NODE_ID is
// revoked (its peers would refuse the certificate); when the root certified that key as another
// node (one key is one node: a device holding it would sync as both, and revoking one would leave
// the other trusted); and when it certified NODE_ID to another key (its writes are signed with
// that key: peers that hold them refuse a new one, and the new device's writes would otherwise
// never reach them), unless ANOTHER_KEY allows it.
Status CheckIssue(const std::string& root_dir, const std::string& node_id,
                  const std::string& public_key, AnotherKey another_key);

}  // namespace bosai::node
