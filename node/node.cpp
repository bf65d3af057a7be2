// Data dir creation and opening; see node.h.
#include "node/node.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "node/enroll.h"
#include "node/resident.h"
#include "storage/files.h"
#include "storage/ids.h"

namespace bosai::node {
namespace fs = std::filesystem;
namespace {

Result<std::string> ReadFile(const fs::path& path) { return ReadSmallFile(path.string()); }

std::string OsUser() {
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return std::to_string(::geteuid());
}

// What an init may create in a data dir: the dir, keys/ and what is in it, and the database.
// Init removes what it made when it fails, so that the next try starts where it did (and finds
// the key that `keys node request` left, for an enrollment).
class InitUndo {
 public:
  explicit InitUndo(fs::path dir) : dir_(std::move(dir)) {
    for (const fs::path& p : Paths()) before_.insert(p);
  }
  void Run() const {
    std::vector<fs::path> made;
    for (const fs::path& p : Paths()) {
      if (!before_.count(p)) made.push_back(p);
    }
    std::sort(made.rbegin(), made.rend());  // what is in a directory before the directory
    std::error_code ec;
    for (const fs::path& p : made) fs::remove(p, ec);
  }

 private:
  std::vector<fs::path> Paths() const {
    std::vector<fs::path> out;
    std::error_code ec;
    if (fs::exists(dir_, ec)) out.push_back(dir_);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      fs::path db = dir_ / (std::string("bosai.db") + suffix);
      if (fs::exists(db, ec)) out.push_back(db);
    }
    if (fs::exists(dir_ / "keys", ec)) {
      out.push_back(dir_ / "keys");
      for (auto it = fs::recursive_directory_iterator(dir_ / "keys", ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        out.push_back(it->path());
      }
    }
    return out;
  }

