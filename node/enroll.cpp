// Root files, enrollment requests and enrollments; see enroll.h.
#include "node/enroll.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "node/trust_bundle.h"
#include "storage/files.h"
#include "storage/ids.h"
#include "sync/carried_file.h"
#include "sync/compact_cert.h"
#include "sync/trust.h"

namespace bosai::node {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxFileBytes = size_t(64) << 10;

// A key, certificate, request or enrollment: a few kilobytes; a larger file is some other one.
Result<std::string> Slurp(const std::string& path) {
  return ReadSmallFile(path, kMaxFileBytes, [](std::string_view) {
    return fmt::format(
        "over {} bytes: not a key, certificate, request or enrollment (a few kilobytes)",
        kMaxFileBytes);
  });
}

Result<nlohmann::json> ReadJson(const std::string& path, std::string_view kind,
                                sync::CarriedFile file) {
  BOSAI_ASSIGN_OR_RETURN(std::string text, Slurp(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kind) {
    return Status::Invalid(
        fmt::format("{}: not a {} file{}", path, kind, sync::OtherFileNote(text, file)));
  }
  return j;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<sync::Root> LoadRoot(const std::string& root_key_path) {
  fs::path dir = fs::path(root_key_path).parent_path();
  BOSAI_ASSIGN_OR_RETURN(std::string key_pem, Slurp(root_key_path));
  auto parsed = sync::ParsePrivateKeyPem(key_pem);
  if (!parsed.ok()) {  // (OpenSSL's reason says nothing an officer can act on)
    const bool certificate = key_pem.find("-----BEGIN CERTIFICATE-----") != std::string::npos;
    return Status::Invalid(fmt::format(
        "{}: not the root's private key ({})", root_key_path,
        certificate ? "it is a certificate; the root's key is root.key, beside root.crt"
                    : "an Ed25519 key in PEM, as `bosai keys root init` writes root.key"));
  }
  SigningKey key = std::move(parsed).value();
  auto cert = Slurp((dir / "root.crt").string());
  if (!cert.ok()) {
    return cert.status().WithNote(
        fmt::format("the root's certificate, beside its key {}", root_key_path));
  }
  const std::string& cert_pem = *cert;
  BOSAI_ASSIGN_OR_RETURN(std::string municipality, sync::RootMunicipality(cert_pem));
  // The key must be the certificate's: sign something and check it against a node cert check.
  sync::Root root{municipality, cert_pem, key};
  sync::NodeCertificate probe;
  probe.node_id = municipality + "-probe";
  probe.public_key = key.public_key();
  probe.issuer_code = "PROBE";
  BOSAI_ASSIGN_OR_RETURN(std::string probe_pem, sync::IssueNodeCertificate(root, probe, 1));
  if (!sync::VerifyNodeCertificate(probe_pem, cert_pem).ok()) {
    return Status::Invalid(
        fmt::format("{} does not belong to {}/root.crt", root_key_path, dir.string()));
  }
  return root;
}

// The enrollment document certifying PUBLIC_KEY as NODE_ID, after CheckIssue.
Result<std::string> Issue(const std::string& root_dir, const sync::Root& root,
                          const std::string& node_id, const std::string& public_key,
                          const std::string& issuer_code, const std::vector<std::string>& write,
                          const std::vector<std::string>& read,
                          const std::optional<DataKey>& data_key, AnotherKey another_key) {
  sync::NodeCertificate nc;
  nc.node_id = node_id;
  nc.public_key = public_key;
  nc.issuer_code = issuer_code;
  nc.scopes = {write, read};
  BOSAI_RETURN_IF_ERROR(CheckIssue(root_dir, node_id, public_key, another_key));
  BOSAI_ASSIGN_OR_RETURN(std::string cert, sync::IssueNodeCertificate(root, nc));
  BOSAI_RETURN_IF_ERROR(RecordIssued(root_dir, node_id, cert));  // for trust exports
  int64_t now_s = SystemClock::Get()->NowMillis() / 1000;
  BOSAI_ASSIGN_OR_RETURN(std::string compact, sync::IssueCompactCertificate(root, nc, now_s));
  nlohmann::json j{{"format", "bosai-enrollment-v1"},
                   {"node_id", node_id},
                   {"issuer_code", issuer_code},
                   {"node_certificate", cert},
                   {"compact_certificate", ToHex(compact)},
                   {"root_certificate", root.certificate_pem}};
  if (data_key && nc.scopes.MayRead(root.municipality + "/mynumber")) {
    // Sealed box to the node's key (its X25519 form): only that node can open it.
    uint8_t x25519[crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(
            x25519, reinterpret_cast<const uint8_t*>(public_key.data())) != 0) {
      return Status::Invalid("node public key cannot receive the data key");
    }
    std::string plain = data_key->Serialize();
    std::string sealed(plain.size() + crypto_box_SEALBYTES, '\0');
    crypto_box_seal(reinterpret_cast<uint8_t*>(sealed.data()),
                    reinterpret_cast<const uint8_t*>(plain.data()), plain.size(), x25519);
    j["data_key_sealed"] = ToHex(sealed);
  }
  return j.dump(2) + "\n";
}

Result<Enrollment> Parse(const nlohmann::json& j, const std::string& where,
                         const SigningKey& node_key) {
  Enrollment e;
  e.node_id = Str(j, "node_id");
  e.issuer_code = Str(j, "issuer_code");
  e.node_certificate = Str(j, "node_certificate");
  e.root_certificate = Str(j, "root_certificate");
  auto cert = sync::VerifyNodeCertificate(e.node_certificate, e.root_certificate);
  if (!cert.ok()) return cert.status().WithContext(where);
  if (cert->node_id != e.node_id || cert->issuer_code != e.issuer_code) {
    return Status::Invalid(fmt::format("{}: fields do not match the node certificate", where));
  }
  if (cert->public_key != node_key.public_key()) {
    return Status::Invalid(fmt::format("{}: issued for another key than this node's", where));
  }
  auto compact = FromHex(Str(j, "compact_certificate"));
  BOSAI_ASSIGN_OR_RETURN(auto root_subject, sync::CertificateSubject(e.root_certificate));
  if (!compact.ok() || compact->empty()) {
    return Status::Invalid(fmt::format("{}: no compact node certificate", where));
  }
  auto cc = sync::VerifyCompactCertificate(*compact, root_subject.second);
  if (!cc.ok()) return cc.status().WithContext(where);
  if (cc->node.node_id != e.node_id || cc->node.public_key != cert->public_key ||
      cc->node.issuer_code != e.issuer_code) {
    return Status::Invalid(
        fmt::format("{}: the compact certificate does not match the node certificate", where));
  }
  e.compact_certificate = *compact;
  std::string sealed_hex = Str(j, "data_key_sealed");
  if (!sealed_hex.empty()) {
    auto sealed = FromHex(sealed_hex);
    uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
    std::string sk = node_key.secret();
    std::string pk = node_key.public_key();
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, reinterpret_cast<const uint8_t*>(pk.data())) !=
            0 ||
        crypto_sign_ed25519_sk_to_curve25519(xsk, reinterpret_cast<const uint8_t*>(sk.data())) !=
            0) {
      return Status::Invalid(fmt::format("{}: this node's key cannot receive the data key", where));
    }
    if (!sealed.ok() || sealed->size() < crypto_box_SEALBYTES) {
      return Status::Invalid(fmt::format("{}: data key is damaged", where));
    }
    std::string plain(sealed->size() - crypto_box_SEALBYTES, '\0');
    int rc = crypto_box_seal_open(reinterpret_cast<uint8_t*>(plain.data()),
                                  reinterpret_cast<const uint8_t*>(sealed->data()), sealed->size(),
                                  xpk, xsk);
    sodium_memzero(xsk, sizeof xsk);
    if (rc != 0)
      return Status::Invalid(fmt::format("{}: data key does not open with this node's key", where));
    BOSAI_ASSIGN_OR_RETURN(DataKey dk, DataKey::Parse(plain));
    e.data_key = dk;
  }
  return e;
}

// Writes PEM to TO in place of the file installed before, whole or not at all; nothing when TO
// holds it already.
Result<InstalledTrust> Install(const fs::path& to, const std::string& pem, std::string what) {
  auto held = ReadSmallFile(to, kMaxFileBytes);
  if (held.ok() && *held == pem) return InstalledTrust{std::move(what), true};
  BOSAI_RETURN_IF_ERROR(WriteFileAtomically(to, pem, false));
  return InstalledTrust{std::move(what), false};
}

}  // namespace

