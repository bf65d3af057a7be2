// Backups and restores; see backup.h.
#include "node/backup.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "node/enroll.h"
#include "node/replication.h"
#include "node/resident.h"
#include "storage/files.h"
#include "storage/ids.h"
#include "storage/sealed_file.h"
#include "sync/bundle.h"
#include "sync/held.h"
#include "sync/trust_store.h"

namespace bosai::node {
namespace fs = std::filesystem;
namespace {

// The store's options as Node::Open sets them, so that a backup opened here is migrated and
// indexed by the same rules.
Store::Options NodeStoreOptions() {
  Store::Options so;
  so.indexer = ResidentIndexer();
  so.indexer_version = kResidentIndexerVersion;
  return so;
}

// A database file to work on, removed with the WAL and shared-memory files beside it when it
// was made and on scope exit (once renamed into place, only those are left to remove).
class ScratchDatabase {
 public:
  explicit ScratchDatabase(fs::path path) : path_(std::move(path)) { Remove(); }
  ~ScratchDatabase() { Remove(); }
  const fs::path& path() const { return path_; }

 private:
  void Remove() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      fs::remove(path_.string() + suffix, ec);
    }
  }
  fs::path path_;
};

// The epoch the data dir's database records, 0 when it has none or cannot be read.
int64_t CurrentEpoch(const fs::path& db_path) {
  std::error_code ec;
  if (!fs::exists(db_path, ec)) return 0;
  auto db = Db::Open(db_path.string(), /*read_only=*/true);
  if (!db.ok()) return 0;
  auto q = (*db)->PrepareOnce("SELECT v FROM meta WHERE k = 'epoch'");
  if (!q.ok() || !q->Step()) return 0;
  int64_t epoch = 0;
  std::string text(q->Text(0));
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), epoch);
  return err == std::errc() && end == text.data() + text.size() ? epoch : 0;
}

// A backup file, checked and opened: a copy beside the store (named WORK_NAME in DIR, removed
// with this; a sealed backup opened there with PASSPHRASE), after SQLite's check of the file,
// opened as a store, with the node it holds.
struct OpenedBackup {
  std::unique_ptr<ScratchDatabase> work;
  std::unique_ptr<Store> store;
  std::string node_id;
  int64_t epoch = 0;
};
Result<OpenedBackup> OpenBackup(const fs::path& dir, const std::string& backup_path,
                                const char* work_name, const std::string& passphrase) {
  std::error_code ec;
  if (!fs::is_regular_file(backup_path, ec)) {
    return Status::NotFound(fmt::format("{}: no such file", backup_path));
  }
  const bool sealed = IsSealedFile(backup_path);
  if (sealed && passphrase.empty()) {
    return Status::Invalid(fmt::format(
        "{}: a backup sealed with a passphrase: give it with --passphrase-file FILE; nothing was "
        "restored",
        backup_path));
  }
  OpenedBackup b;
  b.work = std::make_unique<ScratchDatabase>(dir / work_name);
  if (sealed) {  // (each chunk authenticated: what it opens to is what was sealed)
    Status st = OpenSealedFile(backup_path, b.work->path(), passphrase);
    if (!st.ok()) return st.WithNote("nothing was restored");
  }
  // SQLite's own check of the file (as given, or as opened), then a copy beside the store.
  const std::string checked = sealed ? b.work->path().string() : backup_path;
  const std::string what = sealed ? backup_path + " (opened with the passphrase)" : backup_path;
  auto problems = Db::CheckFile(checked, 3);
  if (!problems.ok()) {  // (not the data dir's store: no advice on rebuilding it)
    std::string message = problems.status().message();
    if (message.starts_with(checked)) message = what + message.substr(checked.size());
    return Status::Invalid(
        fmt::format("{} (not a bosai backup, or a damaged one): nothing was restored", message));
  }
  if (!problems->empty()) {
    return Status::Invalid(
        fmt::format("{}: a damaged database ({}): nothing was restored", what, problems->front()));
  }
  if (!sealed) {
    fs::copy_file(backup_path, b.work->path(), ec);
    if (ec) return Status::IoError(fmt::format("{}: {}", b.work->path().string(), ec.message()));
  }
  fs::permissions(b.work->path(), fs::perms::owner_read | fs::perms::owner_write, ec);
  auto store = Store::Open(b.work->path().string(), NodeStoreOptions());
  if (!store.ok()) {
    return Status::Invalid(fmt::format("{}: not a bosai backup ({}): nothing was restored",
                                       backup_path, store.status().message()));
  }
  b.store = std::move(store).value();
  BOSAI_ASSIGN_OR_RETURN(auto node_id, b.store->GetMeta("node_id"));
  BOSAI_ASSIGN_OR_RETURN(auto epoch, b.store->GetMetaNumber("epoch"));
  if (!node_id || !epoch) {
    return Status::Invalid(fmt::format(
        "{}: not a bosai backup (no node identity in it): nothing was restored", backup_path));
  }
  b.node_id = *node_id;
  b.epoch = int64_t(*epoch);
  return b;
}

}  // namespace

