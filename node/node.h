// A node's data dir: its store, identity, keys and municipality (DESIGN §2, §7). The domain
// services (residents, and later shelters, certificates, ...) work through a Node.
//
// Data dir layout:
//   bosai.db             SQLite database (WAL): op-log, materialized records, node-local tables
//   keys/node.key        Ed25519 secret key of this incarnation (hex), mode 0600
//   keys/data.key        the municipality data key (seals My Number), mode 0600
//   keys/node.crt        X.509 node certificate issued by the municipality's root
//   keys/node.cwt        the same, as a compact CBOR node certificate (sync/compact_cert.h)
//   keys/root.crt        the municipality's root certificate
//   keys/roots/*.crt     roots of partner municipalities this node also trusts
//   keys/dev-root/       development root (root.key, root.crt, data.key), made by `bosai init`
//                        without enrollment: such a node trusts nobody else
//   sync-status.json     the daemon's status, while `bosai serve` runs
//   bosai.db-bootstrap, doctor-replay.db-lock   empty lock files of a bootstrap and of doctor
//
// Not thread-safe: a Node belongs to the thread that opened it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "storage/crypto.h"
#include "storage/store.h"
#include "sync/trust_store.h"

namespace bosai::node {

struct InitOptions {
  std::string data_dir;
  std::string node_id;       // may be empty with an enrollment (taken from it)
  std::string municipality;  // likewise
  std::string enrollment;    // path of an enrollment issued for this node's requested key
  std::string root_key;      // path of root.key: enroll in one step (drills, demos)
};

// A clock this far behind is warned about: a peer's clock may run up to the sync's default
// maximum offset ahead of this one, and its stamps carry this node's clock with them.
inline constexpr int64_t kClockWarningMillis = 60'000;

struct OpenOptions {
  // Opens the store without writing to it (Store::Options::read_only): commands that only read
  // work, and one that would write fails, saying so. A data dir this process cannot write (a
  // read-only mount, a copy it has no write permission on) is opened so whatever this says.
  bool read_only = false;
  // For a command that ends soon (the CLI, not the daemon): on a disk too full to open the
  // store as usual, opens it read-only, for this process alone (Store::Options::
  // alone_if_disk_full), so that a clerk can still look residents up.
  bool alone_if_disk_full = false;
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Init(const InitOptions& options);
  static Result<std::unique_ptr<Node>> Open(const std::string& data_dir, OpenOptions options = {});

  Store& store() { return *store_; }
  // Open read-only: asked for, a data dir this process cannot write, or a full disk.
  bool read_only() const { return store_->db().read_only(); }
  // Opened read-only, for this process alone, because the disk is full (OpenOptions).
  bool disk_full() const { return store_->db().disk_full(); }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& node_id() const { return node_id_; }
  const std::string& municipality() const { return municipality_; }
  std::string incarnation() const { return store_->identity()->incarnation(); }
  // The data key, when this node may read My Number.
  const DataKey* data_key() const { return data_key_ ? &*data_key_ : nullptr; }
  bool development_root() const { return development_root_; }
  // The issuer code of this node's certificates (empty on a development root).
  const std::string& issuer_code() const { return issuer_code_; }

  // `bosai doctor`: the store's integrity check (Store::Doctor), replayed into doctor-replay.db
  // in the data dir, or into TMPDIR when the store is open read-only or the data dir's disk has
  // less room than the store takes; with the node's warnings (a development root, a clock
  // behind).
  Result<DoctorReport> Doctor(const Store::DoctorProgress& progress = nullptr);

  // A warning when this machine's clock is more than kClockWarningMillis behind the latest time
  // the node has stamped or seen (a clock reset, a dead clock battery): the node keeps writing,
  // with stamps that follow that time, but the clock should be set.
  std::optional<std::string> ClockWarning() const;
  // A warning when the store is open alone because the disk is full (disk_full()).
  std::optional<std::string> DiskFullWarning() const;

  // Who the audit trail names for this process: "os:<user>" or "user:<operator>" (--as).
  const std::string& author() const { return author_; }
  void set_operator(const std::string& name) { author_ = "user:" + name; }

  // What this node trusts (roots, known node certificates, revocations); loaded on first use.
  Result<sync::TrustStore*> trust();
  std::string keys_dir() const { return data_dir_ + "/keys"; }

  // Scopes of this municipality (DESIGN §5).
  std::string scope() const { return municipality_; }
  std::string my_number_scope() const { return municipality_ + "/mynumber"; }

 private:
  Node() = default;
  static Result<std::unique_ptr<Node>> InitFiles(const InitOptions& options);  // part of Init
  static Result<std::unique_ptr<Node>> OpenStore(const std::string& data_dir);

  std::string data_dir_;
  std::string node_id_;
  std::string municipality_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<sync::TrustStore> trust_;
  std::optional<DataKey> data_key_;
  bool development_root_ = false;
  std::string issuer_code_;
  std::string author_;
};

}  // namespace bosai::node
