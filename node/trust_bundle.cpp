// Trust bundles; see trust_bundle.h.
#include "node/trust_bundle.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "storage/files.h"
#include "sync/carried_file.h"
#include "sync/trust.h"

namespace bosai::node {
namespace fs = std::filesystem;
namespace {

Result<sync::Root> LoadRootDir(const fs::path& dir) {
  BOSAI_ASSIGN_OR_RETURN(std::string key_pem, ReadSmallFile(dir / "root.key"));
  BOSAI_ASSIGN_OR_RETURN(std::string cert_pem, ReadSmallFile(dir / "root.crt"));
  BOSAI_ASSIGN_OR_RETURN(SigningKey key, sync::ParsePrivateKeyPem(key_pem));
  BOSAI_ASSIGN_OR_RETURN(std::string municipality, sync::RootMunicipality(cert_pem));
  return sync::Root{municipality, cert_pem, key};
}

// The status signer of a root dir, made and certified on first use.
Result<std::pair<SigningKey, std::string>> StatusSigner(const fs::path& dir,
                                                        const sync::Root& root) {
  if (!fs::exists(dir / "status.key")) {
    SigningKey key = SigningKey::Generate();
    BOSAI_ASSIGN_OR_RETURN(std::string cert, sync::IssueStatusSigner(root, key.public_key()));
    BOSAI_RETURN_IF_ERROR(
        WriteFileAtomically(dir / "status.key", sync::PrivateKeyPem(key), /*secret=*/true));
    BOSAI_RETURN_IF_ERROR(WriteFileAtomically(dir / "status.crt", cert, /*secret=*/false));
  }
  BOSAI_ASSIGN_OR_RETURN(std::string key_pem, ReadSmallFile(dir / "status.key"));
  BOSAI_ASSIGN_OR_RETURN(std::string cert, ReadSmallFile(dir / "status.crt"));
  BOSAI_ASSIGN_OR_RETURN(SigningKey key, sync::ParsePrivateKeyPem(key_pem));
  return std::make_pair(std::move(key), std::move(cert));
}

std::vector<std::string> ReadRevoked(const fs::path& dir) {
  std::vector<std::string> out;
  std::ifstream in(dir / "revoked.txt");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The node certificates the root issued (issued/NODE_ID.crt; not its read grants,
// issued/NAME.grant.crt).
std::vector<fs::path> IssuedNodeCertificates(const fs::path& root_dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(root_dir / "issued", ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() == ".crt" && p.stem().extension() != ".grant") out.push_back(p);
  }
  return out;
}

}  // namespace

Status EnsureStatusSigner(const std::string& root_dir) {
  BOSAI_ASSIGN_OR_RETURN(sync::Root root, LoadRootDir(root_dir));
  BOSAI_ASSIGN_OR_RETURN(auto signer, StatusSigner(root_dir, root));
  (void)signer;
  return Status::Ok();
}

Status RecordIssued(const std::string& root_dir, const std::string& name, const std::string& pem) {
  fs::path dir = fs::path(root_dir) / "issued";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", dir.string(), ec.message()));
  return WriteFileAtomically(dir / (name + ".crt"), pem, /*secret=*/false);
}

Status CheckIssue(const std::string& root_dir, const std::string& node_id,
                  const std::string& public_key, AnotherKey another_key) {
  const std::vector<std::string> revoked = ReadRevoked(root_dir);
  auto is_revoked = [&](const std::string& id) {
    return std::find(revoked.begin(), revoked.end(), id) != revoked.end();
  };
  if (is_revoked(node_id)) {
    return Status::Invalid(fmt::format(
        "{} is revoked ({}/revoked.txt): its peers refuse any certificate of it; give the node a "
        "new node id",
        node_id, root_dir));
  }
  for (const fs::path& p : IssuedNodeCertificates(root_dir)) {
    BOSAI_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(p));
    auto subject = sync::CertificateSubject(pem);
    if (!subject.ok()) return subject.status().WithContext(p.string());
    const auto& [holder, key] = *subject;
    if (holder == node_id) {
      if (key != public_key && another_key == AnotherKey::kRefused) {
        return Status::Exists(fmt::format(
            "{} is certified to another key ({}): a node id belongs to one key, the one its "
            "writes are signed with, and its peers refuse another. Give the new device a new node "
            "id, and revoke {} if its device is lost",
            node_id, p.string(), node_id));
      }
      continue;
    }
    if (key != public_key) continue;
    if (is_revoked(holder)) {
      return Status::Exists(fmt::format(
          "the requested key was certified as {}, which is revoked ({}): a revoked node's key is "
          "never certified again; make the request in a new data dir (a new key)",
          holder, p.string()));
    }
    return Status::Exists(fmt::format(
        "the requested key is certified already as {} ({}): a key is certified as one node only. "
        "To re-issue that node's certificate, request as {}; for another node, make the request "
        "in a new data dir (a new key), and revoke {} if it was a mistake",
        holder, p.string(), holder, holder));
  }
  return Status::Ok();
}

Result<RootRevocation> RevokeAtRoot(const std::string& root_dir, const std::string& node_id) {
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(node_id));
  BOSAI_ASSIGN_OR_RETURN(sync::Root root, LoadRootDir(root_dir));
  (void)root;  // only to check this is a root dir
  RootRevocation r;
  // The nodes it issued certificates to (not grants): is this one of them?
  std::vector<std::string> nodes;
  bool known = false;
  for (const fs::path& p : IssuedNodeCertificates(root_dir)) {
    known = known || p.stem().string() == node_id;
    nodes.push_back(p.stem().string());
  }
  if (!known) {
    std::sort(nodes.begin(), nodes.end());
    r.issued_to_others = std::move(nodes);
  }
  auto revoked = ReadRevoked(root_dir);
  if (std::find(revoked.begin(), revoked.end(), node_id) != revoked.end()) {
    r.already = true;
    return r;
  }
  // The file as it is, and the node: rewritten whole, never half appended.
  const fs::path path = fs::path(root_dir) / "revoked.txt";
  std::string text;
  if (fs::exists(path)) {
    BOSAI_ASSIGN_OR_RETURN(text, ReadSmallFile(path));
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  BOSAI_RETURN_IF_ERROR(WriteFileAtomically(path, text + node_id + "\n", /*secret=*/false));
  return r;
}

Result<TrustExport> ExportTrust(const std::string& root_dir, const std::string& out_path) {
  fs::path dir(root_dir);
  BOSAI_ASSIGN_OR_RETURN(sync::Root root, LoadRootDir(dir));
  BOSAI_ASSIGN_OR_RETURN(auto signer, StatusSigner(dir, root));
  uint64_t seq = 1;
  if (auto text = ReadSmallFile(dir / "trust.seq"); text.ok()) {
    char* end = nullptr;
    uint64_t last = std::strtoull(text->c_str(), &end, 10);
    if (end == text->c_str() || (*end != '\0' && *end != '\n')) {
      return Status::Corruption(fmt::format("{}/trust.seq: not a sequence number", root_dir));
    }
    seq = last + 1;
  }
  auto revoked = ReadRevoked(dir);
  std::set<std::string> gone(revoked.begin(), revoked.end());
  std::vector<fs::path> issued;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / "issued", ec)) issued.push_back(e.path());
  std::sort(issued.begin(), issued.end());
  nlohmann::json certs = nlohmann::json::array();
  for (const auto& path : issued) {
    BOSAI_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(path));
    auto subject = sync::CertificateSubject(pem);
    if (subject.ok() && gone.count(subject->first)) continue;
    certs.push_back(pem);
  }
  nlohmann::json doc = {{"format", "bosai-trust-v1"},
                        {"municipality", root.municipality},
                        {"seq", seq},
                        {"created_ms", SystemClock::Get()->NowMillis()},
                        {"root", root.certificate_pem},
                        {"status_signer", signer.second},
                        {"certificates", certs},
                        {"revoked", revoked}};
  doc["signature"] = ToHex(signer.first.Sign(doc.dump()));
  BOSAI_RETURN_IF_ERROR(WriteFileAtomically(out_path, doc.dump(2) + "\n", /*secret=*/false));
  BOSAI_RETURN_IF_ERROR(
      WriteFileAtomically(dir / "trust.seq", std::to_string(seq) + "\n", /*secret=*/false));
  return TrustExport{seq, certs.size(), revoked.size()};
}

