// Replication as the node runs it; see replication.h.
#include "node/replication.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "storage/files.h"
#include "sync/carried_file.h"
#include "sync/held.h"
#include "sync/log.h"
#include "sync/session.h"

namespace bosai::node {
namespace fs = std::filesystem;
namespace {

std::string Where(const std::string& path, const toml::source_region& at) {
  return fmt::format("{}:{}:{}", path, at.begin.line, at.begin.column);
}

// A number of seconds from the config, as milliseconds.
Result<std::chrono::milliseconds> Seconds(const std::string& path, const toml::table& t,
                                          std::string_view key, std::chrono::milliseconds dflt) {
  const toml::node* n = t.get(key);
  if (!n) return dflt;
  std::optional<double> v = n->value<double>();
  if (!v || *v <= 0 || *v > 86400) {
    return Status::Invalid(fmt::format("{}: {} must be a number of seconds in (0, 86400]",
                                       Where(path, n->source()), key));
  }
  return std::chrono::milliseconds(int64_t(*v * 1000));
}

Result<std::string> String(const std::string& path, const toml::table& t, std::string_view key,
                           bool required, const std::string& where_missing) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) return Status::Invalid(fmt::format("{}: {} is required", where_missing, key));
    return std::string();
  }
  auto v = n->value<std::string>();
  if (!v) {
    return Status::Invalid(fmt::format("{}: {} must be a string", Where(path, n->source()), key));
  }
  return *v;
}

// An error for a key of TABLE ([SECTION]) that is none of KEYS: a misspelt setting would
// otherwise be left out without a word, and its default used.
Status OnlyKnownKeys(const std::string& path, const toml::table& t, std::string_view section,
                     std::initializer_list<std::string_view> keys) {
  for (const auto& [key, value] : t) {
    if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
      return Status::Invalid(fmt::format("{}: unknown key {} in [{}] (known: {})",
                                         Where(path, key.source()), key.str(), section,
                                         fmt::join(keys, ", ")));
    }
  }
  return Status::Ok();
}

}  // namespace

std::string StatusPath(const std::string& data_dir) { return data_dir + "/sync-status.json"; }

namespace {
// A status file written longer ago than this is a daemon's that stopped.
constexpr int64_t kStatusFreshMillis = 5000;

bool StatusSaysRunning(const nlohmann::json& doc, int64_t now_ms) {
  return doc.value("running", false) &&
         now_ms - doc.value("updated_ms", int64_t{0}) < kStatusFreshMillis;
}
}  // namespace

