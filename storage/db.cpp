// SQLite connection and statement wrappers; see db.h.
#include "storage/db.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

#include "storage/files.h"

namespace bosai {
namespace {

// What a write on a connection opened read-only is told, from Db::Begin or from SQLite.
constexpr std::string_view kReadOnly =
    "the store is open read-only and this command would change it (--read-only was given, or "
    "the data dir cannot be written): run it on a writable copy of the data dir";

// What a write on a store opened alone on a full disk (Db::Open) is told.
constexpr std::string_view kDiskFull =
    "the disk that holds the data dir is full; free some space and run the command again";

// Whether the operating system's error ERRNO says a disk (or a quota) has no room left.
bool NoRoom(int errno_value) { return errno_value == ENOSPC || errno_value == EDQUOT; }

// The status of SQLite's extended result code RC, with SQLite's MESSAGE and the operating
// system's error SYS_ERRNO behind it, in an operation named WHAT, on a connection opened alone on
// a full disk or not (Db::Open).
Status StatusOf(int rc, std::string_view message, int sys_errno, bool on_full_disk,
                std::string_view what = "sqlite") {
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
    return Status::Exists(fmt::format("{}: {}", what, message));
  }
  // A file SQLite could not grow (its shared-memory file, say) is reported as an I/O error.
  if ((rc & 0xff) == SQLITE_IOERR && NoRoom(sys_errno)) rc = SQLITE_FULL;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
      return Status::Busy("database is locked by another process");
    case SQLITE_FULL:
      return Status::IoError(fmt::format("{}: {}: {}", what, message, kDiskFull));
    case SQLITE_CORRUPT:
      // A function's own error (record_body) carries its own message.
      if (message != sqlite3_errstr(rc)) return Status::Corruption(std::string(message));
      [[fallthrough]];
    case SQLITE_NOTADB:
      return Status::DamagedFile(fmt::format("{}: {}", what, message));
    case SQLITE_READONLY:
      if (on_full_disk) return Status::IoError(std::string(kDiskFull));
      return Status::Invalid(fmt::format("{}: {}: {}", what, message, kReadOnly));
    default:
      return Status::IoError(fmt::format("{}: {}", what, message));
  }
}

// Whether the file system that holds PATH is mounted read-only.
bool OnReadOnlyFileSystem(const std::string& path) {
  struct statvfs st;
  return ::statvfs(path.c_str(), &st) == 0 && (st.f_flag & ST_RDONLY) != 0;
}

// PATH as an SQLite file: URI, its reserved characters escaped.
std::string FileUri(const std::string& path) {
  std::string uri = "file:";
  for (char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#' || uint8_t(c) < 0x21) {
      uri += fmt::format("%{:02X}", uint8_t(c));
    } else {
      uri += c;
    }
  }
  return uri;
}

}  // namespace

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_.get(), i, v);
  return *this;
}
Stmt& Stmt::BindText(int i, std::string_view v, sqlite3_destructor_type copy) {
  sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), copy);
  return *this;
}
Stmt& Stmt::BindBlob(int i, std::string_view v, sqlite3_destructor_type copy) {
  // A zero-length blob must still be a blob, not NULL.
  sqlite3_bind_blob(stmt_.get(), i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), copy);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(stmt_.get(), i);
  return *this;
}

bool Stmt::Step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    sqlite3* db = sqlite3_db_handle(stmt_.get());
    status_ = StatusOf(sqlite3_extended_errcode(db), sqlite3_errmsg(db), sqlite3_system_errno(db),
                       on_full_disk_);
  }
  return false;
}

Status Stmt::Run() {
  while (Step()) {
  }
  Status s = status_;
  Reset();
  return s;
}

void Stmt::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  status_ = Status::Ok();
}

std::string_view Stmt::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
  return p ? std::string_view(p, sqlite3_column_bytes(stmt_.get(), col)) : std::string_view();
}

std::string_view Stmt::Blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_.get(), col));
  return p ? std::string_view(p, sqlite3_column_bytes(stmt_.get(), col)) : std::string_view();
}

bool IsDamagedFile(const Status& status) { return status.damaged_file(); }

// How long a statement waits for another process's lock before it reports busy.
constexpr int kBusyTimeoutMs = 60'000;

