#include "storage/record_index.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <queue>

#include "storage/crypto.h"
#include "storage/files.h"
#include "storage/workers.h"

namespace bosai {

namespace {

constexpr size_t kMergeBatch = 4096;  // entries merged ahead of the inserts

bool IsText(IndexKind kind) { return kind == IndexKind::kText || kind == IndexKind::kKey; }

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(char(v >> shift));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | uint8_t(p[i]);
  return v;
}

constexpr const char* kInsertEntry =
    "INSERT INTO record_index(kind, value, record) VALUES(?, ?, ?)";
constexpr const char* kInsertKey = "INSERT INTO record_keys(entity, key, record) VALUES(?, ?, ?)";

// One entry of record_index, its text a view into a builder's arena or a run's buffer. The text
// of a kKey entry is the entity (four bytes, big-endian: keys sort by entity first) and the key.
struct Entry {
  IndexKind kind;
  std::string_view text;  // for text kinds
  int64_t num;            // for the others
  int64_t record;
};

// An entry as bytes that sort as the table's primary key: [kind][value][record], integers
// big-endian with the sign bit flipped. Runs on disk hold [u16 length][key].
void EncodeKey(const Entry& e, std::string& out) {
  out.push_back(char(e.kind));
  if (IsText(e.kind)) {
    out += e.text;
  } else {
    PutU64(out, uint64_t(e.num) ^ (uint64_t(1) << 63));
  }
  PutU64(out, uint64_t(e.record));
}

Entry DecodeKey(std::string_view key) {
  Entry e{IndexKind(uint8_t(key[0])), {}, 0, int64_t(GetU64(key.data() + key.size() - 8))};
  std::string_view value = key.substr(1, key.size() - 9);
  if (IsText(e.kind)) {
    e.text = value;
  } else {
    e.num = int64_t(GetU64(value.data()) ^ (uint64_t(1) << 63));
  }
  return e;
}

// An entry that owns its text.
IndexEntry Owned(const Entry& e) {
  IndexEntry out{e.kind, std::nullopt, e.num};
  if (IsText(e.kind)) out.text = std::string(e.text);
  return out;
}

// Binds (kind, value, record), or (entity, key, record) for kKey, from column `col` on. The
// text is bound, not copied: `e` must outlive the statement's run.
void BindEntry(Stmt& s, int col, const IndexEntry& e, int64_t record) {
  if (e.kind == IndexKind::kKey) {
    const char* p = e.text->data();
    s.Bind(col, int64_t(uint32_t(uint8_t(p[0])) << 24 | uint32_t(uint8_t(p[1])) << 16 |
                        uint32_t(uint8_t(p[2])) << 8 | uint8_t(p[3])));
    s.BindTextView(col + 1, std::string_view(*e.text).substr(4));
    s.Bind(col + 2, record);
    return;
  }
  s.Bind(col, int64_t(e.kind));
  if (e.text) {
    s.BindTextView(col + 1, *e.text);
  } else {
    s.Bind(col + 1, e.num);
  }
  s.Bind(col + 2, record);
}

// Inserts entries (or keys) in rows of many values per statement: the statement's own cost,
// not the B-tree append, is most of a one-row insert.
class Inserter {
 public:
  Inserter(Db& db, const char* insert) : db_(db), insert_(insert) {}
  Status Add(IndexEntry entry, int64_t record) {
    rows_.push_back({std::move(entry), record});
    return rows_.size() == kRows ? Flush() : Status::Ok();
  }
  // A full batch in one statement; what is left at the end one row at a time.
  Status Flush() {
    if (rows_.size() < kRows) {
      for (const auto& [entry, record] : rows_) {
        Stmt& s = db_.Prepare(insert_);
        BindEntry(s, 1, entry, record);
        BOSAI_RETURN_IF_ERROR(s.Run());
      }
      rows_.clear();
      return Status::Ok();
    }
    if (batch_sql_.empty()) {
      batch_sql_ = insert_;
      for (size_t i = 1; i < kRows; ++i) batch_sql_ += ",(?, ?, ?)";
    }
    Stmt& s = db_.Prepare(batch_sql_);
    for (size_t i = 0; i < rows_.size(); ++i) {
      BindEntry(s, int(3 * i + 1), rows_[i].first, rows_[i].second);
    }
    Status st = s.Run();
    rows_.clear();  // after the statement has run: it read them
    return st;
  }

