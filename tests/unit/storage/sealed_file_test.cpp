// Files sealed with a passphrase (a backup on a USB stick): they open to the very bytes sealed,
// and to nothing else. The wrong passphrase, a file cut short anywhere, a byte changed, a chunk
// left out or bytes added are refused, naming the file and where, and leave no output behind.
#include "storage/sealed_file.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "tests/common/fresh_dir.h"

namespace bosai {
namespace {

namespace fs = std::filesystem;

// The cheapest Argon2id libsodium allows: what is tested here is the format, not the cost.
constexpr SealCost kCheap{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
constexpr std::string_view kPassphrase = "correct horse battery staple";

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void Write(const fs::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class SealedFile : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::FreshDir("bosai-sealed-"); }
  void TearDown() override { fs::remove_all(dir_); }
  // Opens IN to a new file: its bytes, or the error's message.
  std::string Open(const fs::path& in, std::string_view passphrase = kPassphrase) {
    const fs::path out = dir_ / "opened";
    fs::remove(out);
    Status st = OpenSealedFile(in, out, passphrase);
    if (!st.ok()) {
      EXPECT_FALSE(fs::exists(out)) << "a refused file left its output";
      return "error: " + st.message();
    }
    return Bytes(out);
  }
  fs::path dir_;
};

TEST_F(SealedFile, OpensToTheBytesSealedAndNeverHoldsThemInTheClear) {
  std::mt19937_64 rng(7);
  std::string plain(3 * kSealedChunkBytes + 12345, '\0');
  for (char& c : plain) c = char(rng());
  const std::string name = "石巻市 佐藤 花子 宮城県石巻市穀町14番1号";
  plain.replace(kSealedChunkBytes - 10, name.size(), name);  // across two chunks
  Write(dir_ / "plain", plain);
  ASSERT_TRUE(SealFile(dir_ / "plain", dir_ / "sealed", kPassphrase, kCheap).ok());
  const std::string sealed = Bytes(dir_ / "sealed");
  EXPECT_TRUE(sealed.starts_with(kSealedFileMagic));
  EXPECT_EQ(sealed.find(name), std::string::npos) << "the clear text is in the sealed file";
  EXPECT_EQ((fs::status(dir_ / "sealed").permissions() & fs::perms::all),
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_FALSE(fs::exists(dir_ / "sealed.partial"));
  EXPECT_TRUE(IsSealedFile(dir_ / "sealed"));
  EXPECT_FALSE(IsSealedFile(dir_ / "plain"));
  EXPECT_TRUE(Open(dir_ / "sealed") == plain);

  // An empty file, and one of exactly one chunk, seal and open too.
  for (size_t size : {size_t(0), kSealedChunkBytes}) {
    const std::string small = plain.substr(0, size);
    Write(dir_ / "small", small);
    fs::remove(dir_ / "small.sealed");
    ASSERT_TRUE(SealFile(dir_ / "small", dir_ / "small.sealed", kPassphrase, kCheap).ok());
    EXPECT_TRUE(Open(dir_ / "small.sealed") == small) << size;
  }

  // Never written over.
  Status again = SealFile(dir_ / "plain", dir_ / "sealed", kPassphrase, kCheap);
  EXPECT_EQ(again.code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(Bytes(dir_ / "sealed") == sealed);
}

TEST_F(SealedFile, AnythingButTheFileSealedWithItsPassphraseIsRefused) {
  std::string plain(2 * kSealedChunkBytes + 100, 'x');
  Write(dir_ / "plain", plain);
  ASSERT_TRUE(SealFile(dir_ / "plain", dir_ / "sealed", kPassphrase, kCheap).ok());
  const std::string sealed = Bytes(dir_ / "sealed");
  const std::string name = (dir_ / "bad").string();
  const size_t header = 72, chunk = 4 + kSealedChunkBytes + 17;
  ASSERT_EQ(sealed.size(), header + 2 * chunk + 4 + 100 + 17);
  auto refused = [&](std::string_view bytes) {
    Write(dir_ / "bad", bytes);
    std::string got = Open(dir_ / "bad");
    return got.starts_with("error: ") ? got.substr(7) : "opened";
  };
  EXPECT_EQ(Open(dir_ / "sealed", "another passphrase"),
            "error: " + (dir_ / "sealed").string() +
                ": the passphrase does not open it (or the file was altered)");
  EXPECT_EQ(refused(plain), name + ": not a sealed file (magic at offset 0)");
  EXPECT_EQ(refused(sealed.substr(0, 40)), name + ": cut short at byte 40");
  EXPECT_EQ(refused(sealed.substr(0, header + 2)), name + ": cut short at byte 74");
  EXPECT_EQ(refused(sealed.substr(0, header + 1000)), name + ": cut short at byte 1072");
  // The final chunk left out: the file ends where a chunk would begin.
  EXPECT_EQ(refused(sealed.substr(0, header + 2 * chunk)),
            name + fmt::format(": cut short at byte {}", header + 2 * chunk));
  EXPECT_EQ(refused(sealed + "!"),
            name + fmt::format(": bytes past its end, at byte {}", sealed.size()));
  std::string changed = sealed;
  changed[header + chunk + 500] ^= 1;  // in the second chunk
  EXPECT_EQ(refused(changed),
            name + fmt::format(": altered or damaged at byte {}", header + chunk));
  changed = sealed;
  changed[header + 500] ^= 1;  // in the first: as the wrong passphrase
  EXPECT_EQ(refused(changed), name + ": the passphrase does not open it (or the file was altered)");
  // The first two chunks swapped.
  std::string swapped = sealed.substr(0, header) + sealed.substr(header + chunk, chunk) +
                        sealed.substr(header, chunk) + sealed.substr(header + 2 * chunk);
  EXPECT_EQ(refused(swapped), name + ": the passphrase does not open it (or the file was altered)");
  changed = sealed;
  changed[32 + 7] = char(100);  // 100 passes of Argon2id: more than a reader spends
  EXPECT_EQ(refused(changed),
            name + fmt::format(": key derivation costs at byte 32 out of range (100 passes, {} "
                               "bytes)",
                               crypto_pwhash_MEMLIMIT_MIN));
  changed = sealed;
  changed[header] = char(0x7f);  // a chunk length out of range
  EXPECT_EQ(refused(changed),
            name + fmt::format(": chunk length {} at byte 72 out of range",
                               (uint32_t(0x7f) << 24) | (kSealedChunkBytes + 17)));
}

TEST_F(SealedFile, APassphraseIsTheFirstLineOfItsFile) {
  auto read = [&](std::string_view text, bool for_sealing) {
    Write(dir_ / "pass", text);
    auto p = ReadPassphrase(dir_ / "pass", for_sealing);
    return p.ok() ? *p : "error: " + p.status().message();
  };
  const std::string name = (dir_ / "pass").string();
  EXPECT_EQ(read("correct horse battery\r\nsecond line\n", true), "correct horse battery");
  EXPECT_EQ(read("石巻市の避難所の鍵はここにある\n", true), "石巻市の避難所の鍵はここにある");
  EXPECT_EQ(
      read("short one\n", true),
      "error: " + name + ": a passphrase of 9 characters; one that seals a file has at least 12");
  EXPECT_EQ(
      read("石巻市の鍵\n", true),
      "error: " + name + ": a passphrase of 5 characters; one that seals a file has at least 12");
  EXPECT_EQ(read("short one\n", false), "short one");  // to open, whatever it was
  EXPECT_EQ(read("\nsecond line\n", false), "error: " + name + ": no passphrase on its first line");
}

}  // namespace
}  // namespace bosai
