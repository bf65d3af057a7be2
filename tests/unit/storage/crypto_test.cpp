// Signing keys and the data key's deterministic sealing of My Number.
#include "storage/crypto.h"

#include <gtest/gtest.h>

namespace bosai {
namespace {

TEST(Crypto, SignAndVerify) {
  InitCrypto();
  SigningKey k = SigningKey::Generate();
  std::string sig = k.Sign("hello");
  EXPECT_TRUE(VerifySignature(k.public_key(), "hello", sig));
  EXPECT_FALSE(VerifySignature(k.public_key(), "hellO", sig));
  auto again = SigningKey::FromSecret(k.secret());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->public_key(), k.public_key());
  EXPECT_FALSE(SigningKey::FromSecret("short").ok());
  // The seed alone gives the same pair.
  auto seeded = SigningKey::FromSeed(k.secret().substr(0, 32));
  ASSERT_TRUE(seeded.ok());
  EXPECT_EQ(seeded->secret(), k.secret());
  EXPECT_TRUE(VerifySignature(k.public_key(), "hello", seeded->Sign("hello")));
  EXPECT_FALSE(SigningKey::FromSeed("short").ok());
}

// Signatures are RFC 8032's, byte for byte (the test vectors of its section 7.1), and the ones
// libsodium makes, for messages up to a large block's size: a node signing otherwise would split
// the replicated blocks' names (their signatures) from those of a node built with another library.
TEST(Crypto, SignaturesAreRfc8032s) {
  InitCrypto();
  struct Case {
    const char* seed;
    const char* public_key;
    const char* message;
    const char* signature;
  } cases[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf"
       "9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f"
       "11d8c387b2eaeb4302aeeb00d291612bb0c00"},
      {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
       "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
       "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984"
       "dc6594a7c15e9716ed28dc027beceea1ec40a"},
  };
  for (const auto& c : cases) {
    auto key = SigningKey::FromSeed(*FromHex(c.seed));
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(ToHex(key->public_key()), c.public_key);
    EXPECT_EQ(ToHex(key->Sign(*FromHex(c.message))), c.signature) << c.message;
  }
  SigningKey k = SigningKey::Generate();
  const std::string secret = k.secret();
  std::string message;
  for (size_t size : {0, 1, 63, 64, 1000, 65536, 1 << 20}) {
    message.resize(size);
    randombytes_buf(message.data(), message.size());
    std::string theirs(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<uint8_t*>(theirs.data()), nullptr,
                         reinterpret_cast<const uint8_t*>(message.data()), message.size(),
                         reinterpret_cast<const uint8_t*>(secret.data()));
    EXPECT_EQ(ToHex(k.Sign(message)), ToHex(theirs)) << size;
    EXPECT_EQ(ToHex(SigningKey::FromSecret(secret)->Sign(message)), ToHex(theirs)) << size;
  }
}

// A key file whose public half does not belong to its seed would sign what no peer verifies.
TEST(Crypto, ASecretWhoseHalvesDisagreeIsRefused) {
  InitCrypto();
  std::string secret = SigningKey::Generate().secret();
  for (size_t at : {size_t(0), size_t(31), size_t(32), size_t(63)}) {
    std::string damaged = secret;
    damaged[at] ^= 0x01;
    auto k = SigningKey::FromSecret(damaged);
    ASSERT_FALSE(k.ok()) << "byte " << at;
    EXPECT_EQ(k.status().message(), "node key is damaged: its public half does not match its seed");
  }
  EXPECT_FALSE(SigningKey::FromSecret(std::string(64, '\x01')).ok());
}

