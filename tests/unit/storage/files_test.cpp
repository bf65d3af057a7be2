// Small files written durably: what reaches the disk, in which order. The test binary puts its
// own fsync and rename in front of the C library's (they call it), and notes, while a test
// watches, which file or directory each syncs and each rename, by path: a power cut cannot be
// staged here, but the order of the calls that make a write survive one can be checked.
#include "storage/files.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "tests/common/fresh_dir.h"

namespace {

std::atomic<bool> watching{false};
std::mutex calls_mutex;
std::vector<std::string> calls;  // "fsync PATH", "rename FROM TO"

void Note(std::string call) {
  std::lock_guard<std::mutex> lock(calls_mutex);
  calls.push_back(std::move(call));
}

std::string PathOfFd(int fd) {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
  return ec ? "?" : p.string();
}

}  // namespace

extern "C" int fsync(int fd) {
  static auto real = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fsync"));
  if (watching) Note("fsync " + PathOfFd(fd));
  return real(fd);
}

extern "C" int rename(const char* from, const char* to) {
  static auto real =
      reinterpret_cast<int (*)(const char*, const char*)>(dlsym(RTLD_NEXT, "rename"));
  if (watching) Note(std::string("rename ") + from + " " + to);
  return real(from, to);
}

namespace bosai {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::canonical(testing::FreshDir("bosai-files-"));
    std::lock_guard<std::mutex> lock(calls_mutex);
    calls.clear();
  }
  void TearDown() override {
    watching = false;
    fs::remove_all(dir_);
  }
  // The calls noted while running F.
  template <typename F>
  std::vector<std::string> Watch(F f) {
    watching = true;
    f();
    watching = false;
    std::lock_guard<std::mutex> lock(calls_mutex);
    return calls;
  }
  fs::path dir_;
};

std::string Read(const fs::path& p) {
  auto text = ReadSmallFile(p);
  return text.ok() ? *text : "<" + text.status().message() + ">";
}

