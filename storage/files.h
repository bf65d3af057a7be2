// Small files: keys, certificates, configs, trust bundles. Bounded reads, so a wrong path (a
// database, a device) gives a clear error instead of filling memory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "storage/status.h"

namespace bosai {

inline constexpr size_t kMaxSmallFileBytes = 16u << 20;

// What messages call the file at PATH read from: "standard input" for "-", else PATH.
std::string InputName(const std::filesystem::path& path);

// A file open to read, or standard input for "-" (a bundle or a vector file piped from another
// command), read from its start once.
class InputFile {
 public:
  // When it cannot be opened, why, naming it: "PATH: No such file or directory" (NotFound),
  // "PATH: Permission denied", "PATH: is a directory, not a file". Standard input on a terminal
  // is refused (nothing would come but what is typed).
  static Result<InputFile> Open(const std::filesystem::path& path);
  InputFile(InputFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)), name_(other.name_) {}
  InputFile& operator=(InputFile&&) = delete;
  ~InputFile();

  // Appends the next N bytes to OUT, or those up to the end of the file when fewer remain.
  Status ReadUpTo(size_t n, std::string* out);
  // Whether the file ends here (reads a byte to know).
  Result<bool> AtEnd();
  // What messages call it: the path, or "standard input".
  const std::string& name() const { return name_; }

 private:
  InputFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_;
  std::string name_;
};

// The directory for temporary files: TMPDIR, as other tools honour it (std::tmpfile does not),
// or /tmp.
std::string TemporaryDirectory();
// A new file in TemporaryDirectory() named PREFIX-XXXXXX, gone from the directory already (and
// from the disk once closed), open to read and write; -1, with errno set, when it cannot be made.
int UnlinkedTemporaryFile(std::string_view prefix);

// Standard input copied whole to an unlinked temporary file, for a reader that reads
// its input more than once; `path()` opens it anew ("/proc/self/fd/N"). A terminal on standard
// input is refused, as InputFile does.
class SpooledInput {
 public:
  static Result<SpooledInput> FromStandardInput();
  SpooledInput(SpooledInput&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  SpooledInput& operator=(SpooledInput&&) = delete;
  ~SpooledInput();
  std::string path() const;

 private:
  explicit SpooledInput(int fd) : fd_(fd) {}
  int fd_;
};

// The whole file ("-": standard input); NotFound when it cannot be read, Invalid when over
// max_bytes: "NAME: larger than MAX_BYTES bytes", or "NAME: " and what TOO_LARGE says of it
// from its first max_bytes + 1 bytes (that it is some other kind of file).
Result<std::string> ReadSmallFile(
    const std::filesystem::path& path, size_t max_bytes = kMaxSmallFileBytes,
    const std::function<std::string(std::string_view head)>& too_large = nullptr);

// The message of a JSON parser's exception (nlohmann::json's what()) without its tag
// "[json.exception.parse_error.101] ": "parse error at line 3, column 5: ...".
std::string JsonMessage(std::string_view what);

// Creates PATH, which must not exist (a key is never overwritten), with CONTENT, durably: the file
// and then its directory's entry for it are synced. Readable by its owner only when SECRET.
// "-" is standard output (a request or a grant piped on).
Status WriteNewFile(const std::filesystem::path& path, std::string_view content, bool secret);

// Where a file written whole to PATH goes. Usually it replaces `path` (PATH, or the file that a
// symbolic link at PATH names: the link stays): written beside it, then renamed over it. When
// PATH is not a regular file (a terminal, a pipe), or is in /dev or /proc (/dev/stdout, which
// may lead to a file the shell opened to append to), `in_place`: appended to, never replaced.
// "-" is /dev/stdout.
struct OutputTarget {
  std::filesystem::path path;
  bool in_place = false;
};
OutputTarget ResolveOutput(const std::filesystem::path& path);

// Syncs FD, an output file (a terminal or a pipe cannot be: that is no error).
bool SyncOutput(int fd);

// Writes CONTENT to PATH in place of what it held, whole or not at all, durably: to PATH.tmp,
// synced, renamed to PATH, and the directory synced. A crash leaves the old file or the new
// one; once it returns, the new one survives a power cut (a bundle on a USB stick, a
// revocation at the root). Readable by its owner only when SECRET. A PATH that is not a
// regular file (ResolveOutput) is written to as it is.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                           bool secret);

// Writes all of CONTENT to FD (short writes and interruptions retried); false with errno set.
bool WriteAll(int fd, std::string_view content);

// Puts PARTIAL, a file written whole, in place as PATH, which must not exist (never written over:
// Exists when it appeared meanwhile), durably: PARTIAL synced, linked to PATH, and the directory
// synced. PARTIAL is removed whatever happens.
Status LinkNewFile(const std::filesystem::path& partial, const std::filesystem::path& path);

// Syncs directory DIR (its entries: a file created or renamed in it; "" is the working
// directory). File systems that cannot sync a directory are left as they are.
Status SyncDirectory(const std::filesystem::path& dir);

}  // namespace bosai
