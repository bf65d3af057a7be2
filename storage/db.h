// Thin RAII wrapper over one SQLite connection and its prepared statements (SQLiteCpp style).
// Not thread-safe: a Db and its statements belong to the thread that opened them.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/status.h"

namespace bosai {

class Db;

// A prepared statement. Bind parameters are 1-based, columns 0-based, as in SQLite.
class Stmt {
 public:
  Stmt() = default;
  // ON_FULL_DISK: the statement's connection is open alone on a full disk (Db::Open), so that a
  // write it refuses says so.
  explicit Stmt(sqlite3_stmt* s, bool on_full_disk = false)
      : stmt_(s), on_full_disk_(on_full_disk) {}

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v) { return BindText(i, v, SQLITE_TRANSIENT); }  // text
  Stmt& BindBlob(int i, std::string_view v) { return BindBlob(i, v, SQLITE_TRANSIENT); }
  Stmt& BindNull(int i);
  // As Bind and BindBlob, without a copy: the bytes must stay valid until the statement has run
  // (Run, or Step to the end and Reset). For large values written once.
  Stmt& BindTextView(int i, std::string_view v) { return BindText(i, v, SQLITE_STATIC); }
  Stmt& BindBlobView(int i, std::string_view v) { return BindBlob(i, v, SQLITE_STATIC); }

  // Returns true while a row is available; false when done. Errors become a Status in status().
  bool Step();
  // Runs to completion, for statements that return no rows.
  Status Run();
  void Reset();
  const Status& status() const { return status_; }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  std::string_view Text(int col) const;
  std::string_view Blob(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  bool IsInteger(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_INTEGER; }
  bool IsBlob(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_BLOB; }
  int ColumnCount() const { return sqlite3_column_count(stmt_.get()); }

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  Stmt& BindText(int i, std::string_view v, sqlite3_destructor_type copy);
  Stmt& BindBlob(int i, std::string_view v, sqlite3_destructor_type copy);

  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  bool on_full_disk_ = false;
  Status status_;
};

// Whether STATUS is SQLite finding a database file damaged (SQLITE_CORRUPT, SQLITE_NOTADB), as
// against data that fails one of bosai's own checks.
bool IsDamagedFile(const Status& status);

class Db {
 public:
  // Opens (creating if needed) a database file in WAL mode with synchronous=FULL and a busy
  // timeout, so that a second process waits for the lock instead of failing. READ_ONLY opens an
  // existing file without writing to it; on a read-only file system, a file with no WAL beside
  // it is opened as immutable (SQLite would otherwise need to create its shared-memory file),
  // one with a WAL reads it.
  //
  // When the disk is too full for SQLite's shared-memory file, and ALONE_IF_DISK_FULL, the file
  // is opened for this connection alone (locking mode EXCLUSIVE, the WAL index in memory), to
  // read: a write fails at Begin() saying the disk is full, and every other connection waits
  // until this one closes. For a command that ends soon, not for a daemon.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool read_only = false,
                                          bool alone_if_disk_full = false);
  // SQLite's own check (PRAGMA integrity_check) of a database file, for one too damaged to open
  // as a store: up to MAX_PROBLEMS lines of what it finds (none: the file is sound), or why the
  // file cannot be read at all. Opens it read-only and writes nothing.
  static Result<std::vector<std::string>> CheckFile(const std::string& path, int max_problems);

  // Copies this database as of one moment into a new file at PATH, which must not exist, with
  // SQLite's online backup (other connections go on writing): written whole or not at all, in
  // one file (no WAL beside it), synced, readable by its owner only. PROGRESS gets the fraction
  // copied.
  Status BackupTo(const std::string& path, const std::function<void(double)>& progress);
  // Replaces this database's content with that of the database file at PATH, in one write
  // transaction of this connection: other connections see either the old content or the new.
  // A failure changes nothing; damaged_file() when this database's file is damaged.
  Status ReplaceWith(const std::string& path);

  Status Exec(std::string_view sql);
  // Runs `sql` (CREATE TABLE IF NOT EXISTS ...) unless every table named exists already, so
  // that a process that only reads never waits for another's write lock to find them there.
  Status EnsureTables(std::initializer_list<std::string_view> tables, std::string_view sql);
  // A statement cached by its SQL text: prepared once, reset before each use.
  Stmt& Prepare(const std::string& sql);
  // A fresh statement, for one-off queries.
  Result<Stmt> PrepareOnce(std::string_view sql);

  // On a connection opened read-only, or alone on a full disk, an error that says why nothing
  // can be written.
  Status CheckWritable() const;
  // BEGIN IMMEDIATE: takes the write lock now, waiting on other processes; CheckWritable()'s
  // error first.
  Status Begin();
  Status Commit();
  Status Rollback();
  bool in_transaction() const { return !sqlite3_get_autocommit(db_.get()); }

  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_.get()); }
  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  sqlite3* raw() const { return db_.get(); }
  Status Error(std::string_view what) const;

  // Opened read-only, or alone on a full disk (Open).
  bool read_only() const { return read_only_; }
  // Opened alone, to read, because the disk is full (Open).
  bool disk_full() const { return disk_full_; }

 private:
  Status Connect(const std::string& path, bool alone);  // part of Open
  Status SetUp();  // page size, WAL, durability: the file is opened here
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
  bool read_only_ = false;
  bool disk_full_ = false;
  std::unordered_map<std::string, Stmt> cache_;
};

// A consistent snapshot for several reads: BEGIN (deferred) now, COMMIT on scope exit. Does
// nothing when a transaction is already open on the connection.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Db& db) : db_(db), owned_(!db.in_transaction() && db.Exec("BEGIN").ok()) {}
  ~ReadSnapshot() {
    if (owned_) db_.Exec("COMMIT");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  Db& db_;
  bool owned_;
};

// Rolls back on scope exit unless Commit() was called.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) {}
  ~Transaction() {
    if (active_) db_.Rollback();
  }
  Status Begin() {
    Status s = db_.Begin();
    active_ = s.ok();
    return s;
  }
  Status Commit() {
    Status s = db_.Commit();
    if (s.ok()) active_ = false;
    return s;
  }

 private:
  Db& db_;
  bool active_ = false;
};

}  // namespace bosai