 private:
  static constexpr size_t kRows = 256;
  Db& db_;
  const char* insert_;
  std::vector<std::pair<IndexEntry, int64_t>> rows_;  // entry, record
  std::string batch_sql_;
};

Status FileError(std::string_view what) {
  return Status::IoError(fmt::format("index build: {}: {}", what, std::strerror(errno)));
}

// A file for a run, in TemporaryDirectory(): gone from it already, and from the disk when closed.
std::FILE* TemporaryFile() {
  const int fd = UnlinkedTemporaryFile("bosai-index");
  if (fd < 0) return nullptr;
  std::FILE* f = ::fdopen(fd, "w+b");
  if (f == nullptr) ::close(fd);
  return f;
}

// Reads back one sorted run.
class RunReader {
 public:
  explicit RunReader(std::FILE* f) : file_(f) {}
  // The next key, or false at the end.
  Result<bool> Next() {
    unsigned char len[2];
    size_t n = std::fread(len, 1, 2, file_);
    if (n == 0 && std::feof(file_)) return false;
    if (n != 2) return FileError("reading a run");
    key_.resize(size_t(len[0]) << 8 | len[1]);
    if (std::fread(key_.data(), 1, key_.size(), file_) != key_.size()) {
      return FileError("reading a run");
    }
    return true;
  }
  const std::string& key() const { return key_; }

 private:
  std::FILE* file_;
  std::string key_;
};

}  // namespace

int64_t RefValue(std::string_view key) { return int64_t(StableHash(key) >> 17); }

std::vector<IndexEntry> IndexEntries(const IndexColumns& ix) {
  std::vector<IndexEntry> out;
  if (ix.text) out.push_back({IndexKind::kText, ix.text, 0});
  if (ix.num) out.push_back({IndexKind::kNum, std::nullopt, *ix.num});
  if (ix.ref) out.push_back({IndexKind::kRef, std::nullopt, RefValue(*ix.ref)});
  if (ix.lookup) out.push_back({IndexKind::kLookup, std::nullopt, *ix.lookup});
  return out;
}

Status UpdateIndexEntries(Db& db, int64_t record, const IndexColumns& before,
                          const IndexColumns& after) {
  std::vector<IndexEntry> old_entries = IndexEntries(before);
  std::vector<IndexEntry> new_entries = IndexEntries(after);
  // Runs `sql` for each entry of `entries` that `other` does not have.
  auto each_not_in = [&](const std::vector<IndexEntry>& entries,
                         const std::vector<IndexEntry>& other, const std::string& sql) -> Status {
    for (const IndexEntry& e : entries) {
      if (std::any_of(other.begin(), other.end(), [&](const IndexEntry& o) {
            return e.kind == o.kind && e.text == o.text && e.num == o.num;
          })) {
        continue;
      }
      Stmt& st = db.Prepare(sql);
      BindEntry(st, 1, e, record);
      BOSAI_RETURN_IF_ERROR(st.Run());
    }
    return Status::Ok();
  };
  BOSAI_RETURN_IF_ERROR(
      each_not_in(old_entries, new_entries,
                  "DELETE FROM record_index WHERE kind = ? AND value = ? AND record = ?"));
  return each_not_in(new_entries, old_entries, kInsertEntry);
}

IndexBuilder::IndexBuilder(size_t memory_bytes) : memory_bytes_(memory_bytes) {}

IndexBuilder::~IndexBuilder() {
  if (spilling_.valid()) spilling_.wait();
  for (std::FILE* f : runs_) std::fclose(f);
}