Result<std::vector<std::string>> Db::CheckFile(const std::string& path, int max_problems) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, &sqlite3_close_v2);
  if (rc != SQLITE_OK) return StatusOf(rc, sqlite3_errmsg(raw), 0, false).WithContext(path);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  sqlite3_stmt* raw_stmt = nullptr;
  const std::string sql = fmt::format("PRAGMA integrity_check({})", max_problems);
  rc = sqlite3_prepare_v2(raw, sql.c_str(), -1, &raw_stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw_stmt, &sqlite3_finalize);
  std::vector<std::string> problems;
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(raw_stmt)) == SQLITE_ROW) {
      const auto* line = reinterpret_cast<const char*>(sqlite3_column_text(raw_stmt, 0));
      if (line && std::string_view(line) != "ok") problems.emplace_back(line);
    }
  }
  if (rc != SQLITE_DONE) return StatusOf(rc, sqlite3_errmsg(raw), 0, false).WithContext(path);
  return problems;
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, bool read_only,
                                     bool alone_if_disk_full) {
  auto db = std::make_unique<Db>();
  db->read_only_ = read_only;
  Status st = db->Connect(path, /*alone=*/false);
  if (!st.ok() && alone_if_disk_full && db->raw() && NoRoom(sqlite3_system_errno(db->raw()))) {
    // SQLite could not make its shared-memory file: with the WAL index in this process's memory
    // instead (exclusive locking mode), the store can still be read.
    db = std::make_unique<Db>();
    db->read_only_ = true;
    db->disk_full_ = true;
    st = db->Connect(path, /*alone=*/true);
  }
  if (!st.ok()) {
    st = st.WithContext(fmt::format("cannot open database {}", path));
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    if (!read_only && ::access(dir.c_str(), W_OK) != 0) {
      st = st.WithNote(fmt::format(
          "{} is not writable, and a store opened for writing keeps its WAL beside the database "
          "(--read-only reads it without writing)",
          dir));
    }
    return st;
  }
  return db;
}

Status Db::Connect(const std::string& path, bool alone) {
  sqlite3* raw = nullptr;
  // Alone, the connection is opened for writing, for SQLite keeps a read-only connection's WAL
  // index in shared memory whatever the locking mode; it writes nothing (query_only, and no
  // checkpoint on close).
  int flags = alone        ? SQLITE_OPEN_READWRITE
              : read_only_ ? SQLITE_OPEN_READONLY
                           : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  std::string name = path;
  if (read_only_ && OnReadOnlyFileSystem(path) && !std::filesystem::exists(path + "-wal")) {
    name = FileUri(path) + "?immutable=1";
    flags |= SQLITE_OPEN_URI;
  }
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    return Status::IoError(raw ? sqlite3_errmsg(raw) : "no memory");
  }
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  sqlite3_extended_result_codes(raw, 1);
  if (alone) {
    sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    // Before the first read: SQLite then never makes the shared-memory file.
    BOSAI_RETURN_IF_ERROR(Exec("PRAGMA locking_mode=EXCLUSIVE; PRAGMA query_only=1"));
  }
  return SetUp();  // SQLite opens the file at the first statement
}

Status Db::SetUp() {
  // SQLite's usual 4 KiB pages (only a new file; a store made with 16 KiB pages keeps them): a
  // record read at random (a register re-imported in another order than its first import, a
  // search, a show) copies a page from the file cache, and a small page copies a quarter of the
  // bytes. Appends (a first import) fill small pages as quickly; `ops/bench import` prints both.
  if (!read_only_) BOSAI_RETURN_IF_ERROR(Exec("PRAGMA page_size=4096"));
  if (!read_only_) {
    // Setting WAL mode takes a write lock. While another process writes through a rollback
    // journal (a bulk write: Store::UseRollbackJournal), SQLite reports busy at once instead of
    // calling the busy handler (this connection holds a read lock already): wait here as the
    // busy timeout would.
    Status wal = Exec("PRAGMA journal_mode=WAL");
    for (auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
         wal.code() == Status::Code::kBusy && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      wal = Exec("PRAGMA journal_mode=WAL");
    }
    BOSAI_RETURN_IF_ERROR(wal);
  }
  BOSAI_RETURN_IF_ERROR(
      Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
           "PRAGMA temp_store=MEMORY"));
  return Status::Ok();
}

Status Db::Error(std::string_view what) const {
  return StatusOf(sqlite3_extended_errcode(db_.get()), sqlite3_errmsg(db_.get()),
                  sqlite3_system_errno(db_.get()), disk_full_, what);
}

