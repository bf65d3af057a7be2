// The fixed root and the valid seed of the compact certificate fuzz target (shared with
// make_seeds, which writes the seed corpus).
#pragma once

#include <string>

#include "sync/compact_cert.h"

namespace bosai::fuzz {

inline const sync::Root& FixedRoot() {
  static const sync::Root root = [] {
    InitCrypto();
    auto key = SigningKey::FromSeed(std::string(32, '\x01'));
    return sync::Root{"042021", "", *key};
  }();
  return root;
}

inline std::string CompactSeed() {
  sync::NodeCertificate n;
  n.node_id = "042021-shelter-03";
  n.public_key = std::string(32, '\x02');
  n.issuer_code = "SHELTER03";
  n.scopes.write = {"042021"};
  return *sync::IssueCompactCertificate(FixedRoot(), n, 1'795'000'000);
}

}  // namespace bosai::fuzz
