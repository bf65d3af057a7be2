// What one node trusts and what it has learned of other nodes (DESIGN §5, §7): the roots it
// accepts, the node certificates it has verified (its own, its peers', and those of origins whose
// blocks it relays), and the nodes revoked. From these come the origin keys and write scopes that
// every received block is checked against, and the streams a peer may be sent.
//
// Files (in the data dir's keys folder): root.crt (the municipality's root), roots/*.crt (roots
// of partner municipalities), node.crt (this node), grants/*.crt (read grants other
// municipalities' roots gave this node). Node-local tables in the store's database:
//   sync_certificates(node_id, root, pem)  verified node certificates and read grants (by the
//                                          municipality of the root that signed them), sent on in
//                                          Hello for relay
//   sync_revoked(node_id, since)      revoked nodes (from the root's trust export)
// Not thread-safe: it belongs to the thread that owns the store.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storage/store.h"
#include "sync/trust.h"

namespace bosai::sync {

class TrustStore {
 public:
  static Result<std::unique_ptr<TrustStore>> Load(Store& store, const std::string& keys_dir);
  // The node certificates and read grants another node's store had verified (a backup's), as
  // (node id, PEM): to Admit here, none trusted as it is. Empty when that node never loaded its
  // trust.
  static Result<std::vector<std::pair<std::string, std::string>>> CertificatesIn(Store& store);

  const NodeCertificate& self() const { return self_; }
  const std::string& own_certificate() const { return own_pem_; }
  const std::vector<std::string>& root_certificates() const { return root_pems_; }

  // Verifies a node certificate or read grant against the roots and the revocations, and
  // records it. Refuses a node certificate for another key than the one this store recorded
  // for an incarnation of that node (Store::IncarnationWithOtherKey).
  Result<NodeCertificate> Admit(const std::string& pem);
  // What a node may do: its own certificate, with the read scopes of its grants added.
  const NodeCertificate* Find(const std::string& node_id) const;
  bool revoked(const std::string& node_id) const { return revoked_.count(node_id) > 0; }
  Status Revoke(const std::string& node_id, int64_t now_ms);
  // Re-reads the revocations other processes may have recorded.
  Status LoadRevoked();
  // Admits the certificates other processes recorded since (a bundle imported, a lost node's
  // backup taken in, while a daemon runs): how many are new here. One refused is not tried again.
  Result<size_t> LoadLearned();

  // Public key of an incarnation ("node#epoch"), from its node's certificate.
  KeyLookup keys() const;
  // Whether an incarnation's certificate grants write scope for a scope.
  WriteScopeCheck may_write() const;
  // Whether a node may read a stream (by the certificate of that node).
  static bool MayRead(const NodeCertificate& reader, const StreamId& stream);
  // Certificates to send a peer: this node's first, then every other known one it may need to
  // verify what is relayed to it.
  std::vector<std::string> CertificatesFor(const NodeCertificate& peer) const;

 private:
  explicit TrustStore(Store& store) : store_(store) {}

  Store& store_;
  std::vector<std::string> root_pems_;
  std::map<std::string, std::string> roots_;  // municipality -> root PEM
  NodeCertificate self_;
  std::string own_pem_;
  std::vector<std::string> own_grants_;
  struct Known {
    NodeCertificate own;  // from its own municipality's root; empty node_id until seen
    std::string own_pem;
    std::map<std::string, std::pair<NodeCertificate, std::string>> grants;  // root -> grant
    NodeCertificate effective;  // own, plus the read scopes of grants for the same key
  };
  static void Recompute(Known& k);
  std::map<std::string, Known> known_;  // node id -> verified certificate
  std::set<std::string> refused_;       // recorded certificates Admit refused (LoadLearned)
  std::pair<int64_t, int64_t> learned_mark_{-1, -1};  // sync_certificates' rows and max rowid
  std::set<std::string> revoked_;
};

// "042021-shelter-03#2" -> "042021-shelter-03"
std::string NodeOfIncarnation(const std::string& incarnation);

}  // namespace bosai::sync