bool DaemonRunning(const std::string& data_dir) {
  auto text = ReadSmallFile(StatusPath(data_dir));
  if (!text.ok()) return false;
  try {
    return StatusSaysRunning(nlohmann::json::parse(*text), SystemClock::Get()->NowMillis());
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

Result<ServeConfig> LoadServeConfig(const std::string& path) {
  // A config is a few hundred bytes; a larger file is some other one.
  constexpr size_t kMaxConfigBytes = 1u << 20;
  BOSAI_ASSIGN_OR_RETURN(std::string text,
                         ReadSmallFile(path, kMaxConfigBytes, [&](std::string_view) {
                           return fmt::format(
                               "not a config (over {} bytes; a config is a few hundred, see "
                               "ops/config/bosai.example.toml)",
                               kMaxConfigBytes);
                         }));
  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::Invalid(fmt::format("{}: {}", Where(path, e.source()), e.description()));
  }
  static const std::set<std::string> kSections = {"node", "sync", "http", "peers"};
  for (const auto& [key, value] : doc) {
    if (!kSections.count(std::string(key.str()))) {
      return Status::Invalid(
          fmt::format("{}: unknown section [{}] (known: node, sync, http, peers)",
                      Where(path, value.source()), key.str()));
    }
  }
  ServeConfig c;
  fs::path base = fs::path(path).parent_path();
  const toml::table* node = doc["node"].as_table();
  if (!node)
    return Status::Invalid(fmt::format("{}: a [node] section with data_dir is required", path));
  BOSAI_RETURN_IF_ERROR(OnlyKnownKeys(path, *node, "node", {"data_dir"}));
  BOSAI_ASSIGN_OR_RETURN(std::string data_dir,
                         String(path, *node, "data_dir", true, Where(path, node->source())));
  // As the logs and `serve --check` name it: bosai-data, not ./bosai-data/. (a config beside it)
  std::string dir = (fs::path(data_dir).is_absolute() ? fs::path(data_dir) : base / data_dir)
                        .lexically_normal()
                        .string();
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  c.data_dir = dir.empty() ? "." : dir;

  if (const toml::table* s = doc["sync"].as_table()) {
    c.sync_enabled = true;
    BOSAI_RETURN_IF_ERROR(OnlyKnownKeys(
        path, *s, "sync",
        {"listen", "max_clock_offset_s", "heartbeat_s", "stall_s", "backoff_max_s", "window"}));
    BOSAI_ASSIGN_OR_RETURN(c.net.listen, String(path, *s, "listen", false, ""));
    if (!c.net.listen.empty()) {
      Status valid = sync::CheckListenAddress(c.net.listen);
      if (!valid.ok()) {
        return Status::Invalid(fmt::format(
            "{}: listen: {}", Where(path, s->get("listen")->source()), valid.message()));
      }
    }
    BOSAI_ASSIGN_OR_RETURN(auto offset,
                           Seconds(path, *s, "max_clock_offset_s",
                                   std::chrono::milliseconds(sync::kDefaultMaxOffsetMs)));
    c.net.max_offset_ms = offset.count();
    BOSAI_ASSIGN_OR_RETURN(c.net.heartbeat, Seconds(path, *s, "heartbeat_s", c.net.heartbeat));
    BOSAI_ASSIGN_OR_RETURN(c.net.stall, Seconds(path, *s, "stall_s", c.net.stall));
    BOSAI_ASSIGN_OR_RETURN(c.net.backoff_max,
                           Seconds(path, *s, "backoff_max_s", c.net.backoff_max));
    if (const toml::node* w = s->get("window")) {
      auto v = w->value<int64_t>();
      if (!v || *v < 1 || *v > 4) {
        return Status::Invalid(fmt::format("{}: window must be 1 to 4", Where(path, w->source())));
      }
      c.net.window = uint32_t(*v);
    }
  }
  if (const toml::node* peers = doc.get("peers")) {
    const toml::array* arr = peers->as_array();
    if (!arr) {
      return Status::Invalid(
          fmt::format("{}: peers must be [[peers]] tables", Where(path, peers->source())));
    }
    for (const auto& p : *arr) {
      const toml::table* t = p.as_table();
      if (!t) {
        return Status::Invalid(fmt::format("{}: a peer must be a table", Where(path, p.source())));
      }
      BOSAI_RETURN_IF_ERROR(OnlyKnownKeys(path, *t, "[peers]", {"id", "address"}));
      sync::PeerAddress peer;
      BOSAI_ASSIGN_OR_RETURN(peer.id, String(path, *t, "id", true, Where(path, t->source())));
      BOSAI_ASSIGN_OR_RETURN(peer.address,
                             String(path, *t, "address", true, Where(path, t->source())));
      Status id_ok = ValidateNodeId(peer.id);
      if (!id_ok.ok()) {
        return Status::Invalid(
            fmt::format("{}: id: {}", Where(path, t->get("id")->source()), id_ok.message()));
      }
      auto parsed = sync::ParseAddress(peer.address);
      if (!parsed.ok()) {
        return Status::Invalid(fmt::format("{}: address: {}",
                                           Where(path, t->get("address")->source()),
                                           parsed.status().message()));
      }
      c.net.peers.push_back(std::move(peer));
    }
    if (!c.sync_enabled && !c.net.peers.empty()) c.sync_enabled = true;
  }
  c.net.status_path = StatusPath(c.data_dir);
  return c;
}

namespace {

constexpr const char* kDevelopmentRootHint =
    "this node trusts only itself (development root); enroll it under the municipality's root";

// The data dir as the daemon serves it: the config enables something, the dir opens to write,
// and its trust is read.
Result<std::unique_ptr<Node>> OpenToServe(const ServeConfig& config) {
  if (!config.sync_enabled) {
    return Status::Invalid(
        "the config enables nothing to serve: add a [sync] section (listen) or [[peers]]");
  }
  BOSAI_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Node::Open(config.data_dir));
  if (node->read_only()) {
    return Status::Invalid(fmt::format(
        "{} cannot be written: the daemon stores what its peers send; serve a writable data dir",
        config.data_dir));
  }
  BOSAI_RETURN_IF_ERROR(node->trust().status());
  return node;
}

}  // namespace

