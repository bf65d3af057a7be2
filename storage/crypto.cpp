// libsodium-based keys, sealing and hashing; see crypto.h.
#include "storage/crypto.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <cstring>
#include <new>
#include <stdexcept>

namespace bosai {
namespace {

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

void InitCrypto() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
}

std::string ToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), U8(bytes), bytes.size());
  out.pop_back();
  return out;
}

Result<std::string> FromHex(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (hex.size() % 2 != 0 ||
      sodium_hex2bin(reinterpret_cast<uint8_t*>(out.data()), out.size(), hex.data(), hex.size(),
                     nullptr, &len, &end) != 0 ||
      len != out.size()) {
    return Status::Invalid("not a hexadecimal string");
  }
  return out;
}

void SigningKey::MakeEvpKey() {
  evp_.reset(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, sk_.data(), crypto_sign_SEEDBYTES),
      EVP_PKEY_free);
}

SigningKey SigningKey::Generate() {
  SigningKey k;
  crypto_sign_keypair(k.pk_.data(), k.sk_.data());
  k.MakeEvpKey();
  return k;
}

Result<SigningKey> SigningKey::FromSecret(std::string_view secret64) {
  if (secret64.size() != crypto_sign_SECRETKEYBYTES) {
    return Status::Corruption("node key has the wrong length");
  }
  // The secret is a seed followed by its public key. Halves that disagree (a damaged file) would
  // sign what no peer can verify: refused here rather than found out by the peers.
  SigningKey k;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> derived{};
  crypto_sign_seed_keypair(k.pk_.data(), derived.data(), U8(secret64));
  sodium_memzero(derived.data(), derived.size());
  if (sodium_memcmp(k.pk_.data(), secret64.data() + crypto_sign_SEEDBYTES, k.pk_.size()) != 0) {
    return Status::Corruption("node key is damaged: its public half does not match its seed");
  }
  std::memcpy(k.sk_.data(), secret64.data(), secret64.size());
  k.MakeEvpKey();
  return k;
}

Result<SigningKey> SigningKey::FromSeed(std::string_view seed32) {
  if (seed32.size() != crypto_sign_SEEDBYTES) return Status::Invalid("a key seed is 32 bytes");
  SigningKey k;
  crypto_sign_seed_keypair(k.pk_.data(), k.sk_.data(), U8(seed32));
  k.MakeEvpKey();
  return k;
}

std::string SigningKey::Sign(std::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  auto* out = reinterpret_cast<uint8_t*>(sig.data());
  EVP_MD_CTX* ctx = evp_ ? EVP_MD_CTX_new() : nullptr;
  size_t n = sig.size();
  const bool signed_here =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, evp_.get()) == 1 &&
      EVP_DigestSign(ctx, out, &n, U8(message), message.size()) == 1 && n == sig.size();
  EVP_MD_CTX_free(ctx);
  if (!signed_here) crypto_sign_detached(out, nullptr, U8(message), message.size(), sk_.data());
  return sig;
}

bool VerifySignature(std::string_view public_key, std::string_view message,
                     std::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) {
    return false;
  }
  return crypto_sign_verify_detached(U8(signature), U8(message), message.size(), U8(public_key)) ==
         0;
}

DataKey DataKey::Generate() {
  DataKey k;
  randombytes_buf(&k.id_, sizeof k.id_);
  crypto_secretbox_keygen(k.enc_.data());
  randombytes_buf(k.mac_.data(), k.mac_.size());
  return k;
}

std::string DataKey::Serialize() const {
  return fmt::format(
      "bosai-data-key-v1 {:08x} {} {}\n", id_,
      ToHex(std::string_view(reinterpret_cast<const char*>(enc_.data()), enc_.size())),
      ToHex(std::string_view(reinterpret_cast<const char*>(mac_.data()), mac_.size())));
}

Result<DataKey> DataKey::Parse(std::string_view text) {
  constexpr std::string_view kMagic = "bosai-data-key-v1 ";
  if (text.substr(0, kMagic.size()) != kMagic ||
      text.size() < kMagic.size() + 8 + 1 + 64 + 1 + 64) {
    return Status::Corruption("data key file is not a bosai data key");
  }
  text.remove_prefix(kMagic.size());
  DataKey k;
  auto id = FromHex(text.substr(0, 8));
  auto enc = FromHex(text.substr(9, 64));
  auto mac = FromHex(text.substr(74, 64));
  if (!id.ok() || !enc.ok() || !mac.ok()) return Status::Corruption("data key file is damaged");
  k.id_ = (uint32_t(uint8_t((*id)[0])) << 24) | (uint32_t(uint8_t((*id)[1])) << 16) |
          (uint32_t(uint8_t((*id)[2])) << 8) | uint32_t(uint8_t((*id)[3]));
  std::memcpy(k.enc_.data(), enc->data(), k.enc_.size());
  std::memcpy(k.mac_.data(), mac->data(), k.mac_.size());
  return k;
}

