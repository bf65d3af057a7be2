// Replication as the node runs it (DESIGN §5, §8): the daemon's config, `bosai serve`, and the
// operator's sync commands (now, status, vector, export, import, accept-skew). The protocol and
// transport are in sync/; this layer ties them to a data dir.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "node/node.h"
#include "sync/bundle.h"
#include "sync/net.h"

namespace bosai::node {

// The daemon's configuration (TOML; ops/config/bosai.example.toml):
//   [node]  data_dir           relative paths are relative to the config file's folder
//   [sync]  listen, max_clock_offset_s, heartbeat_s, stall_s, window
//   [[peers]] id, address
// A section left out disables that listener. Errors name FILE:LINE:COLUMN.
struct ServeConfig {
  std::string data_dir;
  bool sync_enabled = false;
  sync::NetOptions net;
};
Result<ServeConfig> LoadServeConfig(const std::string& path);

// Runs the daemon until SIGINT/SIGTERM.
Status Serve(const ServeConfig& config);

// `bosai serve --check`: what Serve would start, checked without serving (the data dir opens to
// write, its trust is read, the listener's address is bound for a moment, each peer's host is
// looked up, no peer is dialled): a line per data dir, listener and peer, and what would not stop
// the daemon but needs an officer's eye.
struct ServeCheck {
  struct Warning {
    // "listen_taken" (the daemon cannot start until the port is free), "peer_unresolved" (the
    // daemon keeps trying), "peer_is_self" (the daemon leaves it out), "development_root",
    // "clock_behind".
    std::string kind;
    std::string message;
  };
  std::vector<std::string> serves;
  std::vector<Warning> warnings;
};
Result<ServeCheck> CheckServe(const ServeConfig& config);

// `bosai sync now HOST:PORT`: one session, both directions, until both are caught up.
struct SyncNowResult {
  std::string peer;
  sync::PeerStatus status;
};
Result<SyncNowResult> SyncNow(Node& node, const std::string& address, const std::string& peer_id,
                              std::function<void(double)> progress);

// `bosai sync status`: the running daemon's peers (from its status file), held blocks, vector.
Result<nlohmann::json> SyncStatus(Node& node);

// `bosai sync vector`: writes what this node holds to OUT_PATH; returns the vector written.
Result<VersionVector> WriteVectorFile(Node& node, const std::string& out_path);
// `--for NODE`: the streams that node may read, above the vector it last acknowledged to this
// node (everything, if it never synced with it). `--vector FILE`: above that vector.
Result<sync::ExportResult> ExportFor(Node& node, const std::string& for_node,
                                     const std::string& vector_path, const std::string& out_path);
Result<sync::ImportResult> ImportFile(Node& node, const std::string& path);
// Accepts the clock skew of an origin incarnation and applies its held blocks.
Result<uint64_t> AcceptSkew(Node& node, const std::string& incarnation);

// Where the daemon writes its status: <data_dir>/sync-status.json.
std::string StatusPath(const std::string& data_dir);
// Whether a daemon runs on the data dir: its status file says so, written in the last 5 s.
bool DaemonRunning(const std::string& data_dir);

}  // namespace bosai::node
