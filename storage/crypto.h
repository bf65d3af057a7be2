// Cryptographic primitives over libsodium: Ed25519 node keys, the municipality data key that
// seals My Number, and SHA-256. Thread-safe after InitCrypto().
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/status.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX
struct evp_pkey_st;    // OpenSSL's EVP_PKEY

namespace bosai {

// Must run once before any other function here (idempotent).
void InitCrypto();

std::string ToHex(std::string_view bytes);
Result<std::string> FromHex(std::string_view hex);

// An Ed25519 key pair. The secret half never leaves the node's data dir.
class SigningKey {
 public:
  static SigningKey Generate();
  // From secret() as written to a key file: the 32-byte seed followed by its public key.
  static Result<SigningKey> FromSecret(std::string_view secret64);
  // From the 32-byte seed alone (as in PKCS #8 and RFC 8032).
  static Result<SigningKey> FromSeed(std::string_view seed32);

  // A 64-byte detached signature (RFC 8032: deterministic, the same whichever library makes it).
  // Made with OpenSSL, whose SHA-512 hashes a block's bytes faster than libsodium's; thread-safe.
  std::string Sign(std::string_view message) const;
  std::string public_key() const { return std::string(pk_.begin(), pk_.end()); }
  std::string secret() const { return std::string(sk_.begin(), sk_.end()); }

 private:
  void MakeEvpKey();  // evp_ from the seed in sk_

  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk_{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk_{};
  std::shared_ptr<evp_pkey_st> evp_;  // OpenSSL's form of the key; signs with libsodium if null
};

bool VerifySignature(std::string_view public_key, std::string_view message,
                     std::string_view signature);

// The municipality data key (DESIGN §7). Seal() is deterministic authenticated encryption in the
// SIV style: the 16-byte synthetic nonce is a keyed BLAKE2b hash of the plaintext, so equal
// numbers seal to equal bytes (what the exact-lookup hash reveals anyway) and a nonce is never
// reused for two different plaintexts.
//
// Sealed layout:
//   offset size  field
//   0      1     version (1)
//   1      4     key id
//   5      16    synthetic nonce = BLAKE2b-128(lookup key, purpose || plaintext)
//   21     n+16  XSalsa20-Poly1305 ciphertext and tag, nonce = synthetic nonce || 8 zero bytes
class DataKey {
 public:
  static DataKey Generate();
  static Result<DataKey> Parse(std::string_view text);  // as written by Serialize()
  std::string Serialize() const;

  std::string Seal(std::string_view purpose, std::string_view plaintext) const;
  Result<std::string> Open(std::string_view purpose, std::string_view sealed) const;
  // The exact-lookup value for a plaintext: the first 8 bytes of its synthetic nonce.
  int64_t LookupHash(std::string_view purpose, std::string_view plaintext) const;
  // The lookup value stored inside sealed bytes (no key needed).
  static Result<int64_t> LookupHashOf(std::string_view sealed);
  // A value that depends on the whole key (its id, its encryption and its lookup halves) and
  // reveals nothing of it: a node records it when it is given the key, and compares it when it
  // loads the key file, so that a damaged file is found before it seals anything.
  std::string Check() const { return ToHex(Seal("data key check", "")); }

  uint32_t id() const { return id_; }

 private:
  std::array<uint8_t, 16> SyntheticNonce(std::string_view purpose,
                                         std::string_view plaintext) const;
  uint32_t id_ = 0;
  std::array<uint8_t, crypto_secretbox_KEYBYTES> enc_{};
  std::array<uint8_t, 32> mac_{};
};

// SHA-256 (OpenSSL's, which uses the processor's SHA instructions where it has them: the state
// hash reads every record).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  // Length-prefixed, so that field boundaries are part of the digest.
  void UpdateField(std::string_view data);
  void UpdateInt(uint64_t v);
  std::string Final();  // 32 raw bytes

 private:
  evp_md_ctx_st* ctx_;
};

std::string Sha256Of(std::string_view data);

// A 64-bit SipHash-2-4 of `data` under a fixed, public key: stable across versions and
// machines, for values that are stored (not a MAC: anyone can compute it).
uint64_t StableHash(std::string_view data);

// An order-independent digest of a multiset of byte strings: their count and the sum of a keyed
// hash (SipHash) of each. Two digests with the same key compare equal when they were given the
// same strings, in any order; the key is drawn at random, so that no set of strings can be made
// to collide on purpose. For checking that two tables read in different orders hold the same
// rows, each in one scan, without sorting either.
class MultisetDigest {
 public:
  using Key = std::array<uint8_t, crypto_shorthash_KEYBYTES>;
  static Key NewKey();
  explicit MultisetDigest(const Key& key) : key_(key) {}
  void Add(std::string_view item);
  bool operator==(const MultisetDigest& o) const { return count_ == o.count_ && sum_ == o.sum_; }

 private:
  Key key_;
  uint64_t count_ = 0, sum_ = 0;
};

}  // namespace bosai