Status IndexBuilder::Add(int64_t record, const IndexColumns& ix) {
  // The entries IndexEntries(ix) gives, without copying their texts.
  auto num = [&](IndexKind kind, int64_t value) {
    kinds_[size_t(kind)].nums.push_back({value, record});
    bytes_ += sizeof(Num);
  };
  if (ix.text) BOSAI_RETURN_IF_ERROR(AddText(IndexKind::kText, {}, *ix.text, record));
  if (ix.num) num(IndexKind::kNum, *ix.num);
  if (ix.ref) num(IndexKind::kRef, RefValue(*ix.ref));
  if (ix.lookup) num(IndexKind::kLookup, *ix.lookup);
  return bytes_ > memory_bytes_ ? Spill() : Status::Ok();
}

Status IndexBuilder::AddKey(uint32_t entity, std::string_view key, int64_t record) {
  const char be[4] = {char(entity >> 24), char(entity >> 16), char(entity >> 8), char(entity)};
  BOSAI_RETURN_IF_ERROR(AddText(IndexKind::kKey, std::string_view(be, 4), key, record));
  return bytes_ > memory_bytes_ ? Spill() : Status::Ok();
}

Status IndexBuilder::AddText(IndexKind kind, std::string_view head, std::string_view text,
                             int64_t record) {
  size_t size = head.size() + text.size();
  if (size > 0xFFF0)
    return Status::Invalid(fmt::format("an index value of {} bytes is too long", size));
  Entries& k = kinds_[size_t(kind)];
  k.texts.push_back({0, uint32_t(k.arena.size()), uint32_t(size), record});
  k.arena += head;
  k.arena += text;
  bytes_ += sizeof(Text) + size;
  return Status::Ok();
}

void IndexBuilder::Sort(Entries& k, IndexKind kind) {
  if (!IsText(kind)) {
    std::sort(k.nums.begin(), k.nums.end(), [](const Num& a, const Num& b) {
      return a.value != b.value ? a.value < b.value : a.record < b.record;
    });
    return;
  }
  auto text = [&](const Text& t) { return std::string_view(k.arena).substr(t.offset, t.size); };
  size_t common = k.texts.empty() ? 0 : k.texts[0].size;
  for (const Text& t : k.texts) {
    std::string_view a = text(k.texts[0]), b = text(t);
    size_t n = std::min(common, b.size());
    common = size_t(std::mismatch(a.begin(), a.begin() + n, b.begin()).first - a.begin());
  }
  for (Text& t : k.texts) {
    std::string_view rest = text(t).substr(common);
    t.prefix = 0;
    for (size_t i = 0; i < 8; ++i) {
      t.prefix = t.prefix << 8 | (i < rest.size() ? uint8_t(rest[i]) : 0);
    }
  }
  std::sort(k.texts.begin(), k.texts.end(), [&](const Text& a, const Text& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    if (int c = text(a).compare(text(b)); c != 0) return c < 0;
    return a.record < b.record;
  });
}

template <typename Fn>
Status IndexBuilder::ForEachSorted(Kinds& kinds, bool parallel, Fn&& fn) {
  auto sort = [&kinds](IndexKind kind) { Sort(kinds[size_t(kind)], kind); };
  auto policy = parallel ? std::launch::async : std::launch::deferred;
  auto kana = std::async(policy, sort, IndexKind::kText);
  auto keys = std::async(policy, sort, IndexKind::kKey);
  sort(IndexKind::kNum);
  sort(IndexKind::kRef);
  sort(IndexKind::kLookup);
  kana.get();
  keys.get();
  for (IndexKind kind :
       {IndexKind::kText, IndexKind::kNum, IndexKind::kRef, IndexKind::kLookup, IndexKind::kKey}) {
    Entries& k = kinds[size_t(kind)];
    if (IsText(kind)) {
      for (const Text& t : k.texts) {
        std::string_view v = std::string_view(k.arena).substr(t.offset, t.size);
        BOSAI_RETURN_IF_ERROR(fn(Entry{kind, v, 0, t.record}));
      }
    } else {
      for (const Num& n : k.nums) BOSAI_RETURN_IF_ERROR(fn(Entry{kind, {}, n.value, n.record}));
    }
  }
  return Status::Ok();
}