Result<TrustImport> ImportTrust(Node& node, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Status::Invalid(fmt::format("{}: {}", path, why));
  };
  BOSAI_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    const std::string other = sync::OtherFileNote(text, sync::CarriedFile::kTrustBundle);
    return bad(other.empty() ? "not JSON: " + JsonMessage(e.what()) : "not a trust bundle" + other);
  }
  TrustImport r;
  std::string root_pem, signer_pem, signature_hex;
  std::vector<std::string> certs, revoked;
  try {
    if (doc.value("format", "") != "bosai-trust-v1") {
      return bad("not a trust bundle" + sync::OtherFileNote(text, sync::CarriedFile::kTrustBundle));
    }
    r.municipality = doc.at("municipality").get<std::string>();
    r.seq = doc.at("seq").get<uint64_t>();
    root_pem = doc.at("root").get<std::string>();
    signer_pem = doc.at("status_signer").get<std::string>();
    certs = doc.at("certificates").get<std::vector<std::string>>();
    revoked = doc.at("revoked").get<std::vector<std::string>>();
    signature_hex = doc.at("signature").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return bad("malformed: " + JsonMessage(e.what()));
  }
  // The root must be one this node already trusts for that municipality.
  fs::path keys(node.keys_dir());
  std::string trusted;
  for (const fs::path& candidate :
       {keys / "root.crt", keys / "roots" / (r.municipality + ".crt")}) {
    auto pem = ReadSmallFile(candidate);
    if (pem.ok() && *pem == root_pem) trusted = *pem;
  }
  if (trusted.empty()) {
    return Status::PermissionDenied(fmt::format(
        "{}: signed under a root of {} this node does not trust", path, r.municipality));
  }
  auto signer = sync::VerifyStatusSigner(signer_pem, trusted);
  if (!signer.ok()) return bad(signer.status().message());
  nlohmann::json unsigned_doc = doc;
  unsigned_doc.erase("signature");
  auto signature = FromHex(signature_hex);
  if (!signature.ok() || !VerifySignature(*signer, unsigned_doc.dump(), *signature)) {
    return bad("signature does not verify: the file was altered");
  }
  Store& store = node.store();
  std::string seq_key = "trust_seq:" + r.municipality;
  BOSAI_ASSIGN_OR_RETURN(std::optional<uint64_t> last, store.GetMetaNumber(seq_key));
  if (last && *last >= r.seq) {
    return bad(fmt::format("sequence {} is not newer than the last imported ({})", r.seq, *last));
  }
  BOSAI_ASSIGN_OR_RETURN(sync::TrustStore * trust, node.trust());
  int64_t now = SystemClock::Get()->NowMillis();
  BOSAI_RETURN_IF_ERROR(store.db().Begin());
  Status st;
  for (const auto& id : revoked) {
    if (id == node.node_id()) {  // kept trusting itself; its peers refuse it
      r.self_revoked = true;
      continue;
    }
    if (st.ok()) st = trust->Revoke(id, now);
    if (st.ok()) ++r.revoked;
  }
  for (const auto& pem : certs) {
    if (st.ok() && trust->Admit(pem).ok()) ++r.certificates;
  }
  if (st.ok()) st = store.SetMeta(seq_key, std::to_string(r.seq));
  if (st.ok()) st = store.db().Commit();
  if (!st.ok()) {
    store.db().Rollback();
    return st;
  }
  return r;
}

}  // namespace bosai::node
