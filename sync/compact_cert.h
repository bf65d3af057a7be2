// The compact CBOR node certificate (DESIGN §6, §7): what a printed certificate's QR code embeds
// so that a verifier needs only the municipality root's public key (X.509 is too big for a QR).
//
// A CWT in COSE_Sign1 (tag 18), canonical CBOR (RFC 8949 §4.2: shortest integers, definite
// lengths, sorted integer keys), EdDSA (Ed25519) by the root:
//   18([ protected: bstr .cbor {1: -8 (EdDSA), 4: kid},   kid = first 8 bytes of SHA-256(root key)
//        unprotected: {},
//        payload: bstr .cbor {1 iss: municipality, 2 sub: node id, 4 exp, 5 nbf, 6 iat (Unix s),
//                             -1: node public key (32 bytes), -2: issuer code,
//                             -3: [write scopes]},
//        signature: bstr (64) over ["Signature1", protected, h'', payload] ])
// About 200 bytes. Verification is strict: the bytes must be exactly the canonical encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sync/trust.h"

namespace bosai::sync {

struct CompactCertificate {
  NodeCertificate node;  // node_id, public_key, issuer_code, scopes.write
  std::string municipality;
  int64_t issued_at = 0;  // Unix seconds
  int64_t not_before = 0;
  int64_t not_after = 0;
  std::string root_key_id;  // 8 bytes
};

// The key id of a root public key: the first 8 bytes of its SHA-256.
std::string RootKeyId(std::string_view root_public_key);

Result<std::string> IssueCompactCertificate(const Root& root, const NodeCertificate& node,
                                            int64_t now_s, int valid_days = 5 * 365);
// Checks the signature with the root's public key, the key id, the canonical encoding and the
// structure. The validity window is returned, not checked: a document is judged by when it was
// issued, not by today (the chain model).
Result<CompactCertificate> VerifyCompactCertificate(std::string_view bytes,
                                                    std::string_view root_public_key);

}  // namespace bosai::sync