Status IndexBuilder::WriteRun(Kinds& kinds, std::FILE* run) {
  std::string key;
  BOSAI_RETURN_IF_ERROR(ForEachSorted(kinds, false, [&](const Entry& e) -> Status {
    key.assign(2, '\0');
    EncodeKey(e, key);
    key[0] = char((key.size() - 2) >> 8);
    key[1] = char(key.size() - 2);
    if (std::fwrite(key.data(), 1, key.size(), run) != key.size()) {
      return FileError(fmt::format("writing a run in {}", TemporaryDirectory()));
    }
    return Status::Ok();
  }));
  if (std::fflush(run) != 0 || std::fseek(run, 0, SEEK_SET) != 0) {
    return FileError(fmt::format("writing a run in {}", TemporaryDirectory()));
  }
  return Status::Ok();
}

Status IndexBuilder::WaitForSpill() {
  if (!spilling_.valid()) return Status::Ok();
  return spilling_.get();
}

Status IndexBuilder::Spill() {
  BOSAI_RETURN_IF_ERROR(WaitForSpill());
  std::FILE* f = TemporaryFile();
  if (f == nullptr)
    return FileError(fmt::format("creating a temporary file in {}", TemporaryDirectory()));
  runs_.push_back(f);
  spilling_ = spiller_.Run(
      [f, kinds = std::make_shared<Kinds>(std::move(kinds_))] { return WriteRun(*kinds, f); });
  kinds_ = Kinds();
  bytes_ = 0;
  return Status::Ok();
}

Status IndexBuilder::Finish(Db& db) {
  BOSAI_RETURN_IF_ERROR(WaitForSpill());
  Inserter entries(db, kInsertEntry), keys(db, kInsertKey);
  auto insert = [&](IndexEntry e, int64_t record) {
    return (e.kind == IndexKind::kKey ? keys : entries).Add(std::move(e), record);
  };
  auto flush = [&] {
    Status st = entries.Flush();
    return st.ok() ? keys.Flush() : st;
  };
  if (runs_.empty()) {
    BOSAI_RETURN_IF_ERROR(
        ForEachSorted(kinds_, true, [&](const Entry& e) { return insert(Owned(e), e.record); }));
    kinds_ = Kinds();
    bytes_ = 0;
    return flush();
  }
  if (bytes_ > 0) {
    BOSAI_RETURN_IF_ERROR(Spill());
    BOSAI_RETURN_IF_ERROR(WaitForSpill());
  }
  // Merge the runs: a heap of (key, run), smallest key first. The merge runs on another
  // thread, a batch ahead of the inserts.
  std::vector<RunReader> readers;
  for (std::FILE* f : runs_) readers.emplace_back(f);
  auto greater = [&](size_t a, size_t b) { return readers[a].key() > readers[b].key(); };
  std::priority_queue<size_t, std::vector<size_t>, decltype(greater)> heap(greater);
  for (size_t i = 0; i < readers.size(); ++i) {
    BOSAI_ASSIGN_OR_RETURN(bool more, readers[i].Next());
    if (more) heap.push(i);
  }
  using Rows = std::vector<std::pair<IndexEntry, int64_t>>;
  auto merge = [&]() -> Result<Rows> {  // the next batch; empty at the end
    Rows batch;
    while (!heap.empty() && batch.size() < kMergeBatch) {
      size_t i = heap.top();
      heap.pop();
      Entry e = DecodeKey(readers[i].key());
      batch.emplace_back(Owned(e), e.record);
      BOSAI_ASSIGN_OR_RETURN(bool more, readers[i].Next());
      if (more) heap.push(i);
    }
    return batch;
  };
  Workers merging(1);  // after what its task uses: its end waits for it
  auto next = merging.Run(merge);
  for (;;) {
    BOSAI_ASSIGN_OR_RETURN(Rows batch, next.get());
    if (batch.empty()) break;
    next = merging.Run(merge);
    for (auto& [entry, record] : batch) {
      BOSAI_RETURN_IF_ERROR(insert(std::move(entry), record));
    }
  }
  BOSAI_RETURN_IF_ERROR(flush());
  for (std::FILE* f : runs_) std::fclose(f);
  runs_.clear();
  return Status::Ok();
}

}  // namespace bosai
