// Helpers for tests of what a node trusts: node certificates, and a data dir's keys folder under
// one root.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "sync/trust.h"

namespace bosai::sync::testing {

// A node certificate that may write and read the municipality 042021.
inline NodeCertificate TestNode(const std::string& id, const SigningKey& key) {
  NodeCertificate c;
  c.node_id = id;
  c.public_key = key.public_key();
  c.issuer_code = "TEST";
  c.scopes = {{"042021"}, {"042021"}};
  return c;
}

// DIR/keys as a node's data dir holds it: ROOT's certificate, and the node's (NODE_ID, KEY).
inline void WriteKeys(const std::filesystem::path& dir, const Root& root,
                      const std::string& node_id, const SigningKey& key) {
  std::filesystem::create_directories(dir / "keys");
  std::ofstream(dir / "keys" / "root.crt") << root.certificate_pem;
  std::ofstream(dir / "keys" / "node.crt") << *IssueNodeCertificate(root, TestNode(node_id, key));
}

}  // namespace bosai::sync::testing