Status MakeDataDir(const std::string& dir) {
  std::error_code ec;
  const bool made = !fs::exists(dir, ec);
  fs::create_directories(fs::path(dir) / "keys", ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", dir, ec.message()));
  if (made) fs::permissions(dir, fs::perms::owner_all, ec);
  if (!ec) fs::permissions(fs::path(dir) / "keys", fs::perms::owner_all, ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", dir, ec.message()));
  return Status::Ok();
}

std::optional<std::string> DataDirExposure(const std::string& dir) {
  std::error_code ec;
  const fs::perms mode = fs::status(dir, ec).permissions();
  const fs::perms open = fs::perms::group_all | fs::perms::others_all;
  if (ec || (mode & open) == fs::perms::none) return std::nullopt;
  return fmt::format(
      "other users of this computer may read the data dir {} (mode {:04o}), which holds "
      "residents' names and addresses: `chmod 700 {}`",
      dir, int(mode & fs::perms::mask), dir);
}

Status CreateRootDir(const std::string& municipality, const std::string& dir) {
  BOSAI_ASSIGN_OR_RETURN(sync::Root root, sync::CreateRoot(municipality));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", dir, ec.message()));
  for (const char* f : {"root.key", "root.crt", "data.key"}) {
    if (fs::exists(fs::path(dir) / f))
      return Status::Exists(fmt::format("{}/{} already exists", dir, f));
  }
  BOSAI_RETURN_IF_ERROR(
      WriteNewFile(fs::path(dir) / "root.key", sync::PrivateKeyPem(root.key), true));
  BOSAI_RETURN_IF_ERROR(WriteNewFile(fs::path(dir) / "root.crt", root.certificate_pem, false));
  BOSAI_RETURN_IF_ERROR(
      WriteNewFile(fs::path(dir) / "data.key", DataKey::Generate().Serialize(), true));
  return EnsureStatusSigner(dir);
}

Result<SigningKey> ReadNodeKey(const std::string& path) {
  BOSAI_ASSIGN_OR_RETURN(std::string hex, Slurp(path));
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
  auto secret = FromHex(hex);
  if (!secret.ok()) return Status::Corruption(path + " is damaged");
  auto key = SigningKey::FromSecret(*secret);
  if (!key.ok()) return key.status().WithContext(path);
  return key;
}

Result<bool> WriteEnrollmentRequest(const std::string& data_dir, const std::string& node_id,
                                    const std::string& out_path) {
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(node_id));
  fs::path keys = fs::path(data_dir) / "keys";
  if (fs::exists(fs::path(data_dir) / "bosai.db")) {
    return Status::Exists(fmt::format("{} already holds a node", data_dir));
  }
  BOSAI_RETURN_IF_ERROR(MakeDataDir(data_dir));
  InitCrypto();
  SigningKey key = SigningKey::Generate();
  fs::path key_path = keys / "node.key";
  const bool reused = fs::exists(key_path);
  if (reused) {
    BOSAI_ASSIGN_OR_RETURN(key, ReadNodeKey(key_path.string()));
  } else {
    BOSAI_RETURN_IF_ERROR(WriteNewFile(key_path, ToHex(key.secret()) + "\n", true));
  }
  nlohmann::json j{{"format", "bosai-node-request-v1"},
                   {"node_id", node_id},
                   {"public_key", ToHex(key.public_key())}};
  BOSAI_RETURN_IF_ERROR(WriteNewFile(out_path, j.dump(2) + "\n", false));
  return reused;
}

Status IssueEnrollment(const IssueOptions& o) {
  BOSAI_ASSIGN_OR_RETURN(sync::Root root, LoadRoot((fs::path(o.root_dir) / "root.key").string()));
  BOSAI_ASSIGN_OR_RETURN(nlohmann::json req, ReadJson(o.request_path, "bosai-node-request-v1",
                                                      sync::CarriedFile::kNodeRequest));
  auto pk = FromHex(Str(req, "public_key"));
  if (!pk.ok() || pk->size() != 32) return Status::Invalid(o.request_path + ": bad public key");
  std::optional<DataKey> dk;
  auto dk_text = Slurp((fs::path(o.root_dir) / "data.key").string());
  if (dk_text.ok()) {
    BOSAI_ASSIGN_OR_RETURN(DataKey parsed, DataKey::Parse(*dk_text));
    dk = parsed;
  }
  std::vector<std::string> write =
      o.write ? *o.write
              : std::vector<std::string>{root.municipality, root.municipality + "/mynumber"};
  BOSAI_ASSIGN_OR_RETURN(std::string out,
                         Issue(o.root_dir, root, Str(req, "node_id"), *pk, o.issuer_code, write,
                               o.read, dk, AnotherKey::kRefused));
  return WriteNewFile(o.out_path, out, false);
}

Result<Enrollment> OpenEnrollment(const std::string& path, const SigningKey& node_key) {
  BOSAI_ASSIGN_OR_RETURN(nlohmann::json j,
                         ReadJson(path, "bosai-enrollment-v1", sync::CarriedFile::kEnrollment));
  return Parse(j, path, node_key);
}

Result<Enrollment> EnrollDirectly(const std::string& root_key_path, const std::string& node_id,
                                  const SigningKey& node_key) {
  BOSAI_ASSIGN_OR_RETURN(sync::Root root, LoadRoot(root_key_path));
  std::optional<DataKey> dk;
  auto dk_text = Slurp((fs::path(root_key_path).parent_path() / "data.key").string());
  if (dk_text.ok()) {
    BOSAI_ASSIGN_OR_RETURN(DataKey parsed, DataKey::Parse(*dk_text));
    dk = parsed;
  }
  // The issuer code defaults to the node's name: 042021-shelter-03 → SHELTER03.
  std::string issuer;
  for (char c : node_id.substr(7)) {
    if (std::isalnum(static_cast<unsigned char>(c)) && issuer.size() < 12) {
      issuer.push_back(char(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  BOSAI_ASSIGN_OR_RETURN(
      std::string doc,
      Issue(fs::path(root_key_path).parent_path().string(), root, node_id, node_key.public_key(),
            issuer, {root.municipality, root.municipality + "/mynumber"}, {}, dk,
            AnotherKey::kAllowed));
  return Parse(nlohmann::json::parse(doc), root_key_path, node_key);
}

Status IssueGrantFile(const std::string& root_dir, const std::string& node_certificate_path,
                      const std::vector<std::string>& read, const std::string& out_path) {
  BOSAI_ASSIGN_OR_RETURN(sync::Root root, LoadRoot((fs::path(root_dir) / "root.key").string()));
  BOSAI_ASSIGN_OR_RETURN(std::string pem, Slurp(node_certificate_path));
  auto subject = sync::CertificateSubject(pem);
  if (!subject.ok()) {
    return Status::Invalid(
        fmt::format("{}: {}", node_certificate_path, subject.status().message()));
  }
  sync::NodeCertificate node;
  node.node_id = subject->first;
  node.public_key = subject->second;
  node.scopes.read = read;
  BOSAI_ASSIGN_OR_RETURN(std::string grant, sync::IssueReadGrant(root, node));
  BOSAI_RETURN_IF_ERROR(RecordIssued(root_dir, node.node_id + ".grant", grant));
  return WriteNewFile(out_path, grant, false);
}

Result<InstalledTrust> InstallTrustFile(const std::string& data_dir, const std::string& path) {
  BOSAI_ASSIGN_OR_RETURN(std::string pem, Slurp(path));
  fs::path keys = fs::path(data_dir) / "keys";
  if (!fs::exists(keys / "node.crt")) {
    return Status::NotFound(fmt::format("{} holds no enrolled node", data_dir));
  }
  auto municipality = sync::RootMunicipality(pem);
  std::error_code ec;
  if (municipality.ok()) {
    fs::create_directories(keys / "roots", ec);
    return Install(keys / "roots" / (*municipality + ".crt"), pem, "root of " + *municipality);
  }
  // A grant: it must verify under one of the roots this node trusts, and be for this node.
  BOSAI_ASSIGN_OR_RETURN(std::string own, Slurp((keys / "node.crt").string()));
  BOSAI_ASSIGN_OR_RETURN(auto self, sync::CertificateSubject(own));
  std::vector<fs::path> roots;
  for (const auto& e : fs::directory_iterator(keys / "roots", ec)) {
    if (e.path().extension() == ".crt") roots.push_back(e.path());  // as TrustStore reads them
  }
  for (const auto& r : roots) {
    BOSAI_ASSIGN_OR_RETURN(std::string root_pem, Slurp(r.string()));
    auto grant = sync::VerifyNodeCertificate(pem, root_pem);
    if (!grant.ok() || !grant->grant) continue;
    if (grant->node_id != self.first || grant->public_key != self.second) {
      return Status::Invalid(
          fmt::format("{}: the grant is for {}, not this node", path, grant->node_id));
    }
    fs::create_directories(keys / "grants", ec);
    std::string scopes;
    for (const auto& s : grant->scopes.read) scopes += (scopes.empty() ? "" : ",") + s;
    return Install(keys / "grants" / (grant->root_municipality + ".crt"), pem,
                   "read grant of " + grant->root_municipality + " (" + scopes + ")");
  }
  return Status::Invalid(fmt::format(
      "{}: neither a root certificate nor a grant for this node under a root it trusts (install "
      "the granting municipality's root.crt first){}",
      path, sync::OtherFileNote(pem, sync::CarriedFile::kCertificate)));
}

}  // namespace bosai::node
