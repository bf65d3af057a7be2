// X.509 roots and node certificates with Ed25519 over OpenSSL; see trust.h.
#include "sync/trust.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "storage/ids.h"

namespace bosai::sync {
namespace {

// Scopes extension: a UUID-based OID (2.25.x, ITU-T X.667), so no registration is needed.
constexpr const char* kScopesOid = "2.25.232573416254928310549870327913577391641";
constexpr const char* kScopesName = "bosaiScopes";

struct Free {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(ASN1_OCTET_STRING* p) const { ASN1_OCTET_STRING_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Free>;

int ScopesNid() {
  static int nid = [] {
    int n = OBJ_txt2nid(kScopesOid);
    return n != NID_undef ? n : OBJ_create(kScopesOid, kScopesName, "bosai node scopes");
  }();
  return nid;
}

Status OpenSslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Status::Invalid(fmt::format("{}: {}", what, buf));
}

Ptr<EVP_PKEY> PrivateKey(const SigningKey& key) {
  std::string seed = key.secret().substr(0, 32);  // libsodium's secret key is seed || public key
  return Ptr<EVP_PKEY>(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const uint8_t*>(seed.data()), seed.size()));
}

Ptr<EVP_PKEY> PublicKey(const std::string& raw) {
  return Ptr<EVP_PKEY>(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
}

Result<Ptr<X509>> ParsePem(const std::string& pem, std::string_view what) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  Ptr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return OpenSslError(fmt::format("{} is not a PEM certificate", what));
  return cert;
}

std::string ToPem(X509* cert) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(n));
}

// The raw 32-byte Ed25519 key a certificate holds.
Result<std::string> RawPublicKey(X509* cert, std::string_view what) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  std::string raw(32, '\0');
  size_t len = raw.size();
  if (!key || EVP_PKEY_id(key) != EVP_PKEY_ED25519 ||
      !EVP_PKEY_get_raw_public_key(key, reinterpret_cast<uint8_t*>(raw.data()), &len) ||
      len != raw.size()) {
    return Status::Invalid(fmt::format("{} does not hold an Ed25519 key", what));
  }
  return raw;
}

std::string CommonName(X509* cert) {
  char buf[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) return OpenSslError("certificate extension");
  return Status::Ok();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}
std::vector<std::string> Split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t c = s.find(',');
    out.emplace_back(s.substr(0, c));
    s = c == std::string_view::npos ? std::string_view() : s.substr(c + 1);
  }
  return out;
}

// A certificate for `subject_key`, signed by `issuer_key` (self-signed when issuer is null).
Result<Ptr<X509>> NewCertificate(const std::string& cn, EVP_PKEY* subject_key, X509* issuer,
                                 int valid_days) {
  Ptr<X509> cert(X509_new());
  X509_set_version(cert.get(), 2);
  uint8_t serial[16];
  randombytes_buf(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), long(valid_days) * 86400);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const uint8_t*>("bosai"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const uint8_t*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

}  // namespace

bool Scopes::MayWrite(const std::string& scope) const {
  return std::find(write.begin(), write.end(), scope) != write.end();
}
bool Scopes::MayRead(const std::string& scope) const {
  return MayWrite(scope) || std::find(read.begin(), read.end(), scope) != read.end();
}

Result<Root> CreateRoot(const std::string& municipality) {
  BOSAI_RETURN_IF_ERROR(ValidateMunicipalityCode(municipality));
  InitCrypto();
  Root root{municipality, "", SigningKey::Generate()};
  Ptr<EVP_PKEY> key = PrivateKey(root.key);
  BOSAI_ASSIGN_OR_RETURN(
      Ptr<X509> cert, NewCertificate("bosai root " + municipality, key.get(), nullptr, 20 * 365));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  BOSAI_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (!X509_sign(cert.get(), key.get(), nullptr)) return OpenSslError("signing the root");
  root.certificate_pem = ToPem(cert.get());
  return root;
}

Result<std::string> RootMunicipality(const std::string& root_pem) {
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> cert, ParsePem(root_pem, "root certificate"));
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (!key || EVP_PKEY_id(key) != EVP_PKEY_ED25519 || X509_verify(cert.get(), key) != 1 ||
      X509_check_ca(cert.get()) == 0) {
    return Status::Invalid("not a self-signed Ed25519 CA certificate");
  }
  std::string cn = CommonName(cert.get());
  constexpr std::string_view kPrefix = "bosai root ";
  if (cn.rfind(kPrefix, 0) != 0) return Status::Invalid("not a bosai root certificate");
  std::string code = cn.substr(kPrefix.size());
  BOSAI_RETURN_IF_ERROR(ValidateMunicipalityCode(code));
  return code;
}

namespace {

// Signs a node certificate or a read grant; the caller has checked what the root may grant.
Result<std::string> SignNodeCertificate(const Root& root, const NodeCertificate& node,
                                        int valid_days);

}  // namespace