Result<BackupResult> BackupNode(Node& node, const std::string& out_path,
                                const std::function<void(double)>& progress,
                                const std::string& passphrase) {
  if (out_path == "-") {
    return Status::Invalid("a backup is written to a file (a database), not to standard output");
  }
  std::error_code ec;
  if (fs::exists(out_path, ec)) {
    return Status::Exists(fmt::format("{}: exists already, and is never written over", out_path));
  }
  // The node's certificate in the store (the trust store records it when loaded), so that the
  // backup holds it: another node that takes in the writes of this one, if it is lost, verifies
  // them by it. A node whose trust cannot be loaded is still backed up.
  (void)node.trust();
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, node.store().Vector());
  BackupResult r;
  if (passphrase.empty()) {
    BOSAI_RETURN_IF_ERROR(node.store().db().BackupTo(out_path, progress));
  } else {
    // Sealed: the database copied beside the store first, never in the clear where it goes.
    ScratchDatabase plain(fs::path(node.data_dir()) /
                          fmt::format("bosai.db.backup-{}", ::getpid()));  // (one per backup)
    BOSAI_RETURN_IF_ERROR(node.store().db().BackupTo(plain.path().string(), progress));
    BOSAI_RETURN_IF_ERROR(SealFile(plain.path(), out_path, passphrase));
    r.sealed = true;
  }
  r.bytes = fs::file_size(out_path, ec);
  r.ops = OpsIn(vv);  // at least: the backup was made after this was read
  return r;
}

Result<RestoreResult> RestoreNode(const std::string& data_dir, const std::string& backup_path,
                                  const std::string& passphrase) {
  const fs::path dir(data_dir);
  const fs::path db_path = dir / "bosai.db";
  std::error_code ec;
  if (!fs::exists(dir / "keys" / "node.key", ec)) {
    return Status::NotFound(fmt::format(
        "{} holds no node key (keys/node.key): a backup is restored into its own node's data dir, "
        "whose keys are there",
        data_dir));
  }
  BOSAI_ASSIGN_OR_RETURN(SigningKey key, ReadNodeKey((dir / "keys" / "node.key").string()));
  if (DaemonRunning(data_dir)) {
    return Status::Busy(
        fmt::format("a daemon runs on {} ({}): stop it first, then restore, then start it again",
                    data_dir, StatusPath(data_dir)));
  }
  BOSAI_ASSIGN_OR_RETURN(OpenedBackup backup,
                         OpenBackup(dir, backup_path, "bosai.db.restore", passphrase));
  RestoreResult r;
  r.backup_epoch = backup.epoch;
  // The backup's node signed its writes with this data dir's node key: the same node.
  const std::string incarnation = Incarnation(backup.node_id, backup.epoch);
  BOSAI_ASSIGN_OR_RETURN(auto backup_key, backup.store->PublicKey(incarnation));
  if (backup_key != key.public_key()) {
    return Status::Invalid(fmt::format(
        "{}: the backup of {}, whose key is not this data dir's ({}/keys/node.key): a backup is "
        "restored into its own node's data dir (`--from-lost-node` takes the writes of a node "
        "that is lost into this one); nothing was restored",
        backup_path, incarnation, data_dir));
  }
  // Above the backup's epoch and the data dir's. When the data dir's cannot be read (its
  // database is damaged or gone), an epoch used after the backup is unknown here: the clock's
  // seconds then stand above any an earlier restore can have taken.
  const int64_t current = CurrentEpoch(db_path);
  const int64_t epoch_now =
      current > 0 ? std::max<int64_t>(r.backup_epoch, current) + 1
                  : std::max<int64_t>(r.backup_epoch + 1, SystemClock::Get()->NowMillis() / 1000);
  r.incarnation = Incarnation(backup.node_id, epoch_now);
  BOSAI_RETURN_IF_ERROR(backup.store->db().Begin());
  Status set = backup.store->SetMeta("epoch", std::to_string(epoch_now));
  if (set.ok()) set = backup.store->db().Commit();
  if (!set.ok()) return set;
  backup.store.reset();  // (ReplaceWith reads the file)

  // Into the store: in one write transaction where the store opens, else in its place (what was
  // there moved aside, not deleted).
  bool replaced = false;
  if (fs::exists(db_path, ec)) {
    auto live = Db::Open(db_path.string());
    Status st = live.ok() ? (*live)->ReplaceWith(backup.work->path().string()) : live.status();
    if (!st.ok() && !st.damaged_file()) {
      return st.WithNote("nothing was restored");
    }
    replaced = st.ok();
  }
  if (!replaced) {
    if (fs::exists(db_path, ec)) {
      r.set_aside =
          fmt::format("{}.damaged-{}", db_path.string(), SystemClock::Get()->NowMillis() / 1000);
      for (const char* suffix : {"", "-wal", "-shm"}) {
        if (fs::exists(db_path.string() + suffix, ec)) {
          fs::rename(db_path.string() + suffix, r.set_aside + suffix, ec);
          if (ec) return Status::IoError(fmt::format("{}: {}", db_path.string(), ec.message()));
        }
      }
    }
    fs::rename(backup.work->path(), db_path, ec);
    if (ec) return Status::IoError(fmt::format("{}: {}", db_path.string(), ec.message()));
    BOSAI_RETURN_IF_ERROR(SyncDirectory(dir));
  }
  BOSAI_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Node::Open(data_dir));
  if (node->incarnation() != r.incarnation) {
    return Status::Corruption(fmt::format("{}: restored as {}, but the node opens as {}", data_dir,
                                          r.incarnation, node->incarnation()));
  }
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, node->store().Vector());
  r.ops = OpsIn(vv);
  return r;
}

