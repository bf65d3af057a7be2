// The index of records: one table of entries (kind, value, record), instead of SQLite indexes
// on columns of `records` (DESIGN §4: indexes for kana search, birth date, household, ...).
//
// Why a table: a first import or a bootstrap writes a million records at once. SQLite builds an
// index afterwards with a sort whose linked-list merge spends its time in cache misses (about
// 0.7 s per index for 400,000 records on the development machine), and random inserts while
// writing are slower still. Entries gathered by an IndexBuilder, sorted in memory and inserted
// in key order are appended to the table's B-tree at a quarter of that cost.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/db.h"
#include "storage/status.h"
#include "storage/workers.h"

namespace bosai {

// Values of a record kept for queries. The node layer computes them from a record body; the
// store keeps the folded name in a column of `records`, the others as entries of
// `record_index`, in step with every materialized change.
struct IndexColumns {
  std::optional<std::string> text;   // indexed, prefix search (kana)
  std::optional<std::string> text2;  // a column, scanned (folded name)
  std::optional<std::string> ref;    // indexed by RefValue, equality (household key)
  std::optional<int64_t> num;        // indexed, equality and range (birth date)
  std::optional<int64_t> lookup;     // indexed, equality (keyed hash of My Number)
};

// What an entry of record_index indexes. Stored in the table: never renumber. kKey is an
// IndexBuilder's own: its entries go to record_keys.
enum class IndexKind : int64_t { kText = 1, kNum = 2, kRef = 3, kLookup = 4, kKey = 5 };

// The value of a reference's entry (kRef): 47 bits of StableHash of the key it names, which SQLite
// stores in six bytes against the 17 of a household key's text (schema version 7). Equal keys
// give equal values; a query by value checks the key in the bodies it finds.
int64_t RefValue(std::string_view key);

constexpr const char* kRecordIndexTable = R"sql(
CREATE TABLE IF NOT EXISTS record_index(
  kind INTEGER NOT NULL,
  value NOT NULL,
  record INTEGER NOT NULL,
  PRIMARY KEY(kind, value, record)) WITHOUT ROWID;
)sql";

// The key of every record: (entity, key) → records.id, unique. A table rather than a SQLite
// index on records(entity, key) for the reason above; records_keyed keeps it in step with every
// insert into records, except during a bulk write (its IndexBuilder inserts the keys at the
// end) and a bootstrap (keys inserted with the records). Records are never deleted but all at
// once (with their keys).
constexpr const char* kRecordKeysTable = R"sql(
CREATE TABLE IF NOT EXISTS record_keys(
  entity INTEGER NOT NULL,
  key TEXT NOT NULL,
  record INTEGER NOT NULL,
  PRIMARY KEY(entity, key)) WITHOUT ROWID;
)sql";
constexpr const char* kRecordKeysTrigger = R"sql(
CREATE TRIGGER IF NOT EXISTS records_keyed AFTER INSERT ON records BEGIN
  INSERT INTO record_keys(entity, key, record) VALUES(new.entity, new.key, new.id);
END;
)sql";
constexpr const char* kDropRecordKeysTrigger = "DROP TRIGGER IF EXISTS records_keyed;";

// Entries of one record's index columns, one kind at a time.
struct IndexEntry {
  IndexKind kind;
  std::optional<std::string> text;  // or
  int64_t num = 0;
};
std::vector<IndexEntry> IndexEntries(const IndexColumns& ix);

// Brings a record's entries from `before` to `after` (either may be empty: a new record).
Status UpdateIndexEntries(Db& db, int64_t record, const IndexColumns& before,
                          const IndexColumns& after);

// Gathers the entries of many new records and inserts them, in key order, at Finish. Memory is
// bounded by twice `memory_bytes`: past it, another thread writes what was gathered as a sorted
// run to a temporary file while more is gathered; the runs are merged at the end.
class IndexBuilder {
 public:
  explicit IndexBuilder(size_t memory_bytes);
  ~IndexBuilder();
  IndexBuilder(const IndexBuilder&) = delete;
  IndexBuilder& operator=(const IndexBuilder&) = delete;

  Status Add(int64_t record, const IndexColumns& ix);
  Status AddKey(uint32_t entity, std::string_view key, int64_t record);  // to record_keys
  // Inserts every entry and key added. A key added twice, or already in record_keys, fails it.
  Status Finish(Db& db);

 private:
  struct Num {
    int64_t value;
    int64_t record;
  };
  // A text in `arena`; `prefix` holds eight bytes past the common prefix of the texts of its
  // kind, so that most comparisons of a sort touch no text.
  struct Text {
    uint64_t prefix;
    uint32_t offset, size;
    int64_t record;
  };
  struct Entries {
    std::vector<Num> nums;
    std::vector<Text> texts;
    std::string arena;
  };
  using Kinds = std::array<Entries, 6>;  // by IndexKind
  // Sorts `kinds` (the text kinds on two more threads when `parallel`), then calls
  // fn(Entry) for each entry in key order.
  template <typename Fn>
  static Status ForEachSorted(Kinds& kinds, bool parallel, Fn&& fn);
  static void Sort(Entries& k, IndexKind kind);
  // Writes `kinds` to `run`, sorted.
  static Status WriteRun(Kinds& kinds, std::FILE* run);
  // Hands what is in memory to another thread, which writes it as a sorted run.
  Status Spill();
  Status WaitForSpill();
  // An entry whose value is head + text.
  Status AddText(IndexKind kind, std::string_view head, std::string_view text, int64_t record);

  size_t memory_bytes_;
  size_t bytes_ = 0;
  Kinds kinds_;
  std::vector<std::FILE*> runs_;
  std::future<Status> spilling_;  // the run being written
  Workers spiller_{1};            // last: it ends, and waits for its task, first
};

}  // namespace bosai
