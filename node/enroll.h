// Enrollment of a node under its municipality's root (DESIGN §7): the key ceremony in three
// steps: `keys node request` on the node (its key never leaves it), `keys node issue` where the
// root is kept offline, `init --enrollment` back on the node. Also the root's own files.
//
// Root directory (meant for an offline medium):
//   root.key   Ed25519 private key (PKCS#8 PEM), mode 0600
//   root.crt   self-signed X.509 root certificate
//   data.key   the municipality data key (escrow), mode 0600
//   status.key, status.crt, issued/, revoked.txt, trust.seq: trust bundles (trust_bundle.h)
//
// Request and enrollment files are JSON documents (small, printable, mailable).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/crypto.h"
#include "storage/status.h"

namespace bosai::node {

Status CreateRootDir(const std::string& municipality, const std::string& dir);

// Creates a new node's data dir and its keys/ (`init`, `keys node request`). The data dir holds
// residents' names and addresses: one this makes is its owner's alone (mode 0700, whatever the
// umask), as keys/ always is; one that exists keeps its mode (DataDirExposure says so).
Status MakeDataDir(const std::string& dir);
// When data dir DIR lets other users of this computer in (any access for group or others), a
// warning that says so and how to close it; nullopt otherwise.
std::optional<std::string> DataDirExposure(const std::string& dir);

// The node key in a data dir's keys/node.key (the hex of SigningKey::secret()). Errors name the
// file; a missing one is NotFound.
Result<SigningKey> ReadNodeKey(const std::string& path);

// On the node: creates the node key in data_dir/keys (kept for `init --enrollment`), or takes the
// one an earlier request made there, and writes the request for the root. True when the key is
// an earlier request's (the root certifies a key as one node id only).
Result<bool> WriteEnrollmentRequest(const std::string& data_dir, const std::string& node_id,
                                    const std::string& out_path);

struct IssueOptions {
  std::string root_dir;
  std::string request_path;
  std::string issuer_code;
  std::optional<std::vector<std::string>> write;  // default: the municipality and its My Number
  std::vector<std::string> read;
  std::string out_path;
};
// At the root: certifies the requested key and, when the node may read My Number, wraps the
// data key for it (sealed box to the node's key). Refuses a revoked node id, and a key certified
// as another node, and a node id certified to another key (CheckIssue).
Status IssueEnrollment(const IssueOptions& options);

struct Enrollment {
  std::string node_id;
  std::string issuer_code;
  std::string node_certificate;     // PEM
  std::string compact_certificate;  // CBOR (sync/compact_cert.h), for documents and QR codes
  std::string root_certificate;     // PEM
  std::optional<DataKey> data_key;
};
// Reads an enrollment and checks it against the node key it was issued for.
Result<Enrollment> OpenEnrollment(const std::string& path, const SigningKey& node_key);
// request + issue + open in one step, for drills and demos (`init --root-key`).
Result<Enrollment> EnrollDirectly(const std::string& root_key_path, const std::string& node_id,
                                  const SigningKey& node_key);

// At the owning root: a read grant for another municipality's node (a partner or regional
// hub), from that node's certificate (keys/node.crt there). Read scopes of this root's
// municipality only.
Status IssueGrantFile(const std::string& root_dir, const std::string& node_certificate_path,
                      const std::vector<std::string>& read, const std::string& out_path);

// On a node: installs a partner municipality's root certificate (keys/roots/<code>.crt) or a read
// grant issued to this node (keys/grants/<code>.crt) after checking it, in place of the one
// installed before. Says what it was ("root of 131016"), and whether it was installed already.
struct InstalledTrust {
  std::string what;
  bool already = false;  // the same file: nothing written
};
Result<InstalledTrust> InstallTrustFile(const std::string& data_dir, const std::string& path);

}  // namespace bosai::node