Result<ServeCheck> CheckServe(const ServeConfig& config) {
  BOSAI_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenToServe(config));
  ServeCheck check;
  auto warn = [&check](std::string kind, std::string message) {
    check.warnings.push_back({std::move(kind), std::move(message)});
  };
  check.serves.push_back(fmt::format("data dir {}: node {} of {}", config.data_dir, node->node_id(),
                                     node->municipality()));
  if (config.net.listen.empty()) {
    check.serves.push_back("sync listener: none");
  } else {
    check.serves.push_back("sync listener on " + config.net.listen);
    // Taken now (the daemon may be running on this config): the daemon starts once it is free.
    Status free = sync::ProbeListen(config.net.listen);
    if (free.code() == Status::Code::kBusy) {
      warn("listen_taken", free.message() + ": the daemon cannot start until it is free");
    } else {
      BOSAI_RETURN_IF_ERROR(free);
    }
  }
  for (const auto& p : config.net.peers) {
    if (p.id == node->node_id()) {  // the daemon leaves it out
      warn("peer_is_self", fmt::format("peer {} at {} is this node: the daemon leaves it out; "
                                       "remove it from [[peers]]",
                                       p.id, p.address));
      continue;
    }
    check.serves.push_back(fmt::format("peer {} at {}", p.id, p.address));
    // Not found now (no network, or a name the resolver does not know yet): the daemon tries
    // again, so a warning, naming the peer.
    if (Status found = sync::ProbeResolve(p.address); !found.ok()) {
      warn("peer_unresolved",
           fmt::format("peer {}: {}: the daemon keeps trying; check the name if it persists", p.id,
                       found.message()));
    }
  }
  if (node->development_root()) warn("development_root", kDevelopmentRootHint);
  if (auto w = node->ClockWarning()) warn("clock_behind", *w);
  return check;
}

Status Serve(const ServeConfig& config) {
  InitLogging();
  BOSAI_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenToServe(config));
  BOSAI_ASSIGN_OR_RETURN(sync::TrustStore * trust, node->trust());
  if (node->development_root()) {
    LogEvent(spdlog::level::warn, "node.development_root",
             {{"node", node->node_id()}, {"hint", kDevelopmentRootHint}});
  }
  if (auto w = node->ClockWarning()) {
    LogEvent(spdlog::level::warn, "node.clock_behind",
             {{"node", node->node_id()},
              {"lag_ms", std::to_string(node->store().ClockLagMillis())},
              {"hint", *w}});
  }
  LogEvent(spdlog::level::info, "node.start",
           {{"node", node->node_id()},
            {"incarnation", node->incarnation()},
            {"data_dir", config.data_dir}});
  // A config shared by several nodes may list this one among the peers: it is not dialled.
  sync::NetOptions net = config.net;
  std::erase_if(net.peers, [&](const sync::PeerAddress& p) {
    if (p.id != node->node_id()) return false;
    LogEvent(spdlog::level::warn, "sync.peer.self",
             {{"peer", p.id}, {"address", p.address}, {"hint", "remove it from [[peers]]"}});
    return true;
  });
  sync::SyncService service(node->store(), *trust, net);
  Status st = service.Run();
  LogEvent(st.ok() ? spdlog::level::info : spdlog::level::err, "node.stop",
           {{"node", node->node_id()}, {"status", st.ok() ? "ok" : st.message()}});
  return st;
}

Result<SyncNowResult> SyncNow(Node& node, const std::string& address, const std::string& peer_id,
                              std::function<void(double)> progress) {
  BOSAI_ASSIGN_OR_RETURN(sync::TrustStore * trust, node.trust());
  InitLogging();
  spdlog::set_level(spdlog::level::off);  // a command: the outcome is printed, not logged
  sync::NetOptions o;
  o.once = true;
  o.peers.push_back({peer_id, address});
  o.progress = std::move(progress);
  o.stall = std::chrono::seconds(30);
  sync::SyncService service(node.store(), *trust, o);
  Status st = service.Run();
  SyncNowResult r;
  auto peers = service.Peers();
  if (!peers.empty()) {
    r.status = peers.front();
    r.peer = r.status.peer;
  }
  if (!st.ok()) return st;
  return r;
}