// Standard input is a pipe holding CONTENT, until it goes out of scope.
class PipedStandardInput {
 public:
  explicit PipedStandardInput(std::string_view content) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    saved_ = ::dup(STDIN_FILENO);
    EXPECT_EQ(::dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    ::close(fds[0]);
    EXPECT_EQ(::write(fds[1], content.data(), content.size()), ssize_t(content.size()));
    ::close(fds[1]);
  }
  ~PipedStandardInput() {
    ::dup2(saved_, STDIN_FILENO);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

TEST_F(FilesTest, ANewFileIsSyncedAndThenItsDirectory) {
  const fs::path key = dir_ / "node.key";
  auto noted = Watch([&] { ASSERT_TRUE(WriteNewFile(key, "secret\n", true).ok()); });
  EXPECT_EQ(noted, (std::vector<std::string>{"fsync " + key.string(), "fsync " + dir_.string()}));
  EXPECT_EQ(Read(key), "secret\n");
  EXPECT_EQ(fs::status(key).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  Status again = WriteNewFile(key, "other\n", true);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(Read(key), "secret\n") << "a key is never overwritten";
}

TEST_F(FilesTest, AFileReplacedIsSyncedRenamedAndItsDirectorySynced) {
  const fs::path out = dir_ / "b.bundle";
  const std::string tmp = out.string() + ".tmp";
  ASSERT_TRUE(WriteFileAtomically(out, "old", false).ok());
  auto noted = Watch([&] { ASSERT_TRUE(WriteFileAtomically(out, "new", false).ok()); });
  EXPECT_EQ(noted, (std::vector<std::string>{"fsync " + tmp, "rename " + tmp + " " + out.string(),
                                             "fsync " + dir_.string()}));
  EXPECT_EQ(Read(out), "new");
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::others_read);

  // Secret: the temporary file is its owner's from the start (one left by a crash, readable by
  // all, is replaced, not reused).
  ASSERT_TRUE(WriteFileAtomically(tmp, "left by a crash", false).ok());
  const fs::path key = dir_ / "status.key";
  std::filesystem::rename(tmp, key.string() + ".tmp");
  ASSERT_TRUE(WriteFileAtomically(key, "k", true).ok());
  EXPECT_EQ(fs::status(key).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(FilesTest, AFileThatCannotBeWrittenLeavesTheOldOne) {
  const fs::path out = dir_ / "v.json";
  ASSERT_TRUE(WriteFileAtomically(out, "old", false).ok());
  fs::create_directory(out.string() + ".tmp");  // a directory where the temporary file goes
  Status st = WriteFileAtomically(out, "new", false);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), out.string() + ": cannot create: Is a directory (" + out.string() +
                              ".tmp is in the way)");
  EXPECT_EQ(Read(out), "old");
  // Named as asked for, not by the temporary file beside it.
  EXPECT_EQ(WriteFileAtomically(dir_ / "no-such-dir" / "x", "new", false).message(),
            (dir_ / "no-such-dir" / "x").string() + ": cannot create: No such file or directory");
}

// A link is followed, and stays; what is not a regular file (a pipe, /dev/stdout) is written to,
// never replaced (renamed over, /dev/stdout would become a file).
TEST_F(FilesTest, WhatALinkNamesIsReplacedAndAPipeWrittenTo) {
  const fs::path real = dir_ / "real.json", link = dir_ / "link.json";
  ASSERT_TRUE(WriteFileAtomically(real, "old", false).ok());
  fs::create_symlink(real, link);
  EXPECT_EQ(ResolveOutput(link).path, real);
  EXPECT_FALSE(ResolveOutput(link).in_place);
  ASSERT_TRUE(WriteFileAtomically(link, "new", false).ok());
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(Read(real), "new");

  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  EXPECT_TRUE(ResolveOutput(fifo).in_place);
  ASSERT_TRUE(WriteFileAtomically(fifo, "through the pipe", false).ok());
  char buf[64] = {};
  EXPECT_EQ(::read(reader, buf, sizeof buf), ssize_t(16));
  EXPECT_EQ(std::string(buf), "through the pipe");
  ::close(reader);
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_FALSE(fs::exists(fifo.string() + ".tmp"));

  for (const char* path : {"/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "/dev/null"}) {
    EXPECT_TRUE(ResolveOutput(path).in_place) << path;
  }
  EXPECT_EQ(ResolveOutput("-").path, "/dev/stdout");
  EXPECT_TRUE(ResolveOutput("-").in_place);
  EXPECT_FALSE(ResolveOutput(dir_ / "new.json").in_place);
}

// Standard input spooled: the whole of it, read again from the start as often as asked, in a file
// that has no name in the file system.
TEST_F(FilesTest, StandardInputIsSpooledToAFileReadAgain) {
  const std::string content = "resident_code,name\n1,甲\n";
  auto spooled = [&] {
    PipedStandardInput piped(content);
    return SpooledInput::FromStandardInput();
  }();
  ASSERT_TRUE(spooled.ok()) << spooled.status().message();
  EXPECT_EQ(Read(spooled->path()), content);
  EXPECT_EQ(Read(spooled->path()), content);  // from the start again
  const std::string target = fs::read_symlink(spooled->path()).string();
  EXPECT_NE(target.find("(deleted)"), std::string::npos) << target;
}

// A path that cannot be read says why, naming it: a key, a config or a bundle mistyped, or a
// directory given for the file in it.
TEST_F(FilesTest, APathThatCannotBeReadSaysWhy) {
  const fs::path file = dir_ / "node.key";
  ASSERT_TRUE(WriteNewFile(file, "secret\n", true).ok());
  EXPECT_TRUE(InputFile::Open(file).ok());
  EXPECT_EQ(Read(file), "secret\n");
  Status missing = InputFile::Open(dir_ / "nodo.key").status();
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.message(), (dir_ / "nodo.key").string() + ": No such file or directory");
  EXPECT_EQ(Read(dir_ / "nodo.key"), "<" + missing.message() + ">");
  EXPECT_EQ(Read(dir_), "<" + dir_.string() + ": is a directory, not a file>");
}

// A file is read in parts, to its end; a small file over its bound is refused, naming the bound.
TEST_F(FilesTest, AFileIsReadInPartsToItsEnd) {
  const fs::path file = dir_ / "b.bundle";
  std::string content(200000, 'x');
  content[0] = 'a';
  content.back() = 'z';
  ASSERT_TRUE(WriteNewFile(file, content, false).ok());
  auto in = InputFile::Open(file);
  ASSERT_TRUE(in.ok()) << in.status().message();
  EXPECT_EQ(in->name(), file.string());
  std::string got;
  ASSERT_TRUE(in->ReadUpTo(1, &got).ok());
  EXPECT_EQ(got, "a");
  ASSERT_TRUE(in->ReadUpTo(100000, &got).ok());
  EXPECT_EQ(got.size(), 100001u);
  EXPECT_FALSE(*in->AtEnd());                      // reads the byte it looks at, which is gone
  ASSERT_TRUE(in->ReadUpTo(1u << 20, &got).ok());  // more than is left: what is left
  EXPECT_EQ(got.size(), content.size() - 1);
  EXPECT_EQ(got.back(), 'z');
  EXPECT_TRUE(*in->AtEnd());
  EXPECT_EQ(Read(file).size(), content.size());
  EXPECT_EQ(ReadSmallFile(file, 199999).status().message(),
            file.string() + ": larger than 199999 bytes");
  EXPECT_EQ(InputFile::Open(dir_ / "none").status().message(),
            (dir_ / "none").string() + ": No such file or directory");
}

// "-" is standard input, named so; a terminal there is refused rather than waited on.
TEST_F(FilesTest, StandardInputIsReadForADash) {
  std::string got;
  auto in = [&] {
    PipedStandardInput piped("piped\n");
    auto opened = InputFile::Open("-");
    if (opened.ok()) {
      EXPECT_TRUE(opened->ReadUpTo(100, &got).ok());
    }
    return opened;
  }();
  ASSERT_TRUE(in.ok()) << in.status().message();
  EXPECT_EQ(in->name(), "standard input");
  EXPECT_EQ(got, "piped\n");
  if (::isatty(STDIN_FILENO)) {
    EXPECT_EQ(InputFile::Open("-").status().message(),
              "standard input (-) is a terminal: pipe the file in (… | bosai …), or name it");
  }
}

TEST_F(FilesTest, JsonMessagesLoseTheParsersTag) {
  EXPECT_EQ(JsonMessage("[json.exception.parse_error.101] parse error at line 1, column 1: x"),
            "parse error at line 1, column 1: x");
  EXPECT_EQ(JsonMessage("plain"), "plain");
}

}  // namespace
}  // namespace bosai