namespace {

// Runs SQLite's backup from SRC to DEST ("main" to "main") to its end, PAGES at a time (-1: all
// in one step, one write transaction of DEST), waiting out other connections' locks. PROGRESS,
// when given, gets the fraction copied.
int RunBackup(sqlite3* dest, sqlite3* src, int pages, const std::function<void(double)>& progress) {
  sqlite3_backup* b = sqlite3_backup_init(dest, "main", src, "main");
  if (!b) return sqlite3_errcode(dest);
  int rc;
  do {
    rc = sqlite3_backup_step(b, pages);
    const int total = sqlite3_backup_pagecount(b);
    if (progress && total > 0) progress(1.0 - double(sqlite3_backup_remaining(b)) / total);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(20);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  const int finished = sqlite3_backup_finish(b);
  return rc == SQLITE_DONE ? finished : rc;
}

}  // namespace

Status Db::BackupTo(const std::string& path, const std::function<void(double)>& progress) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    return Status::Exists(fmt::format("{}: exists already, and is never written over", path));
  }
  const std::string partial = path + ".partial";
  fs::remove(partial, ec);
  sqlite3* raw_dest = nullptr;
  int rc =
      sqlite3_open_v2(partial.c_str(), &raw_dest,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, Closer> dest(raw_dest);
  auto fail = [&](const std::string& why) {
    dest.reset();
    fs::remove(partial, ec);
    return Status::IoError(fmt::format("{}: {}", path, why));
  };
  if (rc != SQLITE_OK) return fail(sqlite3_errstr(rc));
  ::chmod(partial.c_str(), 0600);
  rc = RunBackup(dest.get(), db_.get(), 4096, progress);
  if (rc != SQLITE_OK) return fail(sqlite3_errstr(rc));
  // The copy keeps its source's WAL mode: one file is easier to carry and to check.
  rc = sqlite3_exec(dest.get(), "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(sqlite3_errmsg(dest.get()));
  dest.reset();
  return LinkNewFile(partial, path);
}

Status Db::ReplaceWith(const std::string& path) {
  BOSAI_RETURN_IF_ERROR(CheckWritable());
  sqlite3* raw_src = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw_src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, Closer> src(raw_src);
  if (rc != SQLITE_OK) return Status::IoError(fmt::format("{}: {}", path, sqlite3_errstr(rc)));
  rc = RunBackup(db_.get(), src.get(), -1, nullptr);
  if (rc != SQLITE_OK) {
    // (A damaged file here is this database, the source having been checked: damaged_file().)
    return StatusOf(rc, sqlite3_errstr(rc), 0, false).WithContext(path + ": putting it back");
  }
  return Status::Ok();
}

Status Db::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return StatusOf(sqlite3_extended_errcode(db_.get()), msg, sqlite3_system_errno(db_.get()),
                    disk_full_);
  }
  return Status::Ok();
}

Status Db::EnsureTables(std::initializer_list<std::string_view> tables, std::string_view sql) {
  Stmt& q = Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  bool all = true;
  for (std::string_view t : tables) {
    q.Bind(1, t);
    all = all && q.Step();
    Status st = q.status();
    q.Reset();
    BOSAI_RETURN_IF_ERROR(st);
  }
  return all ? Status::Ok() : Exec(sql);
}

Stmt& Db::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second.Reset();
    return it->second;
  }
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    // Cached statements are fixed SQL in our own code: a failure is a programming error.
    throw std::logic_error(fmt::format("prepare failed: {}: {}", sqlite3_errmsg(db_.get()), sql));
  }
  return cache_.emplace(sql, Stmt(s, disk_full_)).first->second;
}

Result<Stmt> Db::PrepareOnce(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) return Error("prepare");
  return Stmt(s, disk_full_);
}

Status Db::CheckWritable() const {
  if (disk_full_) return Status::IoError(std::string(kDiskFull));
  if (read_only_) return Status::Invalid(std::string(kReadOnly));
  return Status::Ok();
}

Status Db::Begin() {
  BOSAI_RETURN_IF_ERROR(CheckWritable());
  return Exec("BEGIN IMMEDIATE");
}
Status Db::Commit() { return Exec("COMMIT"); }
Status Db::Rollback() { return Exec("ROLLBACK"); }

}  // namespace bosai