Result<LostNodeResult> RestoreLostNode(Node& node, const std::string& backup_path,
                                       const std::string& passphrase) {
  const fs::path dir(node.data_dir());
  BOSAI_ASSIGN_OR_RETURN(OpenedBackup backup,
                         OpenBackup(dir, backup_path, "bosai.db.lost-node", passphrase));
  LostNodeResult r;
  r.node_id = backup.node_id;
  r.incarnation = Incarnation(backup.node_id, backup.epoch);
  if (backup.node_id == node.node_id()) {
    return Status::Invalid(fmt::format(
        "{}: a backup of this node ({}): `bosai restore {}` without --from-lost-node puts it back "
        "to it; nothing was restored",
        backup_path, r.incarnation, backup_path));
  }
  BOSAI_ASSIGN_OR_RETURN(sync::TrustStore * trust, node.trust());
  // The certificates the lost node had verified, its own among them: each checked here again.
  BOSAI_ASSIGN_OR_RETURN(auto certificates, sync::TrustStore::CertificatesIn(*backup.store));
  std::string refused;
  for (const auto& [node_id, pem] : certificates) {
    auto admitted = trust->Admit(pem);
    if (!admitted.ok() && node_id == backup.node_id) refused = admitted.status().message();
  }
  if (!trust->Find(backup.node_id)) {
    return Status::PermissionDenied(fmt::format(
        "{}: this node cannot verify the writes of {}: {}; nothing was restored", backup_path,
        backup.node_id,
        refused.empty()
            ? "the backup holds no certificate of it, and it never synced with this node"
            : "its certificate is refused (" + refused + ")"));
  }
  // Every stream this node may hold, above what it holds; the others named.
  BOSAI_ASSIGN_OR_RETURN(VersionVector mine, node.store().Vector());
  const KeyLookup keys = trust->keys();
  const sync::NodeCertificate* me = trust->Find(node.node_id());  // with its read grants
  auto may_take = [&](const StreamId& stream) {
    return keys(stream.incarnation).has_value() &&
           sync::TrustStore::MayRead(me ? *me : trust->self(), stream);
  };
  BOSAI_ASSIGN_OR_RETURN(VersionVector theirs, backup.store->Vector());
  for (const auto& [stream, seq] : theirs) {
    auto it = mine.find(stream);
    if (!may_take(stream) && (it == mine.end() || it->second < seq)) r.left_out.push_back(stream);
  }
  auto taken = sync::ApplyCarried(
      node.store(), *trust, "restore:" + r.incarnation,
      [&](const sync::BlockSink& sink) { return backup.store->ReadBlocks(mine, may_take, sink); },
      SystemClock::Get()->NowMillis(), sync::kDefaultMaxOffsetMs);
  if (!taken.ok()) {
    Status st = taken.status().code() == Status::Code::kInvalidArgument
                    ? taken.status().WithContext(backup_path)
                    : taken.status();
    return st.WithNote("nothing was restored");
  }
  r.blocks = taken->blocks;
  r.ops = taken->ops;
  r.held = taken->held;
  return r;
}

}  // namespace bosai::node