Result<nlohmann::json> SyncStatus(Node& node) {
  nlohmann::json out;
  out["node"] = node.node_id();
  out["incarnation"] = node.incarnation();
  int64_t now = SystemClock::Get()->NowMillis();
  auto text = ReadSmallFile(StatusPath(node.data_dir()));
  out["daemon"] = "not running";
  out["peers"] = nlohmann::json::array();
  if (text.ok()) {
    try {
      auto doc = nlohmann::json::parse(*text);
      bool running = StatusSaysRunning(doc, now);
      out["daemon"] = running ? "running" : "not running";
      out["status_updated_ms"] = doc.value("updated_ms", int64_t{0});
      out["peers"] = doc.value("peers", nlohmann::json::array());
    } catch (const nlohmann::json::exception&) {
      out["daemon"] = "unknown (status file damaged)";
    }
  }
  BOSAI_RETURN_IF_ERROR(sync::EnsureHeldSchema(node.store()));
  BOSAI_ASSIGN_OR_RETURN(auto held, sync::ListHeld(node.store(), now));
  out["held"] = nlohmann::json::array();
  for (const auto& h : held) {
    out["held"].push_back({{"incarnation", h.incarnation},
                           {"blocks", h.blocks},
                           {"ops", h.ops},
                           {"ahead_ms", h.ahead_ms}});
  }
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, node.store().Vector());
  out["streams"] = vv.size();
  out["ops"] = OpsIn(vv);
  return out;
}

Result<VersionVector> WriteVectorFile(Node& node, const std::string& out_path) {
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, node.store().Vector());
  BOSAI_RETURN_IF_ERROR(WriteFileAtomically(
      out_path, sync::VectorToJson(node.node_id(), node.incarnation(), vv), /*secret=*/false));
  return vv;
}

Result<sync::ExportResult> ExportFor(Node& node, const std::string& for_node,
                                     const std::string& vector_path, const std::string& out_path) {
  BOSAI_ASSIGN_OR_RETURN(sync::TrustStore * trust, node.trust());
  VersionVector base;
  const sync::NodeCertificate* reader = nullptr;
  if (!for_node.empty()) {
    reader = trust->Find(for_node);
    if (!reader) {
      return Status::NotFound(fmt::format(
          "this node knows no certificate of {}: sync with it once, or export with --vector FILE "
          "(made there by `bosai sync vector`)",
          for_node));
    }
    BOSAI_ASSIGN_OR_RETURN(auto known, sync::LoadPeerVector(node.store(), for_node));
    if (known) base = *known;
  } else {
    // A vector file is a few kilobytes (a line per stream); a larger file is some other one.
    constexpr size_t kMaxVectorBytes = 1u << 20;
    BOSAI_ASSIGN_OR_RETURN(
        std::string text, ReadSmallFile(vector_path, kMaxVectorBytes, [&](std::string_view head) {
          return fmt::format(
              "not a vector file (over {} bytes; `bosai sync vector` writes a few kilobytes){}",
              kMaxVectorBytes, sync::OtherFileNote(head, sync::CarriedFile::kVector));
        }));
    BOSAI_ASSIGN_OR_RETURN(base, sync::VectorFromJson(text, InputName(vector_path)));
  }
  return sync::ExportBundle(node.store(), *trust, base, reader, for_node, out_path);
}

Result<sync::ImportResult> ImportFile(Node& node, const std::string& path) {
  BOSAI_ASSIGN_OR_RETURN(sync::TrustStore * trust, node.trust());
  return sync::ImportBundle(node.store(), *trust, path, SystemClock::Get()->NowMillis(),
                            sync::kDefaultMaxOffsetMs);
}

Result<uint64_t> AcceptSkew(Node& node, const std::string& incarnation) {
  BOSAI_ASSIGN_OR_RETURN(sync::TrustStore * trust, node.trust());
  int64_t now = SystemClock::Get()->NowMillis();
  BOSAI_RETURN_IF_ERROR(sync::EnsureHeldSchema(node.store()));
  BOSAI_ASSIGN_OR_RETURN(auto held, sync::ListHeld(node.store(), now));
  bool found = false;
  for (const auto& h : held) found |= h.incarnation == incarnation;
  if (!found) {
    return Status::NotFound(
        fmt::format("no blocks of {} are held (see `bosai sync status`)", incarnation));
  }
  BOSAI_RETURN_IF_ERROR(sync::AcceptSkew(node.store(), incarnation, now));
  return sync::ReleaseHeld(node.store(), trust->keys(), trust->may_write(), now,
                           sync::kDefaultMaxOffsetMs);
}

}  // namespace bosai::node
