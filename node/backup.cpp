// Backups and restores; see backup.h.
#include "node/backup.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "node/enroll.h"
#include "node/replication.h"
#include "node/resident.h"
#include "storage/files.h"
#include "storage/ids.h"

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

}  // namespace

Result<BackupResult> BackupNode(Node& node, const std::string& out_path,
                                const std::function<void(double)>& progress) {
  if (out_path == "-") {
    return Status::Invalid("a backup is written to a file (a database), not to standard output");
  }
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, node.store().Vector());
  BOSAI_RETURN_IF_ERROR(node.store().db().BackupTo(out_path, progress));
  BackupResult r;
  std::error_code ec;
  r.bytes = fs::file_size(out_path, ec);
  r.ops = OpsIn(vv);  // at least: the backup was made after this was read
  return r;
}

Result<RestoreResult> RestoreNode(const std::string& data_dir, const std::string& backup_path) {
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
  if (!fs::is_regular_file(backup_path, ec)) {
    return Status::NotFound(fmt::format("{}: no such file", backup_path));
  }
  // SQLite's own check of the file as given, then a copy beside the store to work on.
  auto problems = Db::CheckFile(backup_path, 3);
  if (!problems.ok()) {  // (not the data dir's store: no advice on rebuilding it)
    return Status::Invalid(
        fmt::format("{} (not a bosai backup, or a damaged one): nothing was "
                    "restored",
                    problems.status().message()));
  }
  if (!problems->empty()) {
    return Status::Invalid(fmt::format("{}: a damaged database ({}): nothing was restored",
                                       backup_path, problems->front()));
  }
  ScratchDatabase work(dir / "bosai.db.restore");
  fs::copy_file(backup_path, work.path(), ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", work.path().string(), ec.message()));
  fs::permissions(work.path(), fs::perms::owner_read | fs::perms::owner_write, ec);

  RestoreResult r;
  {
    auto store = Store::Open(work.path().string(), NodeStoreOptions());
    if (!store.ok()) {
      return Status::Invalid(fmt::format("{}: not a bosai backup ({}): nothing was restored",
                                         backup_path, store.status().message()));
    }
    BOSAI_ASSIGN_OR_RETURN(auto node_id, (*store)->GetMeta("node_id"));
    BOSAI_ASSIGN_OR_RETURN(auto epoch, (*store)->GetMetaNumber("epoch"));
    if (!node_id || !epoch) {
      return Status::Invalid(fmt::format(
          "{}: not a bosai backup (no node identity in it): nothing was restored", backup_path));
    }
    // The backup's node signed its writes with this data dir's node key: the same node.
    const std::string incarnation = Incarnation(*node_id, int64_t(*epoch));
    BOSAI_ASSIGN_OR_RETURN(auto backup_key, (*store)->PublicKey(incarnation));
    if (backup_key != key.public_key()) {
      return Status::Invalid(fmt::format(
          "{}: the backup of {}, whose key is not this data dir's ({}/keys/node.key): a backup "
          "is restored into its own node's data dir; nothing was restored",
          backup_path, incarnation, data_dir));
    }
    r.backup_epoch = int64_t(*epoch);
    // Above the backup's epoch and the data dir's. When the data dir's cannot be read (its
    // database is damaged or gone), an epoch used after the backup is unknown here: the clock's
    // seconds then stand above any an earlier restore can have taken.
    const int64_t current = CurrentEpoch(db_path);
    const int64_t epoch_now =
        current > 0 ? std::max<int64_t>(r.backup_epoch, current) + 1
                    : std::max<int64_t>(r.backup_epoch + 1, SystemClock::Get()->NowMillis() / 1000);
    r.incarnation = Incarnation(*node_id, epoch_now);
    BOSAI_RETURN_IF_ERROR((*store)->db().Begin());
    Status st = (*store)->SetMeta("epoch", std::to_string(epoch_now));
    if (st.ok()) st = (*store)->db().Commit();
    if (!st.ok()) return st;
  }

  // Into the store: in one write transaction where the store opens, else in its place (what was
  // there moved aside, not deleted).
  bool replaced = false;
  if (fs::exists(db_path, ec)) {
    auto live = Db::Open(db_path.string());
    Status st = live.ok() ? (*live)->ReplaceWith(work.path().string()) : live.status();
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
    fs::rename(work.path(), db_path, ec);
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

}  // namespace bosai::node
