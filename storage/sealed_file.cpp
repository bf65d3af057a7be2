// Files sealed with a passphrase; see sealed_file.h.
#include "storage/sealed_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "storage/crypto.h"
#include "storage/files.h"

namespace bosai {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHeaderBytes =
    16 + crypto_pwhash_SALTBYTES + 8 + 8 + crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr size_t kChunkOverhead = crypto_secretstream_xchacha20poly1305_ABYTES;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(char(v >> (8 * i)));
}
uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = v << 8 | uint8_t(in[i]);
  return v;
}
void PutU32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(char(v >> (8 * i)));
}

using Key = std::array<uint8_t, crypto_secretstream_xchacha20poly1305_KEYBYTES>;

Status DeriveKey(std::string_view passphrase, const uint8_t* salt, uint64_t ops, uint64_t mem,
                 Key* key) {
  if (crypto_pwhash(key->data(), key->size(), passphrase.data(), passphrase.size(), salt, ops,
                    size_t(mem), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::IoError("not enough memory to derive the key from the passphrase");
  }
  return Status::Ok();
}

// Reads up to N bytes (fewer at the end of the file).
Status ReadSome(std::ifstream& in, size_t n, std::string* out, const fs::path& path) {
  out->resize(n);
  in.read(out->data(), std::streamsize(n));
  if (in.bad()) return Status::IoError(fmt::format("{}: {}", path.string(), std::strerror(errno)));
  out->resize(size_t(in.gcount()));
  return Status::Ok();
}

// A new file, its owner's alone; Exists when it is there.
Result<int> CreateNew(const fs::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    std::string why = fmt::format("{}: {}", path.string(), std::strerror(e));
    return e == EEXIST ? Status::Exists(why) : Status::IoError(why);
  }
  return fd;
}

Status WriteAll(int fd, std::string_view bytes, const fs::path& path) {
  if (bosai::WriteAll(fd, bytes)) return Status::Ok();
  return Status::IoError(fmt::format("{}: write failed: {}", path.string(), std::strerror(errno)));
}

}  // namespace

bool IsSealedFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(kSealedFileMagic.size(), '\0');
  in.read(head.data(), std::streamsize(head.size()));
  return in.gcount() == std::streamsize(head.size()) && head == kSealedFileMagic;
}

Status SealFile(const fs::path& in_path, const fs::path& out, std::string_view passphrase,
                SealCost cost) {
  InitCrypto();
  std::error_code ec;
  if (fs::exists(out, ec)) {
    return Status::Exists(
        fmt::format("{}: exists already, and is never written over", out.string()));
  }
  std::ifstream in(in_path, std::ios::binary);
  if (!in) return Status::IoError(fmt::format("{}: {}", in_path.string(), std::strerror(errno)));
  const fs::path partial = out.string() + ".partial";
  fs::remove(partial, ec);
  BOSAI_ASSIGN_OR_RETURN(int fd, CreateNew(partial));
  auto fail = [&](Status st) {
    ::close(fd);
    fs::remove(partial, ec);
    return st;
  };
  std::string header(kSealedFileMagic);
  std::array<uint8_t, crypto_pwhash_SALTBYTES> salt;
  randombytes_buf(salt.data(), salt.size());
  header.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  PutU64(header, cost.ops);
  PutU64(header, cost.mem);
  Key key;
  if (Status st = DeriveKey(passphrase, salt.data(), cost.ops, cost.mem, &key); !st.ok()) {
    return fail(st);
  }
  crypto_secretstream_xchacha20poly1305_state state;
  std::array<uint8_t, crypto_secretstream_xchacha20poly1305_HEADERBYTES> stream_header;
  crypto_secretstream_xchacha20poly1305_init_push(&state, stream_header.data(), key.data());
  sodium_memzero(key.data(), key.size());
  header.append(reinterpret_cast<const char*>(stream_header.data()), stream_header.size());
  if (Status st = WriteAll(fd, header, partial); !st.ok()) return fail(st);
  std::string plain, sealed;
  std::string next;
  if (Status st = ReadSome(in, kSealedChunkBytes, &plain, in_path); !st.ok()) return fail(st);
  for (;;) {
    if (Status st = ReadSome(in, kSealedChunkBytes, &next, in_path); !st.ok()) return fail(st);
    const bool last = next.empty();
    sealed.assign(4 + plain.size() + kChunkOverhead, '\0');
    unsigned long long n = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &state, reinterpret_cast<unsigned char*>(sealed.data() + 4), &n,
        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nullptr, 0,
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    std::string length;
    PutU32(length, uint32_t(n));
    sealed.replace(0, 4, length);
    sealed.resize(4 + size_t(n));
    if (Status st = WriteAll(fd, sealed, partial); !st.ok()) return fail(st);
    if (last) break;
    plain.swap(next);
  }
  ::close(fd);
  return LinkNewFile(partial, out);
}