Result<std::string> IssueNodeCertificate(const Root& root, const NodeCertificate& node,
                                         int valid_days) {
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(node.node_id));
  if (node.node_id.substr(0, 6) != root.municipality) {
    return Status::Invalid(
        fmt::format("the root of {} cannot certify node {}", root.municipality, node.node_id));
  }
  for (const auto& w : node.scopes.write) {
    if (w != root.municipality && w.rfind(root.municipality + "/", 0) != 0) {
      return Status::Invalid(
          fmt::format("the root of {} cannot grant write scope {}", root.municipality, w));
    }
  }
  // What it is printed as on certificates: 1 to 12 of A-Z, 0-9.
  auto printable = [](const std::string& code) {
    return !code.empty() && code.size() <= 12 && std::all_of(code.begin(), code.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    });
  };
  if (!printable(node.issuer_code)) {
    std::string capitals = node.issuer_code;  // typed in small letters: named in capitals
    for (char& c : capitals) c = (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
    return Status::Invalid(
        fmt::format("issuer code \"{}\" must be 1 to 12 of A-Z, 0-9{}", node.issuer_code,
                    printable(capitals) ? fmt::format(" (capitals: {})", capitals) : ""));
  }
  return SignNodeCertificate(root, node, valid_days);
}

Result<std::string> IssueReadGrant(const Root& root, const NodeCertificate& node, int valid_days) {
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(node.node_id));
  if (node.node_id.substr(0, 6) == root.municipality) {
    return Status::Invalid(
        fmt::format("{} is a node of {}: give it scopes in its node certificate, not a grant",
                    node.node_id, root.municipality));
  }
  if (node.scopes.read.empty()) return Status::Invalid("a grant needs at least one read scope");
  for (const auto& r : node.scopes.read) {
    if (r != root.municipality && r.rfind(root.municipality + "/", 0) != 0) {
      return Status::Invalid(
          fmt::format("the root of {} cannot grant read scope {}", root.municipality, r));
    }
  }
  NodeCertificate grant = node;
  grant.issuer_code = "GRANT";
  grant.scopes.write.clear();
  return SignNodeCertificate(root, grant, valid_days);
}

namespace {

Result<std::string> SignNodeCertificate(const Root& root, const NodeCertificate& node,
                                        int valid_days) {
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> issuer, ParsePem(root.certificate_pem, "root certificate"));
  Ptr<EVP_PKEY> root_key = PrivateKey(root.key);
  Ptr<EVP_PKEY> node_key = PublicKey(node.public_key);
  if (!node_key) return Status::Invalid("node public key is not an Ed25519 key");
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> cert,
                         NewCertificate(node.node_id, node_key.get(), issuer.get(), valid_days));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer.get(), NID_basic_constraints, "critical,CA:FALSE"));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer.get(), NID_key_usage, "critical,digitalSignature"));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer.get(), NID_authority_key_identifier, "keyid:always"));
  std::string scopes = fmt::format("issuer={};write={};read={}", node.issuer_code,
                                   Join(node.scopes.write), Join(node.scopes.read));
  Ptr<ASN1_OCTET_STRING> data(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(data.get(), reinterpret_cast<const uint8_t*>(scopes.data()),
                        int(scopes.size()));
  Ptr<X509_EXTENSION> ext(X509_EXTENSION_create_by_NID(nullptr, ScopesNid(), 0, data.get()));
  if (!ext || !X509_add_ext(cert.get(), ext.get(), -1)) return OpenSslError("scopes extension");
  if (!X509_sign(cert.get(), root_key.get(), nullptr))
    return OpenSslError("signing the node certificate");
  return ToPem(cert.get());
}

}  // namespace

Result<std::string> IssueStatusSigner(const Root& root, const std::string& public_key) {
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> issuer, ParsePem(root.certificate_pem, "root certificate"));
  Ptr<EVP_PKEY> root_key = PrivateKey(root.key);
  Ptr<EVP_PKEY> key = PublicKey(public_key);
  if (!key) return Status::Invalid("status signer key is not an Ed25519 key");
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> cert, NewCertificate("bosai status " + root.municipality,
                                                        key.get(), issuer.get(), 20 * 365));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer.get(), NID_basic_constraints, "critical,CA:FALSE"));
  BOSAI_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer.get(), NID_key_usage, "critical,digitalSignature"));
  if (!X509_sign(cert.get(), root_key.get(), nullptr)) return OpenSslError("signing the signer");
  return ToPem(cert.get());
}

Result<std::string> VerifyStatusSigner(const std::string& pem, const std::string& root_pem) {
  BOSAI_ASSIGN_OR_RETURN(std::string municipality, RootMunicipality(root_pem));
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> root, ParsePem(root_pem, "root certificate"));
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> cert, ParsePem(pem, "status signer certificate"));
  if (X509_verify(cert.get(), X509_get0_pubkey(root.get())) != 1) {
    ERR_clear_error();
    return Status::PermissionDenied("the status signer is not certified by this root");
  }
  if (CommonName(cert.get()) != "bosai status " + municipality) {
    return Status::PermissionDenied("not a status signer certificate of " + municipality);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    return Status::PermissionDenied("the status signer certificate has expired");
  }
  return RawPublicKey(cert.get(), "status signer certificate");
}