TEST(Crypto, DataKeySealsDeterministicallyAndOpens) {
  InitCrypto();
  DataKey key = DataKey::Generate();
  std::string a = key.Seal("mynumber", "983205673214");
  EXPECT_EQ(a, key.Seal("mynumber", "983205673214"));
  EXPECT_NE(a, key.Seal("mynumber", "123456789018"));
  EXPECT_EQ(a.find("983205673214"), std::string::npos);
  auto plain = key.Open("mynumber", a);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "983205673214");
  EXPECT_EQ(*DataKey::LookupHashOf(a), key.LookupHash("mynumber", "983205673214"));

  std::string tampered = a;
  tampered.back() ^= 1;
  EXPECT_FALSE(key.Open("mynumber", tampered).ok());
  EXPECT_FALSE(key.Open("other", a).ok());
  EXPECT_FALSE(DataKey::Generate().Open("mynumber", a).ok());  // another key id
}

TEST(Crypto, DataKeyFileRoundTrip) {
  InitCrypto();
  DataKey key = DataKey::Generate();
  auto parsed = DataKey::Parse(key.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->id(), key.id());
  EXPECT_EQ(parsed->Check(), key.Check());
  EXPECT_NE(DataKey::Generate().Check(), key.Check());
  // Either half of the key changes the check.
  std::string text = key.Serialize();
  for (size_t at : {size_t(30), size_t(100)}) {
    std::string damaged = text;
    damaged[at] = damaged[at] == '0' ? '1' : '0';
    auto d = DataKey::Parse(damaged);
    ASSERT_TRUE(d.ok());
    EXPECT_NE(d->Check(), key.Check()) << "digit " << at;
  }
  EXPECT_EQ(*parsed->Open("p", key.Seal("p", "x")), "x");
  EXPECT_FALSE(DataKey::Parse("garbage").ok());
}

// Equal for the same strings in any order; different when one is changed, missing, repeated or
// added, and under another key.
TEST(Crypto, MultisetDigestIgnoresOrderOnly) {
  const MultisetDigest::Key key = MultisetDigest::NewKey();
  auto digest = [&](std::initializer_list<std::string_view> items, const MultisetDigest::Key& k) {
    MultisetDigest d(k);
    for (std::string_view item : items) d.Add(item);
    return d;
  };
  const MultisetDigest abc = digest({"a", "bb", "c"}, key);
  EXPECT_TRUE(digest({"c", "a", "bb"}, key) == abc);
  EXPECT_FALSE(digest({"a", "bb", "d"}, key) == abc);
  EXPECT_FALSE(digest({"a", "bb"}, key) == abc);
  EXPECT_FALSE(digest({"a", "bb", "c", "c"}, key) == abc);
  EXPECT_FALSE(digest({"a", "b", "bc"}, key) == abc);
  EXPECT_FALSE(digest({"a", "bb", "c"}, MultisetDigest::NewKey()) == abc);
  EXPECT_TRUE(digest({}, key) == MultisetDigest(key));
}

// SHA-256 as FIPS 180-2 gives it (its examples), in one update or several; a field is its
// length (8 bytes, big-endian) then its bytes. State hashes and conflict ids are made of these:
// another digest would split nodes that hold the same state.
TEST(Crypto, Sha256IsTheStandardOne) {
  EXPECT_EQ(ToHex(Sha256Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ToHex(Sha256Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 parts;
  parts.Update("abcdbcdecdefdefgefghfghighijhijk");
  parts.Update("ijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(ToHex(parts.Final()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 field;
  field.UpdateField("abc");
  field.UpdateInt(0x0102030405060708);
  EXPECT_EQ(field.Final(),
            Sha256Of(std::string("\0\0\0\0\0\0\0\3abc", 11) + "\x01\x02\x03\x04\x05\x06\x07\x08"));
}

TEST(Crypto, HexRoundTrip) {
  EXPECT_EQ(ToHex(std::string("\x01\xab", 2)), "01ab");
  EXPECT_EQ(*FromHex("01ab"), std::string("\x01\xab", 2));
  EXPECT_FALSE(FromHex("0g").ok());
  EXPECT_FALSE(FromHex("abc").ok());
}

}  // namespace
}  // namespace bosai
