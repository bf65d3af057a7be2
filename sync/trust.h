// Trust: municipality roots, node certificates and scope grants (DESIGN §5, §7).
// A root is a self-signed X.509 certificate with an Ed25519 key, kept offline. It certifies the
// nodes of its own municipality: a node certificate binds a node id to the node's Ed25519 key
// (the same key that signs op-log blocks) and carries the node's scopes in a non-critical
// extension. Pure functions over PEM text, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "storage/crypto.h"
#include "storage/status.h"

struct ssl_ctx_st;
struct ssl_st;

namespace bosai::sync {

// Scopes a node holds: write for its own municipality, read for what it may receive.
struct Scopes {
  std::vector<std::string> write;  // e.g. {"042021", "042021/mynumber"}
  std::vector<std::string> read;
  bool MayWrite(const std::string& scope) const;
  bool MayRead(const std::string& scope) const;
};

struct Root {
  std::string municipality;
  std::string certificate_pem;
  SigningKey key;
};

// A new root for a municipality: self-signed, CA, valid 20 years.
Result<Root> CreateRoot(const std::string& municipality);
// The municipality code a root certificate is for, after checking it is a self-signed bosai root.
Result<std::string> RootMunicipality(const std::string& root_pem);

struct NodeCertificate {
  std::string node_id;
  std::string public_key;  // raw Ed25519, 32 bytes
  std::string issuer_code;
  Scopes scopes;
  // A read grant: issued by the root of another municipality than the node's, read scopes of
  // that municipality only (issuer code "GRANT"), adding to what the node's own certificate holds.
  bool grant = false;
  std::string root_municipality;  // the root that signed it
};

// Certifies a node key. The root may grant write scopes only in its own municipality.
Result<std::string> IssueNodeCertificate(const Root& root, const NodeCertificate& node,
                                         int valid_days = 5 * 365);
// A read grant for a node of another municipality (a partner or a regional hub): read scopes of
// the root's own municipality only, for the key of the node's own certificate.
Result<std::string> IssueReadGrant(const Root& root, const NodeCertificate& node,
                                   int valid_days = 5 * 365);
// The status signer of a root: a key the root certifies to sign trust bundles (revocations and
// certificates), so the root key itself stays offline. CN "bosai status <municipality>".
Result<std::string> IssueStatusSigner(const Root& root, const std::string& public_key);
// Checks a status signer certificate against the root; returns its raw Ed25519 key.
Result<std::string> VerifyStatusSigner(const std::string& pem, const std::string& root_pem);

// Who a certificate names (common name) and its raw Ed25519 key, without verifying it: for a
// root to grant read scope to a partner node whose own root it does not hold.
Result<std::pair<std::string, std::string>> CertificateSubject(const std::string& pem);
// Checks the certificate against the root (signature, validity period, municipality of the
// node id and of every write scope) and returns what it certifies.
Result<NodeCertificate> VerifyNodeCertificate(const std::string& node_pem,
                                              const std::string& root_pem);

// Sets up an OpenSSL context for sync: TLS 1.3 only, this node's certificate and key, mutual
// authentication chained to one of the given roots (the caller then checks the peer's node id,
// scopes and revocation with VerifyNodeCertificate).
Status ConfigureTls(ssl_ctx_st* ctx, const SigningKey& key, const std::string& certificate_pem,
                    const std::vector<std::string>& root_pems);
// The certificate the peer presented on an established TLS connection, as PEM.
Result<std::string> PeerCertificatePem(ssl_st* ssl);

// PEM (PKCS#8) of an Ed25519 key, and back; for root.key files kept offline.
std::string PrivateKeyPem(const SigningKey& key);
Result<SigningKey> ParsePrivateKeyPem(const std::string& pem);

}  // namespace bosai::sync
