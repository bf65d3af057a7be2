// Files sealed with a passphrase: a backup carried on a USB stick or sent to another site, which
// holds residents' names and addresses, is useless to whoever finds it without the passphrase.
// Argon2id (libsodium's crypto_pwhash) derives the key from the passphrase and a random salt;
// XChaCha20-Poly1305 in libsodium's secretstream seals the file in chunks, each authenticated,
// the last one marked final (a file cut short, reordered or altered is refused).
//
// Layout:
//   offset  size  field
//   0       16    magic "BOSAI-SEALED-v1\n"
//   16      16    salt
//   32      8     Argon2id operations limit, big-endian
//   40      8     Argon2id memory limit in bytes, big-endian
//   48      24    secretstream header
//   72      ...   chunks: a 4-byte big-endian length n (<= kSealedChunkBytes + 17), then n bytes:
//                 up to kSealedChunkBytes of the file, sealed; the last one tagged final
#pragma once

#include <sodium.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "storage/status.h"

namespace bosai {

inline constexpr std::string_view kSealedFileMagic = "BOSAI-SEALED-v1\n";
inline constexpr size_t kSealedChunkBytes = 1 << 20;
// A passphrase that seals a file has at least this many characters.
inline constexpr size_t kMinPassphraseCharacters = 12;

// Whether the file at PATH begins as a sealed file does (false when it cannot be read).
bool IsSealedFile(const std::filesystem::path& path);

// Seals the file at IN to OUT, a new file readable by its owner only (never written over: Exists
// when it is there), whole or not at all: written to OUT.partial, synced, then linked to OUT and
// the directory synced.
// COST is Argon2id's (operations, memory in bytes); the default is libsodium's "moderate"
// (256 MiB, under a second): a guess costs that much to whoever tries passphrases on a found file.
struct SealCost {
  uint64_t ops;
  uint64_t mem;
};
inline constexpr SealCost kSealCost{crypto_pwhash_OPSLIMIT_MODERATE,
                                    crypto_pwhash_MEMLIMIT_MODERATE};
Status SealFile(const std::filesystem::path& in, const std::filesystem::path& out,
                std::string_view passphrase, SealCost cost = kSealCost);

// Opens the sealed file IN to OUT (a new file, readable by its owner only). Invalid, naming IN,
// when IN is not a sealed file, is cut short or has bytes past its end, or when a chunk does not
// authenticate: the first one says that the passphrase does not open the file (or it was
// altered), a later one that the file was altered or damaged at that byte. OUT is removed then.
Status OpenSealedFile(const std::filesystem::path& in, const std::filesystem::path& out,
                      std::string_view passphrase);

// The passphrase in the first line of the file at PATH ("-": standard input; its line end
// dropped), as CheckPassphrase takes it.
Result<std::string> ReadPassphrase(const std::filesystem::path& path, bool for_sealing);
// PASSPHRASE, or Invalid naming WHAT when it is empty or, FOR_SEALING, shorter than
// kMinPassphraseCharacters.
Result<std::string> CheckPassphrase(std::string passphrase, bool for_sealing,
                                    std::string_view what);

}  // namespace bosai