Result<std::pair<std::string, std::string>> CertificateSubject(const std::string& pem) {
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> cert, ParsePem(pem, "certificate"));
  BOSAI_ASSIGN_OR_RETURN(std::string raw, RawPublicKey(cert.get(), "the certificate"));
  return std::make_pair(CommonName(cert.get()), raw);
}

Result<NodeCertificate> VerifyNodeCertificate(const std::string& node_pem,
                                              const std::string& root_pem) {
  BOSAI_ASSIGN_OR_RETURN(std::string municipality, RootMunicipality(root_pem));
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> root, ParsePem(root_pem, "root certificate"));
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> cert, ParsePem(node_pem, "node certificate"));
  if (X509_verify(cert.get(), X509_get0_pubkey(root.get())) != 1) {
    ERR_clear_error();
    return Status::Invalid("node certificate is not signed by this root");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0 ||
      X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    return Status::Invalid("node certificate is outside its validity period");
  }
  if (X509_check_ca(cert.get()) != 0) return Status::Invalid("a node certificate must not be a CA");
  NodeCertificate out;
  out.node_id = CommonName(cert.get());
  out.root_municipality = municipality;
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(out.node_id));
  out.grant = out.node_id.substr(0, 6) != municipality;
  BOSAI_ASSIGN_OR_RETURN(out.public_key, RawPublicKey(cert.get(), "node certificate"));
  int at = X509_get_ext_by_NID(cert.get(), ScopesNid(), -1);
  if (at < 0) return Status::Invalid("node certificate has no scopes");
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert.get(), at));
  std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                        size_t(ASN1_STRING_length(data)));
  size_t a = text.find(';'), b = a == std::string_view::npos ? a : text.find(';', a + 1);
  if (b == std::string_view::npos || text.substr(0, 7) != "issuer=" ||
      text.substr(a + 1, 6) != "write=" || text.substr(b + 1, 5) != "read=") {
    return Status::Invalid("node certificate scopes are malformed");
  }
  out.issuer_code = std::string(text.substr(7, a - 7));
  out.scopes.write = Split(text.substr(a + 7, b - a - 7));
  out.scopes.read = Split(text.substr(b + 6));
  for (const auto& w : out.scopes.write) {
    if (w != municipality && w.rfind(municipality + "/", 0) != 0) {
      return Status::Invalid(
          fmt::format("node certificate grants write scope {} outside {}", w, municipality));
    }
  }
  if (out.grant) {
    // Another municipality's node: only a read grant, within this root's municipality.
    if (out.issuer_code != "GRANT" || !out.scopes.write.empty()) {
      return Status::Invalid(
          fmt::format("node {} is not of the root's municipality {}", out.node_id, municipality));
    }
    for (const auto& r : out.scopes.read) {
      if (r != municipality && r.rfind(municipality + "/", 0) != 0) {
        return Status::Invalid(fmt::format("grant for {} names read scope {} outside {}",
                                           out.node_id, r, municipality));
      }
    }
  }
  return out;
}

Status ConfigureTls(ssl_ctx_st* ctx, const SigningKey& key, const std::string& certificate_pem,
                    const std::vector<std::string>& root_pems) {
  if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
    return OpenSslError("TLS 1.3");
  }
  BOSAI_ASSIGN_OR_RETURN(Ptr<X509> cert, ParsePem(certificate_pem, "node certificate"));
  Ptr<EVP_PKEY> pkey = PrivateKey(key);
  if (SSL_CTX_use_certificate(ctx, cert.get()) != 1) return OpenSslError("node certificate");
  if (SSL_CTX_use_PrivateKey(ctx, pkey.get()) != 1) return OpenSslError("node key");
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return OpenSslError("the node key does not match the node certificate");
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& pem : root_pems) {
    BOSAI_ASSIGN_OR_RETURN(Ptr<X509> root, ParsePem(pem, "root certificate"));
    if (X509_STORE_add_cert(store, root.get()) != 1) ERR_clear_error();  // duplicates are fine
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_verify_depth(ctx, 1);
  return Status::Ok();
}

Result<std::string> PeerCertificatePem(ssl_st* ssl) {
  Ptr<X509> cert(SSL_get1_peer_certificate(ssl));
  if (!cert) return Status::PermissionDenied("the peer presented no certificate");
  return ToPem(cert.get());
}

std::string PrivateKeyPem(const SigningKey& key) {
  Ptr<EVP_PKEY> pkey = PrivateKey(key);
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(n));
}

Result<SigningKey> ParsePrivateKeyPem(const std::string& pem) {
  Ptr<BIO> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  Ptr<EVP_PKEY> pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey || EVP_PKEY_id(pkey.get()) != EVP_PKEY_ED25519)
    return OpenSslError("not an Ed25519 private key");
  uint8_t seed[32];
  size_t len = sizeof seed;
  if (!EVP_PKEY_get_raw_private_key(pkey.get(), seed, &len) || len != 32)
    return OpenSslError("private key");
  auto key = SigningKey::FromSeed(std::string_view(reinterpret_cast<const char*>(seed), len));
  sodium_memzero(seed, sizeof seed);
  return key;
}

}  // namespace bosai::sync
