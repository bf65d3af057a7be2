// Trust store; see trust_store.h.
#include "sync/trust_store.h"

#include <fmt/format.h>

#include <filesystem>

#include "storage/files.h"

namespace bosai::sync {
namespace fs = std::filesystem;

std::string NodeOfIncarnation(const std::string& incarnation) {
  return incarnation.substr(0, incarnation.find('#'));
}

Result<std::unique_ptr<TrustStore>> TrustStore::Load(Store& store, const std::string& keys_dir) {
  std::unique_ptr<TrustStore> t(new TrustStore(store));
  fs::path dir(keys_dir);
  std::vector<fs::path> root_files{dir / "root.crt"};
  std::error_code ec;
  if (fs::is_directory(dir / "roots", ec)) {
    std::vector<fs::path> partners;
    for (const auto& e : fs::directory_iterator(dir / "roots", ec)) {
      if (e.path().extension() == ".crt") partners.push_back(e.path());
    }
    std::sort(partners.begin(), partners.end());
    root_files.insert(root_files.end(), partners.begin(), partners.end());
  }
  for (const auto& path : root_files) {
    BOSAI_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(path));
    auto municipality = RootMunicipality(pem);
    if (!municipality.ok()) {
      return Status::Invalid(fmt::format("{}: {}", path.string(), municipality.status().message()));
    }
    t->roots_[*municipality] = pem;
    t->root_pems_.push_back(pem);
  }
  BOSAI_RETURN_IF_ERROR(store.db().EnsureTables(
      {"sync_certificates", "sync_revoked"},
      "CREATE TABLE IF NOT EXISTS sync_certificates(node_id TEXT NOT NULL, root TEXT NOT NULL,"
      "  pem TEXT NOT NULL, PRIMARY KEY(node_id, root));"
      "CREATE TABLE IF NOT EXISTS sync_revoked(node_id TEXT PRIMARY KEY, since INTEGER NOT "
      "NULL);"));
  BOSAI_RETURN_IF_ERROR(t->LoadRevoked());
  BOSAI_ASSIGN_OR_RETURN(t->own_pem_, ReadSmallFile(dir / "node.crt"));
  auto self = t->Admit(t->own_pem_);
  if (!self.ok()) {
    return Status::Invalid(
        fmt::format("{}: {}", (dir / "node.crt").string(), self.status().message()));
  }
  t->self_ = *self;
  // Read grants other municipalities gave this node.
  if (fs::is_directory(dir / "grants", ec)) {
    std::vector<fs::path> grants;
    for (const auto& e : fs::directory_iterator(dir / "grants", ec)) {
      if (e.path().extension() == ".crt") grants.push_back(e.path());
    }
    std::sort(grants.begin(), grants.end());
    for (const auto& path : grants) {
      BOSAI_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(path));
      auto grant = t->Admit(pem);
      if (!grant.ok() || !grant->grant || grant->node_id != t->self_.node_id) {
        return Status::Invalid(
            fmt::format("{}: not a read grant for this node{}", path.string(),
                        grant.ok() ? "" : " (" + grant.status().message() + ")"));
      }
      t->own_grants_.push_back(pem);
    }
  }
  // Certificates learned earlier; one that no longer verifies (revoked, expired) is forgotten.
  std::vector<std::string> learned;
  {
    Stmt& q = store.db().Prepare("SELECT pem FROM sync_certificates ORDER BY node_id");
    while (q.Step()) learned.emplace_back(q.Text(0));
    BOSAI_RETURN_IF_ERROR(q.status());
    q.Reset();
  }
  for (const auto& pem : learned) (void)t->Admit(pem);
  return t;
}

Result<std::vector<std::pair<std::string, std::string>>> TrustStore::CertificatesIn(Store& store) {
  std::vector<std::pair<std::string, std::string>> out;
  Stmt& t = store.db().Prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_certificates'");
  const bool held = t.Step();
  BOSAI_RETURN_IF_ERROR(t.status());
  t.Reset();
  if (!held) return out;
  Stmt& q = store.db().Prepare("SELECT node_id, pem FROM sync_certificates ORDER BY node_id");
  while (q.Step()) out.emplace_back(q.Text(0), q.Text(1));
  BOSAI_RETURN_IF_ERROR(q.status());
  q.Reset();
  return out;
}

Result<size_t> TrustStore::LoadLearned() {
  // A daemon asks at every poll: the certificates are read only when the table changed (a row
  // recorded, even in place of another, takes a new rowid).
  Stmt& m = store_.db().Prepare("SELECT count(*), coalesce(max(rowid), 0) FROM sync_certificates");
  if (!m.Step()) return m.status().ok() ? Status::Corruption("no row from count(*)") : m.status();
  const std::pair<int64_t, int64_t> mark{m.Int(0), m.Int(1)};
  m.Reset();
  if (mark == learned_mark_) return size_t(0);
  std::vector<std::string> fresh;
  Stmt& q = store_.db().Prepare("SELECT node_id, pem FROM sync_certificates");
  while (q.Step()) {
    std::string pem(q.Text(1));
    if (refused_.count(pem)) continue;
    auto it = known_.find(std::string(q.Text(0)));
    bool held = false;
    if (it != known_.end()) {
      held = it->second.own_pem == pem;
      for (const auto& [root, grant] : it->second.grants) held = held || grant.second == pem;
    }
    if (!held) fresh.push_back(std::move(pem));
  }
  BOSAI_RETURN_IF_ERROR(q.status());
  q.Reset();
  learned_mark_ = mark;
  size_t admitted = 0;
  for (const auto& pem : fresh) {
    if (Admit(pem).ok()) {
      ++admitted;
    } else {
      refused_.insert(pem);
    }
  }
  return admitted;
}