  fs::path dir_;
  std::set<fs::path> before_;
};

// Of a data dir whose node was made (its certificate is there) but whose database is not.
std::string LostDatabase(const fs::path& dir) {
  return fmt::format(
      "{} holds a node's keys but no database (bosai.db): `bosai restore BACKUP` with a backup "
      "of the node, or move the data dir aside and run `bosai init` again",
      dir.string());
}

// Why DIR cannot be a data dir (empty, or a file), or Ok.
Status CheckDataDirPath(const std::string& dir) {
  if (dir.empty()) return Status::Invalid("the data dir is empty (--data-dir or BOSAI_DATA_DIR)");
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    return Status::Invalid(fmt::format("{} is a file, not a data dir", dir));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Node>> Node::Init(const InitOptions& options) {
  BOSAI_RETURN_IF_ERROR(CheckDataDirPath(options.data_dir));
  fs::path dir(options.data_dir);
  if (fs::exists(dir / "bosai.db")) {
    return Status::Exists(fmt::format("{} already holds a node", dir.string()));
  }
  if (fs::exists(dir / "keys" / "node.crt")) return Status::Exists(LostDatabase(dir));
  InitUndo undo(dir);
  auto node = InitFiles(options);
  if (!node.ok()) undo.Run();
  return node;
}

Result<std::unique_ptr<Node>> Node::InitFiles(const InitOptions& options) {
  fs::path dir(options.data_dir);
  if (!options.enrollment.empty() && !options.root_key.empty()) {
    return Status::Invalid("give --enrollment or --root-key, not both");
  }
  InitCrypto();
  std::string node_id = options.node_id;
  std::string municipality = options.municipality;
  std::optional<SigningKey> node_key;
  std::optional<Enrollment> enrollment;

  if (!options.enrollment.empty()) {
    // The key was made by `keys node request` in this data dir.
    auto read = ReadNodeKey((dir / "keys" / "node.key").string());
    if (read.status().code() == Status::Code::kNotFound) {
      return Status::NotFound(fmt::format(
          "{} has no requested node key: run `bosai keys node request` on this node first",
          options.data_dir));
    }
    BOSAI_ASSIGN_OR_RETURN(SigningKey key, std::move(read));
    BOSAI_ASSIGN_OR_RETURN(Enrollment e, OpenEnrollment(options.enrollment, key));
    if (!node_id.empty() && node_id != e.node_id) {
      return Status::Invalid(fmt::format("the enrollment is for {}, not {}", e.node_id, node_id));
    }
    node_id = e.node_id;
    if (municipality.empty()) municipality = node_id.substr(0, 6);
    node_key = key;
    enrollment = std::move(e);
  }
  BOSAI_RETURN_IF_ERROR(ValidateMunicipalityCode(municipality));
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(node_id));
  if (node_id.substr(0, 6) != municipality) {
    return Status::Invalid(fmt::format("node id {} does not start with the municipality code {}",
                                       node_id, municipality));
  }
  if (!node_key) node_key = SigningKey::Generate();

  BOSAI_RETURN_IF_ERROR(MakeDataDir(dir.string()));
  std::string root_key = options.root_key;
  bool development_root = options.enrollment.empty() && root_key.empty();
  if (development_root) {
    // A root of its own, kept in the data dir: the node works alone and syncs with nobody.
    std::string dev = (dir / "keys" / "dev-root").string();
    BOSAI_RETURN_IF_ERROR(CreateRootDir(municipality, dev));
    root_key = dev + "/root.key";
  }
  if (!root_key.empty()) {
    BOSAI_ASSIGN_OR_RETURN(Enrollment e, EnrollDirectly(root_key, node_id, *node_key));
    enrollment = std::move(e);
  }
  if (options.enrollment.empty()) {
    BOSAI_RETURN_IF_ERROR(
        WriteNewFile(dir / "keys" / "node.key", ToHex(node_key->secret()) + "\n", true));
  }
  BOSAI_RETURN_IF_ERROR(
      WriteNewFile(dir / "keys" / "node.crt", enrollment->node_certificate, true));
  BOSAI_RETURN_IF_ERROR(
      WriteNewFile(dir / "keys" / "node.cwt", enrollment->compact_certificate, true));
  BOSAI_RETURN_IF_ERROR(
      WriteNewFile(dir / "keys" / "root.crt", enrollment->root_certificate, true));
  if (enrollment->data_key) {
    BOSAI_RETURN_IF_ERROR(
        WriteNewFile(dir / "keys" / "data.key", enrollment->data_key->Serialize(), true));
  }

  Store::Options so;
  BOSAI_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                         Store::Open((dir / "bosai.db").string(), so));
  BOSAI_RETURN_IF_ERROR(store->db().Begin());
  Status st = store->SetMeta("node_id", node_id);
  if (st.ok()) st = store->SetMeta("municipality", municipality);
  if (st.ok()) st = store->SetMeta("epoch", "1");
  if (st.ok() && development_root) st = store->SetMeta("development_root", "keys/dev-root");
  if (st.ok()) st = store->SetMeta("issuer_code", enrollment->issuer_code);
  if (st.ok() && enrollment->data_key) {
    st = store->SetMeta("data_key_check", enrollment->data_key->Check());
  }
  if (st.ok()) st = store->db().Commit();
  if (!st.ok()) {
    store->db().Rollback();
    return st;
  }
  store.reset();
  return Open(options.data_dir);
}

Result<std::unique_ptr<Node>> Node::Open(const std::string& data_dir, OpenOptions options) {
  BOSAI_RETURN_IF_ERROR(CheckDataDirPath(data_dir));
  fs::path dir(data_dir);
  if (!fs::exists(dir / "bosai.db")) {
    if (fs::exists(dir / "keys" / "node.crt")) return Status::NotFound(LostDatabase(dir));
    if (fs::exists(dir / "keys" / "node.key")) {
      return Status::NotFound(
          fmt::format("{} holds a requested node key: run `bosai init --enrollment FILE` with the "
                      "enrollment issued for it",
                      data_dir));
    }
    return Status::NotFound(fmt::format(
        "{} holds no node: run `bosai init --node-id ID --municipality CODE` first", data_dir));
  }
  std::unique_ptr<Node> node(new Node());
  node->data_dir_ = data_dir;
  node->author_ = "os:" + OsUser();
  Store::Options so;
  so.indexer = ResidentIndexer();
  so.indexer_version = kResidentIndexerVersion;
  so.read_only = options.read_only || ::access(data_dir.c_str(), W_OK) != 0;
  so.alone_if_disk_full = options.alone_if_disk_full;
  BOSAI_ASSIGN_OR_RETURN(node->store_, Store::Open((dir / "bosai.db").string(), so));
  Store& store = *node->store_;
  BOSAI_ASSIGN_OR_RETURN(auto node_id, store.GetMeta("node_id"));
  BOSAI_ASSIGN_OR_RETURN(auto municipality, store.GetMeta("municipality"));
  BOSAI_ASSIGN_OR_RETURN(auto epoch, store.GetMetaNumber("epoch"));
  BOSAI_ASSIGN_OR_RETURN(auto dev_root, store.GetMeta("development_root"));
  if (!node_id || !municipality || !epoch) {
    return Status::Corruption(
        fmt::format("{}: the node identity is missing from bosai.db", data_dir));
  }
  node->node_id_ = *node_id;
  node->municipality_ = *municipality;
  node->development_root_ = dev_root.has_value();
  BOSAI_ASSIGN_OR_RETURN(auto issuer_code, store.GetMeta("issuer_code"));
  if (issuer_code) node->issuer_code_ = *issuer_code;

  BOSAI_ASSIGN_OR_RETURN(SigningKey key, ReadNodeKey((dir / "keys" / "node.key").string()));
  BOSAI_RETURN_IF_ERROR(store.SetIdentity({*node_id, int64_t(*epoch), key}));

  // A node set up with the data key recorded its check (nodes set up before it was recorded are
  // not checked): a key file that is damaged, replaced or gone is found here, before a My Number
  // is sealed with the wrong key.
  BOSAI_ASSIGN_OR_RETURN(auto data_key_check, store.GetMeta("data_key_check"));
  const std::string data_key_path = (dir / "keys" / "data.key").string();
  auto data_key_text = ReadFile(data_key_path);
  if (data_key_text.ok()) {
    auto dk = DataKey::Parse(*data_key_text);
    if (!dk.ok()) return dk.status().WithContext(data_key_path);
    if (data_key_check && *data_key_check != dk->Check()) {
      return Status::Corruption(fmt::format(
          "{}: not the data key this node was given (damaged or replaced)", data_key_path));
    }
    node->data_key_ = std::move(dk).value();
  } else if (data_key_check) {
    return Status::NotFound(
        fmt::format("{}: missing; this node was given the municipality's data key", data_key_path));
  }
  return node;
}

Result<sync::TrustStore*> Node::trust() {
  if (!trust_) {
    BOSAI_ASSIGN_OR_RETURN(trust_, sync::TrustStore::Load(*store_, keys_dir()));
  }
  return trust_.get();
}

Result<DoctorReport> Node::Doctor(const Store::DoctorProgress& progress) {
  // The replay takes about as much room as the store. It goes beside the store when the data
  // dir may be written and its disk has that room; else into a directory of its own in TMPDIR,
  // removed with all it holds.
  std::error_code ec;
  const uintmax_t room = fs::space(data_dir_, ec).available;
  const uintmax_t needs = ec ? 0 : fs::file_size(fs::path(data_dir_) / "bosai.db", ec);
  const bool beside = !read_only() && !ec && room > needs;
  fs::path own_dir;
  if (!beside) {
    fs::path tmp = fs::temp_directory_path(ec);
    if (ec) return Status::IoError(fmt::format("TMPDIR: {}", ec.message()));
    std::string pattern = (tmp / "bosai-doctor-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Status::IoError(fmt::format("{}: cannot create: {}", pattern, std::strerror(errno)));
    }
    own_dir = pattern;
  }
  const std::string scratch =
      ((own_dir.empty() ? fs::path(data_dir_) : own_dir) / "doctor-replay.db").string();
  auto report = store_->Doctor(scratch, progress);
  if (!own_dir.empty()) {
    std::error_code ignored;
    fs::remove_all(own_dir, ignored);
  }
  if (report.status().code() == Status::Code::kIoError) {
    return report.status().WithNote(
        fmt::format("doctor replays the op-log into {}: it needs write access there and about "
                    "as much free space as bosai.db takes",
                    scratch));
  }
  if (!report.ok()) return report.status();
  if (development_root_) {
    report->warnings.push_back("this node uses a development root, not a municipality's root");
  }
  if (auto w = ClockWarning()) report->warnings.push_back(*w);
  if (auto w = DataDirExposure(data_dir_)) report->warnings.push_back(*w);
  BOSAI_ASSIGN_OR_RETURN(std::vector<Conflict> conflicts, store().ListConflicts());
  if (!conflicts.empty()) {  // (after a partition, for an officer; not damage)
    report->warnings.push_back(
        fmt::format("{} for an officer to resolve (bosai conflicts list)",
                    conflicts.size() == 1 ? "a conflict waits"
                                          : std::to_string(conflicts.size()) + " conflicts wait"));
  }
  BOSAI_ASSIGN_OR_RETURN(std::vector<SharedMyNumber> shared, SharedMyNumbers(*this));
  if (!shared.empty()) {
    report->warnings.push_back(fmt::format(
        "{} held by more than one resident (bosai conflicts list)",
        shared.size() == 1 ? "a My Number is" : std::to_string(shared.size()) + " My Numbers are"));
  }
  BOSAI_ASSIGN_OR_RETURN(std::vector<HouseholdHeadProblem> heads, HouseholdHeadProblems(*this));
  if (!heads.empty()) {
    const bool one = heads.size() == 1;
    report->warnings.push_back(fmt::format(
        "{} no 世帯主, more than one, or one {} record does not name (bosai conflicts list)",
        one ? "a household has" : std::to_string(heads.size()) + " households have",
        one ? "its" : "their"));
  }
  return report;
}

std::optional<std::string> Node::DiskFullWarning() const {
  if (!disk_full()) return std::nullopt;
  return fmt::format(
      "the disk that holds {} is full: the store is open to read only, and other bosai "
      "processes on it wait until this command ends; free some space to write again",
      data_dir_);
}

std::optional<std::string> Node::ClockWarning() const {
  const int64_t lag = store_->ClockLagMillis();
  if (lag <= kClockWarningMillis) return std::nullopt;
  const int64_t latest = HlcMillis(store_->high_water());
  auto local = [](int64_t ms) {
    return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::localtime(std::time_t(ms / 1000)));
  };
  const int64_t s = (lag + 500) / 1000;
  auto in = [s](int64_t unit) { return (s + unit / 2) / unit; };  // rounded to the nearest
  std::string behind = s >= 2 * 86400  ? fmt::format("{} days", in(86400))
                       : s >= 2 * 3600 ? fmt::format("{} hours", in(3600))
                       : s >= 2 * 60   ? fmt::format("{} minutes", in(60))
                                       : fmt::format("{} seconds", s);
  return fmt::format(
      "this machine's clock reads {}, {} behind the latest time this node has stamped or seen "
      "({}): its changes are stamped after that time, but set the machine's clock",
      local(latest - lag), behind, local(latest));
}

}  // namespace bosai::node