Status OpenSealedFile(const fs::path& in_path, const fs::path& out, std::string_view passphrase) {
  InitCrypto();
  const std::string name = in_path.string();
  auto bad = [&](const std::string& why) {
    return Status::Invalid(fmt::format("{}: {}", name, why));
  };
  std::ifstream in(in_path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("{}: {}", name, std::strerror(errno)));
  std::string header;
  BOSAI_RETURN_IF_ERROR(ReadSome(in, kHeaderBytes, &header, in_path));
  if (!std::string_view(header).starts_with(kSealedFileMagic)) {
    return bad("not a sealed file (magic at offset 0)");
  }
  if (header.size() < kHeaderBytes) return bad(fmt::format("cut short at byte {}", header.size()));
  const auto* salt = reinterpret_cast<const uint8_t*>(header.data() + 16);
  const uint64_t ops = GetU64(std::string_view(header).substr(32));
  const uint64_t mem = GetU64(std::string_view(header).substr(40));
  // Bounded by libsodium's "sensitive" cost (4 passes, 1 GiB): a file cannot make its reader
  // spend more.
  if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_SENSITIVE ||
      mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_SENSITIVE) {
    return bad(fmt::format("key derivation costs at byte 32 out of range ({} passes, {} bytes)",
                           ops, mem));
  }
  Key key;
  BOSAI_RETURN_IF_ERROR(DeriveKey(passphrase, salt, ops, mem, &key));
  crypto_secretstream_xchacha20poly1305_state state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(
          &state, reinterpret_cast<const uint8_t*>(header.data() + 48), key.data()) != 0) {
    sodium_memzero(key.data(), key.size());
    return bad("bad stream header at byte 48");
  }
  sodium_memzero(key.data(), key.size());
  BOSAI_ASSIGN_OR_RETURN(int fd, CreateNew(out));
  std::error_code ec;
  auto fail = [&](Status st) {
    ::close(fd);
    fs::remove(out, ec);
    return st;
  };
  uint64_t offset = kHeaderBytes;
  std::string length, sealed, plain;
  for (size_t chunk = 0;; ++chunk) {
    if (Status st = ReadSome(in, 4, &length, in_path); !st.ok()) return fail(st);
    if (length.size() < 4)
      return fail(bad(fmt::format("cut short at byte {}", offset + length.size())));
    const uint32_t n = uint32_t(uint8_t(length[0])) << 24 | uint32_t(uint8_t(length[1])) << 16 |
                       uint32_t(uint8_t(length[2])) << 8 | uint8_t(length[3]);
    if (n < kChunkOverhead || n > kSealedChunkBytes + kChunkOverhead) {
      return fail(bad(fmt::format("chunk length {} at byte {} out of range", n, offset)));
    }
    if (Status st = ReadSome(in, n, &sealed, in_path); !st.ok()) return fail(st);
    if (sealed.size() < n) {
      return fail(bad(fmt::format("cut short at byte {}", offset + 4 + sealed.size())));
    }
    plain.resize(n - kChunkOverhead);
    unsigned long long plain_n = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(
            &state, reinterpret_cast<unsigned char*>(plain.data()), &plain_n, &tag,
            reinterpret_cast<const unsigned char*>(sealed.data()), n, nullptr, 0) != 0) {
      return fail(bad(chunk == 0 ? "the passphrase does not open it (or the file was altered)"
                                 : fmt::format("altered or damaged at byte {}", offset)));
    }
    if (Status st = WriteAll(fd, std::string_view(plain.data(), size_t(plain_n)), out); !st.ok()) {
      return fail(st);
    }
    offset += 4 + n;
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) break;
  }
  std::string rest;
  if (Status st = ReadSome(in, 1, &rest, in_path); !st.ok()) return fail(st);
  if (!rest.empty()) return fail(bad(fmt::format("bytes past its end, at byte {}", offset)));
  if (::fsync(fd) != 0) {
    return fail(Status::IoError(fmt::format("{}: {}", out.string(), std::strerror(errno))));
  }
  ::close(fd);
  return Status::Ok();
}

Result<std::string> ReadPassphrase(const fs::path& path, bool for_sealing) {
  BOSAI_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 4096));
  std::string line = text.substr(0, text.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return Status::Invalid(fmt::format("{}: no passphrase on its first line", InputName(path)));
  }
  return CheckPassphrase(std::move(line), for_sealing, InputName(path));
}

Result<std::string> CheckPassphrase(std::string passphrase, bool for_sealing,
                                    std::string_view what) {
  if (passphrase.empty()) {
    return Status::Invalid(fmt::format("{}: no passphrase", what));
  }
  size_t characters = 0;  // UTF-8: every byte but continuation bytes begins one
  for (char c : passphrase) characters += (uint8_t(c) & 0xC0) != 0x80;
  if (for_sealing && characters < kMinPassphraseCharacters) {
    return Status::Invalid(
        fmt::format("{}: a passphrase of {} characters; one that seals a file has at least {}",
                    what, characters, kMinPassphraseCharacters));
  }
  return passphrase;
}

}  // namespace bosai