Status TrustStore::LoadRevoked() {
  // Another process (`bosai keys revoke`, `keys trust import`) may have added to the list.
  Stmt& q = store_.db().Prepare("SELECT node_id FROM sync_revoked");
  while (q.Step()) {
    std::string id(q.Text(0));
    known_.erase(id);
    revoked_.insert(std::move(id));
  }
  BOSAI_RETURN_IF_ERROR(q.status());
  q.Reset();
  return Status::Ok();
}

Result<NodeCertificate> TrustStore::Admit(const std::string& pem) {
  BOSAI_RETURN_IF_ERROR(LoadRevoked());
  // Which root: the one of the municipality the certificate names. Try each (few).
  Status last = Status::Invalid("no trusted root");
  for (const auto& [municipality, root] : roots_) {
    auto cert = VerifyNodeCertificate(pem, root);
    if (!cert.ok()) {
      last = cert.status();
      continue;
    }
    if (revoked(cert->node_id)) {
      return Status::PermissionDenied(fmt::format("node {} is revoked", cert->node_id));
    }
    if (!cert->grant) {
      // A node id's writes are signed with one key. Another device made under the same id has
      // a new key but the same first epoch: its stream names are taken, its writes would never
      // reach this node, and this node would stop trusting the writes of the first.
      BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> other,
                             store_.IncarnationWithOtherKey(cert->node_id, cert->public_key));
      if (other) {
        return Status::PermissionDenied(fmt::format(
            "node {} presents another key than the one {} signed its writes here with: a device "
            "made again under a node id its peers know. Its writes could never reach them; give "
            "it a new node id",
            cert->node_id, *other));
      }
    }
    Known& k = known_[cert->node_id];
    const std::string& had = cert->grant ? k.grants[municipality].second : k.own_pem;
    if (had != pem) {
      Stmt& q = store_.db().Prepare(
          "INSERT OR REPLACE INTO sync_certificates(node_id, root, pem) VALUES(?, ?, ?)");
      q.Bind(1, cert->node_id).Bind(2, municipality).Bind(3, pem);
      BOSAI_RETURN_IF_ERROR(q.Run());
      if (cert->grant) {
        k.grants[municipality] = {*cert, pem};
      } else {
        k.own = *cert;
        k.own_pem = pem;
      }
      Recompute(k);
    }
    return *cert;
  }
  return Status::PermissionDenied(
      fmt::format("certificate not issued by a trusted root ({})", last.message()));
}

void TrustStore::Recompute(Known& k) {
  k.effective = k.own;
  if (k.own.node_id.empty()) return;
  for (const auto& [root, grant] : k.grants) {
    if (grant.first.public_key != k.own.public_key) continue;  // for another key: ignored
    for (const auto& r : grant.first.scopes.read) {
      if (!k.effective.scopes.MayRead(r)) k.effective.scopes.read.push_back(r);
    }
  }
}

const NodeCertificate* TrustStore::Find(const std::string& node_id) const {
  auto it = known_.find(node_id);
  if (it == known_.end() || it->second.effective.node_id.empty()) return nullptr;
  return &it->second.effective;
}

Status TrustStore::Revoke(const std::string& node_id, int64_t now_ms) {
  Stmt& q = store_.db().Prepare("INSERT OR IGNORE INTO sync_revoked(node_id, since) VALUES(?, ?)");
  q.Bind(1, node_id).Bind(2, now_ms);
  BOSAI_RETURN_IF_ERROR(q.Run());
  revoked_.insert(node_id);
  known_.erase(node_id);
  return Status::Ok();
}

KeyLookup TrustStore::keys() const {
  return [this](const std::string& incarnation) -> std::optional<std::string> {
    const NodeCertificate* c = Find(NodeOfIncarnation(incarnation));
    if (!c) return std::nullopt;
    return c->public_key;
  };
}

WriteScopeCheck TrustStore::may_write() const {
  return [this](const std::string& incarnation, const std::string& scope) {
    const NodeCertificate* c = Find(NodeOfIncarnation(incarnation));
    return c && c->scopes.MayWrite(scope);
  };
}

bool TrustStore::MayRead(const NodeCertificate& reader, const StreamId& stream) {
  return reader.scopes.MayRead(stream.scope);
}

std::vector<std::string> TrustStore::CertificatesFor(const NodeCertificate& peer) const {
  std::vector<std::string> out{own_pem_};
  out.insert(out.end(), own_grants_.begin(), own_grants_.end());
  for (const auto& [id, k] : known_) {
    if (id == self_.node_id || id == peer.node_id) continue;
    if (!k.own_pem.empty()) out.push_back(k.own_pem);
    for (const auto& [root, grant] : k.grants) out.push_back(grant.second);
  }
  return out;
}

}  // namespace bosai::sync