std::array<uint8_t, 16> DataKey::SyntheticNonce(std::string_view purpose,
                                                std::string_view plaintext) const {
  crypto_generichash_state st;
  crypto_generichash_init(&st, mac_.data(), mac_.size(), 16);
  uint8_t plen = static_cast<uint8_t>(purpose.size());
  crypto_generichash_update(&st, &plen, 1);
  crypto_generichash_update(&st, U8(purpose), purpose.size());
  crypto_generichash_update(&st, U8(plaintext), plaintext.size());
  std::array<uint8_t, 16> out{};
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

std::string DataKey::Seal(std::string_view purpose, std::string_view plaintext) const {
  auto syn = SyntheticNonce(purpose, plaintext);
  uint8_t nonce[crypto_secretbox_NONCEBYTES] = {};
  std::memcpy(nonce, syn.data(), syn.size());
  std::string out(1 + 4 + 16 + plaintext.size() + crypto_secretbox_MACBYTES, '\0');
  out[0] = 1;
  out[1] = char(id_ >> 24);
  out[2] = char(id_ >> 16);
  out[3] = char(id_ >> 8);
  out[4] = char(id_);
  std::memcpy(out.data() + 5, syn.data(), syn.size());
  crypto_secretbox_easy(reinterpret_cast<uint8_t*>(out.data()) + 21, U8(plaintext),
                        plaintext.size(), nonce, enc_.data());
  return out;
}

Result<std::string> DataKey::Open(std::string_view purpose, std::string_view sealed) const {
  if (sealed.size() < 21 + crypto_secretbox_MACBYTES || sealed[0] != 1) {
    return Status::Corruption("sealed value is malformed");
  }
  uint32_t id = (uint32_t(uint8_t(sealed[1])) << 24) | (uint32_t(uint8_t(sealed[2])) << 16) |
                (uint32_t(uint8_t(sealed[3])) << 8) | uint32_t(uint8_t(sealed[4]));
  if (id != id_) {
    return Status::NotFound(
        fmt::format("sealed with data key {:08x}, which this node does not hold", id));
  }
  uint8_t nonce[crypto_secretbox_NONCEBYTES] = {};
  std::memcpy(nonce, sealed.data() + 5, 16);
  std::string plain(sealed.size() - 21 - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<uint8_t*>(plain.data()), U8(sealed) + 21,
                                 sealed.size() - 21, nonce, enc_.data()) != 0) {
    return Status::Corruption("sealed value fails authentication");
  }
  auto syn = SyntheticNonce(purpose, plain);
  if (std::memcmp(syn.data(), sealed.data() + 5, 16) != 0) {
    return Status::Corruption("sealed value has a wrong synthetic nonce");
  }
  return plain;
}

int64_t DataKey::LookupHash(std::string_view purpose, std::string_view plaintext) const {
  auto syn = SyntheticNonce(purpose, plaintext);
  int64_t v;
  std::memcpy(&v, syn.data(), 8);
  return v;
}

Result<int64_t> DataKey::LookupHashOf(std::string_view sealed) {
  if (sealed.size() < 21 || sealed[0] != 1) return Status::Corruption("sealed value is malformed");
  int64_t v;
  std::memcpy(&v, sealed.data() + 5, 8);
  return v;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw std::bad_alloc();
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }

void Sha256::UpdateField(std::string_view data) {
  UpdateInt(data.size());
  Update(data);
}

void Sha256::UpdateInt(uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = char(v >> (56 - 8 * i));
  Update(std::string_view(b, 8));
}

std::string Sha256::Final() {
  std::string out(32, '\0');
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(out.data()), &n);
  return out;
}

std::string Sha256Of(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Final();
}

namespace {

// SipHash-2-4 of `data` under `key`, its eight bytes read little-endian.
uint64_t ShortHash(std::string_view data, const uint8_t* key) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, reinterpret_cast<const uint8_t*>(data.data()), data.size(), key);
  uint64_t v = 0;
  for (int i = crypto_shorthash_BYTES - 1; i >= 0; --i) v = v << 8 | h[i];
  return v;
}

}  // namespace

uint64_t StableHash(std::string_view data) {
  static constexpr uint8_t kKey[crypto_shorthash_KEYBYTES] = {
      'b', 'o', 's', 'a', 'i', '.', 's', 't', 'a', 'b', 'l', 'e', 'h', 'a', 's', 'h'};
  return ShortHash(data, kKey);
}

MultisetDigest::Key MultisetDigest::NewKey() {
  Key key;
  crypto_shorthash_keygen(key.data());
  return key;
}

void MultisetDigest::Add(std::string_view item) {
  sum_ += ShortHash(item, key_.data());  // wraps: a sum modulo 2^64
  ++count_;
}

}  // namespace bosai
