// Record store: schema, op-log, materializer, state hash and doctor; see store.h.
#include "storage/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <future>
#include <numeric>
#include <thread>

namespace bosai {
namespace {

constexpr int kSchemaVersion = 8;

// The meta key of the indexer version that made record_index (Store::IndexedBy).
constexpr std::string_view kIndexedByMeta = "indexer_version";

// TEXT as a decimal number (digits only), if it is one.
std::optional<uint64_t> DecimalNumber(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// Schema version 1. Later versions append migrations; a released one is never edited.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
CREATE TABLE incarnations(name TEXT PRIMARY KEY, public_key BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE streams(
  id INTEGER PRIMARY KEY,
  incarnation TEXT NOT NULL,
  scope TEXT NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0,
  UNIQUE(incarnation, scope));
CREATE TABLE blocks(
  id INTEGER PRIMARY KEY,
  stream INTEGER NOT NULL REFERENCES streams(id),
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX blocks_stream ON blocks(stream, first_seq);
CREATE TABLE records(
  id INTEGER PRIMARY KEY,
  entity INTEGER NOT NULL,
  key TEXT NOT NULL,
  body BLOB NOT NULL,
  clock BLOB NOT NULL,
  idx_text TEXT,
  idx_text2 TEXT,
  idx_ref TEXT,
  idx_num INTEGER,
  idx_lookup INTEGER);
CREATE TABLE siblings(
  entity INTEGER NOT NULL,
  key TEXT NOT NULL,
  field INTEGER NOT NULL,
  stream INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  hlc INTEGER NOT NULL,
  reg INTEGER NOT NULL,
  value BLOB NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY(entity, key, field, stream, seq)) WITHOUT ROWID;
CREATE INDEX siblings_id ON siblings(id);
CREATE TABLE superseded(
  entity INTEGER NOT NULL,
  key TEXT NOT NULL,
  field INTEGER NOT NULL,
  stream INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(entity, key, field, stream, seq)) WITHOUT ROWID;
CREATE TABLE register_base(
  entity INTEGER NOT NULL,
  key TEXT NOT NULL,
  field INTEGER NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY(entity, key, field)) WITHOUT ROWID;
CREATE TABLE events(
  stream INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  entity INTEGER NOT NULL,
  key TEXT NOT NULL,
  hlc INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY(stream, seq)) WITHOUT ROWID;
CREATE INDEX events_key ON events(entity, key);
)sql";

// Version 2: the secondary record indexes no longer lead with the entity (each column is set for
// one entity only), so that SQLite sorts them on their own value: half the time to build.
constexpr const char* kMigrationV2 = R"sql(
DROP INDEX IF EXISTS records_text;
DROP INDEX IF EXISTS records_num;
DROP INDEX IF EXISTS records_ref;
DROP INDEX IF EXISTS records_lookup;
)sql";

// Version 3: the indexed values of records move from columns of `records` with SQLite indexes
// to the entries of `record_index` (storage/record_index.h), which a bulk write fills in key
// order. When a record changes, its old entries are computed again from its old body.
constexpr const char* kMigrationV3 = R"sql(
INSERT INTO record_index SELECT 1, idx_text, id FROM records WHERE idx_text IS NOT NULL;
INSERT INTO record_index SELECT 2, idx_num, id FROM records WHERE idx_num IS NOT NULL;
INSERT INTO record_index SELECT 3, idx_ref, id FROM records WHERE idx_ref IS NOT NULL;
INSERT INTO record_index SELECT 4, idx_lookup, id FROM records WHERE idx_lookup IS NOT NULL;
DROP INDEX IF EXISTS records_kana;
DROP INDEX IF EXISTS records_birth;
DROP INDEX IF EXISTS records_household;
DROP INDEX IF EXISTS records_lookup_hash;
ALTER TABLE records DROP COLUMN idx_text;
ALTER TABLE records DROP COLUMN idx_ref;
ALTER TABLE records DROP COLUMN idx_num;
ALTER TABLE records DROP COLUMN idx_lookup;
)sql";

// Version 4: the key index of records (records_key, built by SQLite's sort at the end of a
// first import) becomes the table record_keys (storage/record_index.h), which a bulk write fills
// in key order.
constexpr const char* kMigrationV4 = R"sql(
INSERT INTO record_keys(entity, key, record) SELECT entity, key, id FROM records
  ORDER BY entity, key;
DROP INDEX IF EXISTS records_key;
)sql";

// Version 5: record bodies may be stored compressed against a dictionary (storage/record_codec.h);
// the dictionaries are kept here, never changed.
constexpr const char* kMigrationV5 = R"sql(
CREATE TABLE record_dicts(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
)sql";

// Version 6: each record dictionary carries the SHA-256 of its bytes, checked when it is loaded:
// a damaged dictionary would otherwise decode every body compressed against it into wrong text,
// without an error. The digests of dictionaries made before are computed by the migration.
constexpr const char* kMigrationV6 = R"sql(
ALTER TABLE record_dicts ADD COLUMN digest BLOB;
)sql";

// Version 8: each stream keeps the signature of its last block, which a sync's Hello sends as the
// stream's tip (sync/session.h); before, each Hello read the last block of every stream (up to
// 1 MiB each) to take it. Filled from the blocks held.
constexpr const char* kMigrationV8 = R"sql(
ALTER TABLE streams ADD COLUMN tip BLOB;
UPDATE streams SET tip = (SELECT substr(b.data, -64) FROM blocks b
  WHERE b.stream = streams.id AND b.last_seq = streams.last_seq ORDER BY b.first_seq LIMIT 1);
)sql";

// A store's first record dictionary is made from this many record bodies: a bulk write's first
// batch, or the latest ones of a store that has come to hold this many by ordinary writes.
constexpr size_t kDictionarySamples = 1024;

// The error for the stored body of record KEY that does not decode.
Status DamagedBody(std::string_view key, const Status& why) {
  return Status::Corruption(fmt::format("record {}: {}", key, why.message()));
}

// SQL function record_body(stored[, key]): the body a stored record body holds. A body that cannot
// be decoded is an error (SQLITE_CORRUPT) that names the record when given its key.
void RecordBodyFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  auto* codec = static_cast<RecordCodec*>(sqlite3_user_data(ctx));
  const int size = sqlite3_value_bytes(argv[0]);
  std::string_view stored(static_cast<const char*>(sqlite3_value_blob(argv[0])), size_t(size));
  std::string buffer;
  Result<std::string_view> body = codec->Decode(stored, buffer);
  if (!body.ok()) {
    std::string message =
        argc > 1
            ? DamagedBody(reinterpret_cast<const char*>(sqlite3_value_text(argv[1])), body.status())
                  .message()
            : body.status().message();
    sqlite3_result_error(ctx, message.c_str(), -1);
    sqlite3_result_error_code(ctx, SQLITE_CORRUPT);
  } else if (body->data() == stored.data()) {
    sqlite3_result_value(ctx, argv[0]);
  } else {
    sqlite3_result_blob64(ctx, body->data(), body->size(), SQLITE_TRANSIENT);
  }
}

std::string ConflictId(uint32_t entity, std::string_view key, uint32_t field,
                       std::string_view incarnation, uint64_t seq) {
  Sha256 h;
  h.UpdateInt(entity);
  h.UpdateField(key);
  h.UpdateInt(field);
  h.UpdateField(incarnation);
  h.UpdateInt(seq);
  return ToHex(h.Final()).substr(0, 16);
}

// Binds without a copy: `v` must outlive the statement's run.
void BindOptText(Stmt& s, int i, const std::optional<std::string>& v) {
  if (v) {
    s.BindTextView(i, *v);
  } else {
    s.BindNull(i);
  }
}

// Records a bootstrap builds on another thread at a time.
constexpr size_t kBuildChunk = 4096;

// The length of the prefix that a and b share, up to `limit`.
size_t CommonPrefix(std::string_view a, std::string_view b, size_t limit) {
  limit = std::min({limit, a.size(), b.size()});
  return size_t(std::mismatch(a.begin(), a.begin() + ptrdiff_t(limit), b.begin()).first -
                a.begin());
}

// Splits an encoded v1::OpBatch into its peers and its encoded ops, without parsing the ops.
Status SplitBatch(std::string_view raw, std::vector<std::string>& peers,
                  std::vector<std::string_view>& ops) {
  WireReader reader(raw);
  for (WireField f; reader.Next(f);) {
    if (f.wire_type != 2) continue;
    if (f.number == v1::OpBatch::kPeersFieldNumber) peers.emplace_back(f.bytes);
    if (f.number == v1::OpBatch::kOpsFieldNumber) ops.push_back(f.bytes);
  }
  if (!reader.error().empty()) return Status::Corruption("block: payload does not parse");
  return Status::Ok();
}

// An op read from its encoding without parsing it into a message: what a bootstrap sorts it
// by, and, for an op that only sets fields (most of them), all that its merge needs.
struct OpHead {
  uint32_t entity = 0;
  std::string_view key;
  uint64_t hlc = 0;
  bool event = false;      // kind OP_KIND_EVENT
  bool register_ = false;  // source OP_SOURCE_REGISTER
  bool writes = false;     // has writes with causal contexts
  std::string_view set;
};
Result<OpHead> ReadOpHead(std::string_view op) {
  OpHead head;
  WireReader reader(op);
  for (WireField f; reader.Next(f);) {
    const bool varint = f.wire_type == 0, bytes = f.wire_type == 2;
    switch (f.number) {
      case v1::Op::kEntityFieldNumber:
        if (varint) head.entity = uint32_t(f.varint);
        break;
      case v1::Op::kKeyFieldNumber:
        if (bytes) head.key = f.bytes;
        break;
      case v1::Op::kHlcFieldNumber:
        if (varint) head.hlc = f.varint;
        break;
      case v1::Op::kKindFieldNumber:
        if (varint) head.event = f.varint == v1::OP_KIND_EVENT;
        break;
      case v1::Op::kWritesFieldNumber:
        head.writes = true;
        break;
      case v1::Op::kSourceFieldNumber:
        if (varint) head.register_ = f.varint == v1::OP_SOURCE_REGISTER;
        break;
      case v1::Op::kSetFieldNumber:
        if (bytes) head.set = f.bytes;
        break;
      default:
        break;
    }
  }
  if (!reader.error().empty()) return Status::Corruption("block: an op does not parse");
  return head;
}

// The first column of the first row, if there is a row.
Result<std::optional<std::string>> FirstValue(Stmt& s) {
  std::optional<std::string> out;
  if (s.Step()) out = std::string(s.Blob(0));
  Status st = s.status();
  s.Reset();
  if (!st.ok()) return st;
  return out;
}

}  // namespace

std::string Identity::incarnation() const { return Incarnation(node_id, epoch); }

Store::Store(Options options)
    : options_(std::move(options)),
      codec_([this](uint32_t id) { return LoadDictionaryBytes(id); }),
      hlc_(options_.clock) {}

Store::~Store() {
  if (writing_) AbortWrite();
  UnlockBootstrap();
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, Options options) {
  InitCrypto();
  std::unique_ptr<Store> store(new Store(std::move(options)));
  store->path_ = path;
  BOSAI_ASSIGN_OR_RETURN(
      store->db_, Db::Open(path, store->options_.read_only, store->options_.alone_if_disk_full));
  const bool read_only = store->db_->read_only();
  for (int args : {1, 2}) {
    if (sqlite3_create_function_v2(store->db_->raw(), "record_body", args,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC, &store->codec_,
                                   RecordBodyFunction, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return store->db_->Error("cannot register record_body");
    }
  }
  BOSAI_RETURN_IF_ERROR(store->Migrate());
  BOSAI_ASSIGN_OR_RETURN(std::optional<uint64_t> hw, store->GetMetaNumber("hlc"));
  if (hw) store->hlc_.Observe(*hw);
  // A bootstrap whose process is gone (a crash, a kill) is finished by whoever opens the store.
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> bootstrap, store->GetMeta("bootstrap"));
  if (bootstrap && !read_only && store->LockBootstrap()) {
    BOSAI_RETURN_IF_ERROR(store->EndBootstrap());
    bootstrap.reset();
  }
  // (A bootstrap still running elsewhere builds its index with its own indexer.)
  if (!bootstrap && !read_only) BOSAI_RETURN_IF_ERROR(store->RefreshIndex());
  return store;
}

Status Store::RefreshIndex() {
  if (!options_.indexer) return Status::Ok();
  BOSAI_ASSIGN_OR_RETURN(std::optional<uint64_t> held, IndexedByIfIntact());
  if (held == options_.indexer_version) return Status::Ok();
  Transaction txn(*db_);
  BOSAI_RETURN_IF_ERROR(txn.Begin());
  BOSAI_ASSIGN_OR_RETURN(held, IndexedByIfIntact());
  if (held == options_.indexer_version) return Status::Ok();  // another process has made it
  BOSAI_ASSIGN_OR_RETURN(Stmt has_records, db_->PrepareOnce("SELECT 1 FROM records LIMIT 1"));
  const bool any = has_records.Step();
  BOSAI_RETURN_IF_ERROR(has_records.status());
  has_records.Reset();
  if (any) {
    // A record whose body cannot be read gets no entries: doctor names it.
    BOSAI_RETURN_IF_ERROR(db_->Exec("DELETE FROM record_index"));
    IndexBuilder builder(options_.index_build_bytes);
    std::vector<std::pair<int64_t, std::optional<std::string>>> names;  // changed folded names
    BOSAI_ASSIGN_OR_RETURN(
        Stmt s, db_->PrepareOnce("SELECT id, entity, key, body, idx_text2 FROM records"));
    std::string buffer;
    while (s.Step()) {
      Result<std::string_view> body = DecodeBody(s.Text(2), s.Blob(3), buffer);
      if (!body.ok()) continue;
      IndexColumns ix = options_.indexer(uint32_t(s.Int(1)), *body);
      std::optional<std::string_view> name;
      if (!s.IsNull(4)) name = s.Text(4);
      if (ix.text2 != name) names.emplace_back(s.Int(0), ix.text2);
      BOSAI_RETURN_IF_ERROR(builder.Add(s.Int(0), ix));
    }
    BOSAI_RETURN_IF_ERROR(s.status());
    for (const auto& [id, name] : names) {
      Stmt& u = db_->Prepare("UPDATE records SET idx_text2 = ? WHERE id = ?");
      BindOptText(u, 1, name);
      BOSAI_RETURN_IF_ERROR(u.Bind(2, id).Run());
    }
    BOSAI_RETURN_IF_ERROR(builder.Finish(*db_));
  }
  BOSAI_RETURN_IF_ERROR(SetMeta(kIndexedByMeta, std::to_string(options_.indexer_version)));
  return txn.Commit();
}

int64_t Store::ClockLagMillis() const {
  return std::max<int64_t>(0, HlcMillis(hlc_.high_water()) - options_.clock->NowMillis());
}

Status Store::Migrate() {
  Stmt& v = db_->Prepare("PRAGMA user_version");
  v.Step();
  int64_t version = v.Int(0);
  v.Reset();
  if (version > kSchemaVersion) {
    return Status::Invalid(
        fmt::format("database schema version {} is newer than this bosai ({}): upgrade bosai",
                    version, kSchemaVersion));
  }
  if (version < kSchemaVersion && db_->read_only()) {
    return Status::Invalid(fmt::format(
        "database schema version {} is older than this bosai's ({}), and the store is open "
        "read-only{}: open it once where it can be written, to upgrade it",
        version, kSchemaVersion, db_->disk_full() ? " (the disk that holds it is full)" : ""));
  }
  if (version < kSchemaVersion) {
    Transaction txn(*db_);
    BOSAI_RETURN_IF_ERROR(txn.Begin());
    Stmt& again = db_->Prepare("PRAGMA user_version");  // another process may have migrated
    again.Step();
    version = again.Int(0);
    again.Reset();
    if (version < 1) BOSAI_RETURN_IF_ERROR(db_->Exec(kSchemaV1));
    if (version < 2) BOSAI_RETURN_IF_ERROR(db_->Exec(kMigrationV2));
    if (version < 3) {
      BOSAI_RETURN_IF_ERROR(db_->Exec(kRecordIndexTable));
      BOSAI_RETURN_IF_ERROR(db_->Exec(kMigrationV3));
    }
    if (version < 4) {
      BOSAI_RETURN_IF_ERROR(db_->Exec(kRecordKeysTable));
      BOSAI_RETURN_IF_ERROR(db_->Exec(kMigrationV4));
      BOSAI_RETURN_IF_ERROR(db_->Exec(kRecordKeysTrigger));
    }
    if (version < 5) BOSAI_RETURN_IF_ERROR(db_->Exec(kMigrationV5));
    if (version < 6) {
      BOSAI_RETURN_IF_ERROR(db_->Exec(kMigrationV6));
      std::vector<std::pair<int64_t, std::string>> dicts;
      Stmt& q = db_->Prepare("SELECT id, data FROM record_dicts");
      while (q.Step()) dicts.emplace_back(q.Int(0), std::string(q.Blob(1)));
      BOSAI_RETURN_IF_ERROR(q.status());
      q.Reset();
      for (const auto& [id, data] : dicts) {
        Stmt& u = db_->Prepare("UPDATE record_dicts SET digest = ? WHERE id = ?");
        BOSAI_RETURN_IF_ERROR(u.BindBlob(1, Sha256Of(data)).Bind(2, id).Run());
      }
    }
    if (version < 7) {
      // A reference's entry holds RefValue(key), not the key's text (storage/record_index.h).
      std::vector<std::pair<std::string, int64_t>> refs;
      Stmt& q = db_->Prepare("SELECT value, record FROM record_index WHERE kind = ?");
      q.Bind(1, int64_t(IndexKind::kRef));
      while (q.Step()) refs.emplace_back(std::string(q.Text(0)), q.Int(1));
      BOSAI_RETURN_IF_ERROR(q.status());
      q.Reset();
      Stmt& d = db_->Prepare("DELETE FROM record_index WHERE kind = ?");
      BOSAI_RETURN_IF_ERROR(d.Bind(1, int64_t(IndexKind::kRef)).Run());
      for (const auto& [key, record] : refs) {
        Stmt& i = db_->Prepare("INSERT OR IGNORE INTO record_index VALUES(?, ?, ?)");
        i.Bind(1, int64_t(IndexKind::kRef)).Bind(2, RefValue(key)).Bind(3, record);
        BOSAI_RETURN_IF_ERROR(i.Run());
      }
    }
    if (version < 8) BOSAI_RETURN_IF_ERROR(db_->Exec(kMigrationV8));
    BOSAI_RETURN_IF_ERROR(db_->Exec(fmt::format("PRAGMA user_version={}", kSchemaVersion)));
    return txn.Commit();
  }
  return Status::Ok();
}

Status Store::SetIdentity(Identity identity) {
  std::string inc = identity.incarnation();
  auto pk = PublicKey(inc);
  if (!pk.ok()) return pk.status();
  if (!*pk) {
    // Only the first time: a command that only reads must not wait for a writer's lock.
    Stmt& s = db_->Prepare("INSERT OR IGNORE INTO incarnations(name, public_key) VALUES(?, ?)");
    s.Bind(1, inc).BindBlob(2, identity.key.public_key());
    BOSAI_RETURN_IF_ERROR(s.Run());
    pk = PublicKey(inc);
  }
  if (!pk.ok()) return pk.status();
  if (*pk != identity.key.public_key()) {
    return Status::Corruption(fmt::format("incarnation {} is recorded with another key", inc));
  }
  identity_ = std::move(identity);
  return Status::Ok();
}

Result<std::optional<std::string>> Store::GetMeta(std::string_view key) {
  Stmt& s = db_->Prepare("SELECT v FROM meta WHERE k = ?");
  s.Bind(1, key);
  return FirstValue(s);
}

Result<std::optional<uint64_t>> Store::GetMetaNumber(std::string_view key) {
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> text, GetMeta(key));
  if (!text) return std::optional<uint64_t>();
  std::optional<uint64_t> v = DecimalNumber(*text);
  if (!v) {
    return Status::Corruption(
        fmt::format("{}: meta {} is damaged: \"{}\" is not a number", path_, key, *text));
  }
  return v;
}

Result<std::optional<uint64_t>> Store::IndexedBy() { return GetMetaNumber(kIndexedByMeta); }

Result<std::optional<uint64_t>> Store::IndexedByIfIntact() {
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> text, GetMeta(kIndexedByMeta));
  return text ? DecimalNumber(*text) : std::nullopt;  // a damaged value names no indexer
}

Status Store::SetMeta(std::string_view key, std::string_view value) {
  Stmt& s = db_->Prepare("INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)");
  s.Bind(1, key).Bind(2, value);
  return s.Run();
}

Result<std::optional<std::string>> Store::PublicKey(const std::string& incarnation) {
  Stmt& s = db_->Prepare("SELECT public_key FROM incarnations WHERE name = ?");
  s.Bind(1, incarnation);
  return FirstValue(s);
}

std::string PutBackMessage(std::string_view who, bool self, std::string_view evidence) {
  return fmt::format(
      "{} wrote again after its data dir was put back from an older copy (a restored snapshot or "
      "backup) or copied to another computer: {}. Its writes since the copy took numbers its "
      "peers hold for other writes, {}: make {} node again under a new node id from a peer, and "
      "enter again what was written {} since the copy",
      who, evidence, self ? "and cannot reach them" : "and are refused", self ? "this" : "that",
      self ? "here" : "there");
}

Result<bool> Store::HoldsBlock(const StreamId& stream, uint64_t last_seq,
                               std::string_view signature) {
  if (last_seq == 0) return false;
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> held, NextBlock(stream, last_seq - 1));
  if (!held) return false;
  BOSAI_ASSIGN_OR_RETURN(BlockHeader h, ParseBlockHeader(*held));
  return h.last_seq() == last_seq && !signature.empty() &&
         BlockSignature(*held).starts_with(signature);
}

Result<std::optional<std::string>> Store::IncarnationWithOtherKey(const std::string& node_id,
                                                                  const std::string& public_key) {
  // Incarnation names are "NODE_ID#epoch": the range from "NODE_ID#" up to "NODE_ID$".
  Stmt& s = db_->Prepare(
      "SELECT name FROM incarnations WHERE name >= ? AND name < ? AND public_key != ? LIMIT 1");
  s.Bind(1, node_id + "#").Bind(2, node_id + "$").BindBlob(3, public_key);
  return FirstValue(s);
}

// ---------------------------------------------------------------------------------------------
// Streams

Status Store::LoadStreams() {
  streams_.clear();
  stream_index_.clear();
  streams_.push_back({});  // ids start at 1
  Stmt& s = db_->Prepare("SELECT id, incarnation, scope, last_seq FROM streams ORDER BY id");
  while (s.Step()) {
    auto id = static_cast<uint32_t>(s.Int(0));
    if (streams_.size() <= id) streams_.resize(id + 1);
    streams_[id] = {{std::string(s.Text(1)), std::string(s.Text(2))}, uint64_t(s.Int(3))};
    stream_index_[streams_[id].id] = id;
  }
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  return Status::Ok();
}

Result<uint32_t> Store::StreamFor(const std::string& incarnation, const std::string& scope) {
  StreamId sid{incarnation, scope};
  auto it = stream_index_.find(sid);
  if (it != stream_index_.end()) return it->second;
  Stmt& s = db_->Prepare("INSERT INTO streams(incarnation, scope, last_seq) VALUES(?, ?, 0)");
  s.Bind(1, incarnation).Bind(2, scope);
  BOSAI_RETURN_IF_ERROR(s.Run());
  auto id = static_cast<uint32_t>(db_->LastInsertRowid());
  if (streams_.size() <= id) streams_.resize(id + 1);
  streams_[id] = {sid, 0};
  stream_index_[sid] = id;
  return id;
}

bool Store::Newer(const Stamp& a, const Stamp& b) const {
  if (a.hlc != b.hlc) return a.hlc > b.hlc;
  const std::string& ia = streams_[a.stream].id.incarnation;
  const std::string& ib = streams_[b.stream].id.incarnation;
  if (ia != ib) return ia > ib;
  return a.seq > b.seq;  // same incarnation: a later op of the same writer
}

// ---------------------------------------------------------------------------------------------
// Materialized records

Result<Store::Record> Store::LoadRecord(uint32_t entity, std::string_view key) {
  if (bulk_) return Status::Invalid("records cannot be read during a bulk import");
  Record rec;
  rec.entity = entity;
  rec.key = std::string(key);
  // In a run, the record is first looked for among the few rows after the last one read: a
  // scan of row ids on pages just read, where a look-up of the key is a search of its index.
  ReadRun& run = read_runs_[entity];
  bool found = false;
  Stmt* read = nullptr;
  if (run.streak >= 2) {
    read = &db_->Prepare(
        "SELECT body, clock, id FROM records WHERE id > ? AND id <= ? AND entity = ? AND key = ?");
    read->Bind(1, run.last).Bind(2, run.last + kRunWindow).Bind(3, entity).Bind(4, key);
    found = read->Step();
    if (!found) {
      BOSAI_RETURN_IF_ERROR(read->status());
      read->Reset();
    }
  }
  if (!found) {
    read = &db_->Prepare(
        "SELECT r.body, r.clock, r.id FROM record_keys k JOIN records r ON r.id = k.record "
        "WHERE k.entity = ? AND k.key = ?");
    read->Bind(1, entity).Bind(2, key);
    found = read->Step();
  }
  Stmt& s = *read;
  if (found) {
    const int64_t id = s.Int(2);
    run.streak = id > run.last && id <= run.last + kRunWindow ? run.streak + 1 : 0;
    run.last = id;
    rec.exists = true;
    rec.rowid = id;
    Result<std::string_view> decoded = DecodeBody(key, s.Blob(0), rec.stored_body);
    if (!decoded.ok()) {
      s.Reset();
      return decoded.status();
    }
    if (decoded->data() != rec.stored_body.data()) rec.stored_body = std::string(*decoded);
    auto body = SplitFields(rec.stored_body);
    thread_local StoredClock clock;
    if (!body.ok() || !DecodeClock(s.Blob(1), &clock).ok()) {
      s.Reset();
      return Status::Corruption(fmt::format("record {} is damaged", key));
    }
    rec.body = std::move(body).value();
    for (const auto& [field, bytes] : rec.body) rec.stamps[field] = clock.stamps[0];
    for (const auto& [field, index] : clock.fields) rec.stamps[field] = clock.stamps[index];
    rec.siblings = clock.siblings;
  }
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  return rec;
}

Store::RecordRow Store::EncodeRecord(const Record& rec) const {
  return EncodeRow(rec.entity, JoinFields(rec.body), rec.stamps, rec.siblings, &rec.body);
}

Store::RecordRow Store::EncodeRow(uint32_t entity, std::string body,
                                  const FlatMap<uint32_t, Stamp>& field_stamps, uint32_t siblings,
                                  const FieldMap* fields) const {
  auto in_body = [fields](uint32_t field) { return !fields || fields->count(field) != 0; };
  // The stamp most fields share becomes stamps[0], so a record written by one op stores one stamp.
  // A bootstrap's threads encode a million records: each reuses its buffers.
  thread_local StoredClock clock;
  thread_local std::vector<int> uses;
  std::vector<Stamp>& stamps = clock.stamps;
  stamps.clear();
  clock.fields.clear();
  uses.clear();
  auto index_of = [&](const Stamp& st) -> uint32_t {
    for (size_t i = 0; i < stamps.size(); ++i) {
      if (stamps[i] == st) return uint32_t(i);
    }
    stamps.push_back(st);
    uses.push_back(0);
    return uint32_t(stamps.size() - 1);
  };
  for (const auto& [field, st] : field_stamps) {
    uint32_t i = index_of(st);
    if (in_body(field)) uses[i]++;
  }
  size_t top = std::max_element(uses.begin(), uses.end()) - uses.begin();
  if (top != 0) {
    std::swap(stamps[0], stamps[top]);
    std::swap(uses[0], uses[top]);
  }
  for (const auto& [field, st] : field_stamps) {
    uint32_t i = index_of(st);
    if (i != 0 || !in_body(field)) clock.fields.emplace_back(field, i);
  }
  clock.siblings = siblings;

  RecordRow row;
  row.body = std::move(body);
  EncodeClock(clock, &row.clock);
  if (options_.indexer) row.index = options_.indexer(entity, row.body);
  return row;
}

Status Store::InsertRecord(const Record& rec, RecordRow row) {
  const bool update = rec.rowid != 0;
  if (bulk_ && !update) {
    BuiltRecord& b = bulk_rows_.emplace_back();
    b.id = bulk_next_id_++;
    b.rec.entity = rec.entity;
    b.rec.key = rec.key;
    b.row = std::move(row);
    BOSAI_RETURN_IF_ERROR(index_builder_->Add(b.id, b.row.index));
    BOSAI_RETURN_IF_ERROR(index_builder_->AddKey(rec.entity, rec.key, b.id));
    return bulk_rows_.size() < kBulkRowsPerFlush ? Status::Ok() : FlushBulkRows();
  }
  Stmt& s =
      db_->Prepare(update ? "UPDATE records SET body = ?, clock = ?, idx_text2 = ? WHERE id = ?"
                          : "INSERT INTO records(body, clock, idx_text2, entity, key) "
                            "VALUES(?, ?, ?, ?, ?)");
  CompressBody(row.body);
  s.BindBlobView(1, row.body).BindBlobView(2, row.clock);  // row outlives the statement
  BindOptText(s, 3, row.index.text2);
  if (update) {
    s.Bind(4, rec.rowid);
  } else {
    s.Bind(4, rec.entity).Bind(5, rec.key);
  }
  BOSAI_RETURN_IF_ERROR(s.Run());
  if (update) {
    IndexColumns before;
    if (options_.indexer) before = options_.indexer(rec.entity, rec.stored_body);
    return UpdateIndexEntries(*db_, rec.rowid, before, row.index);
  }
  int64_t rowid = db_->LastInsertRowid();
  if (index_builder_) {  // a bootstrap's (MaterializeAll)
    BOSAI_RETURN_IF_ERROR(index_builder_->Add(rowid, row.index));
    return index_builder_->AddKey(rec.entity, rec.key, rowid);
  }
  return UpdateIndexEntries(*db_, rowid, {}, row.index);
}

Status Store::SaveRecord(const Record& rec) {
  if (rec.stamps.empty()) return Status::Corruption(fmt::format("record {} has no field", rec.key));
  return InsertRecord(rec, EncodeRecord(rec));
}

Result<int64_t> Store::NextRecordId() {
  Stmt& s = db_->Prepare("SELECT coalesce(max(id), 0) + 1 FROM records");
  int64_t id = s.Step() ? s.Int(0) : 1;
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  return id;
}

Status Store::FlushBulkRows() {
  Status st = InsertRecords(bulk_rows_);
  bulk_rows_.clear();
  return st;
}

Status Store::LoadDictionary() {
  compressing_ = nullptr;
  Stmt& s = db_->Prepare("SELECT max(id) FROM record_dicts");
  const bool some = s.Step() && !s.IsNull(0);
  const int64_t id = some ? s.Int(0) : 0;
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  if (some) {
    if (id <= 0 || id > UINT32_MAX) {
      return Status::Corruption(fmt::format("record dictionary id {} is invalid", id));
    }
    BOSAI_ASSIGN_OR_RETURN(compressing_, codec_.Dictionary(uint32_t(id)));
    return Status::Ok();
  }
  // None yet: a store that has come to hold enough records by ordinary writes (a small first
  // import, batches of a re-import, sync) makes it from its latest bodies.
  BOSAI_ASSIGN_OR_RETURN(int64_t next_id, NextRecordId());
  if (next_id <= int64_t(kDictionarySamples)) return Status::Ok();  // ids start at 1: too few
  Stmt& latest = db_->Prepare("SELECT body FROM records ORDER BY id DESC LIMIT ?");
  latest.Bind(1, int64_t(kDictionarySamples));
  std::vector<std::string> bodies;
  while (latest.Step()) bodies.emplace_back(latest.Blob(0));
  BOSAI_RETURN_IF_ERROR(latest.status());
  latest.Reset();
  if (bodies.size() < kDictionarySamples) return Status::Ok();
  return MakeDictionary({bodies.rbegin(), bodies.rend()});
}

Status Store::MakeDictionary(const std::vector<std::string_view>& samples) {
  Stmt& s = db_->Prepare("INSERT INTO record_dicts(data, digest) VALUES(?, ?)");
  const std::string data = MakeDictionaryBytes(samples);
  s.BindBlobView(1, data).BindBlob(2, Sha256Of(data));
  BOSAI_RETURN_IF_ERROR(s.Run());
  return LoadDictionary();
}

Result<std::string_view> Store::DecodeBody(std::string_view key, std::string_view stored,
                                           std::string& buffer) {
  Result<std::string_view> body = codec_.Decode(stored, buffer);
  if (!body.ok()) return DamagedBody(key, body.status());
  return body;
}

Result<std::optional<std::string>> Store::LoadDictionaryBytes(uint32_t id) {
  Stmt& s = db_->Prepare("SELECT data, digest FROM record_dicts WHERE id = ?");
  s.Bind(1, int64_t(id));
  std::optional<std::string> data;
  bool intact = true;
  if (s.Step()) {
    data = std::string(s.Blob(0));
    intact = Sha256Of(*data) == s.Blob(1);
  }
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  if (!intact) {
    return Status::Corruption(
        fmt::format("record dictionary {} is damaged (its bytes do not match their digest)", id));
  }
  return data;
}

Status Store::InsertRecords(std::vector<BuiltRecord>& built, bool with_keys) {
  constexpr size_t kRowsPerInsert = 64;
  // One statement per kRowsPerInsert rows of `insert` (a statement for one row), then one per row.
  // `built` outlives each statement: its bytes are bound, not copied.
  std::vector<const BuiltRecord*> rows;
  for (const BuiltRecord& b : built) {
    if (b.id != 0) rows.push_back(&b);
  }
  if (!compressing_ && rows.size() >= kDictionarySamples) {
    std::vector<std::string_view> samples;
    samples.reserve(rows.size());
    for (const BuiltRecord* b : rows) samples.push_back(b->row.body);
    BOSAI_RETURN_IF_ERROR(MakeDictionary(samples));
  }
  for (BuiltRecord& b : built) {
    if (b.id != 0) CompressBody(b.row.body);
  }
  auto insert_all = [&](const char* insert, const std::string& many, int cols,
                        auto bind) -> Status {
    size_t i = 0;
    for (; i + kRowsPerInsert <= rows.size(); i += kRowsPerInsert) {
      Stmt& s = db_->Prepare(many);
      for (size_t j = 0; j < kRowsPerInsert; ++j) bind(s, int(cols * j + 1), *rows[i + j]);
      BOSAI_RETURN_IF_ERROR(s.Run());
    }
    for (; i < rows.size(); ++i) {
      Stmt& s = db_->Prepare(insert);
      bind(s, 1, *rows[i]);
      BOSAI_RETURN_IF_ERROR(s.Run());
    }
    return Status::Ok();
  };
  auto repeated = [](const char* insert, const char* values) {
    std::string sql = insert;
    for (size_t i = 1; i < kRowsPerInsert; ++i) sql += values;
    return sql;
  };
  constexpr const char* kInsert =
      "INSERT INTO records(id, entity, key, body, clock, idx_text2) VALUES(?, ?, ?, ?, ?, ?)";
  static const std::string many = repeated(kInsert, ",(?, ?, ?, ?, ?, ?)");
  BOSAI_RETURN_IF_ERROR(insert_all(kInsert, many, 6, [](Stmt& s, int col, const BuiltRecord& b) {
    s.Bind(col, b.id).Bind(col + 1, b.rec.entity).BindTextView(col + 2, b.rec.key);
    s.BindBlobView(col + 3, b.row.body).BindBlobView(col + 4, b.row.clock);
    BindOptText(s, col + 5, b.row.index.text2);
  }));
  if (!with_keys) return Status::Ok();
  constexpr const char* kInsertKey = "INSERT INTO record_keys(entity, key, record) VALUES(?, ?, ?)";
  static const std::string many_keys = repeated(kInsertKey, ",(?, ?, ?)");
  return insert_all(kInsertKey, many_keys, 3, [](Stmt& s, int col, const BuiltRecord& b) {
    s.Bind(col, b.rec.entity).BindTextView(col + 1, b.rec.key).Bind(col + 2, b.id);
  });
}

Result<std::vector<Store::Sibling>> Store::LoadSiblings(const Record& rec, uint32_t field) {
  std::vector<Sibling> out;
  if (rec.siblings == 0) return out;
  Stmt& s = db_->Prepare(
      "SELECT stream, seq, hlc, reg, value FROM siblings WHERE entity = ? AND key = ? AND field = "
      "?");
  s.Bind(1, rec.entity).Bind(2, rec.key).Bind(3, field);
  while (s.Step()) {
    out.push_back({{uint32_t(s.Int(0)), uint64_t(s.Int(1)), uint64_t(s.Int(2)), s.Int(3) != 0},
                   std::string(s.Blob(4))});
  }
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  return out;
}

Status Store::Materialize(uint32_t stream, uint64_t seq, const v1::Op& op,
                          const std::vector<uint32_t>& peer_streams) {
  if (op.kind() == v1::OP_KIND_EVENT) {
    Stmt& s = db_->Prepare(
        "INSERT OR IGNORE INTO events(stream, seq, entity, key, hlc, body) VALUES(?, ?, ?, ?, ?, "
        "?)");
    s.Bind(1, stream).Bind(2, int64_t(seq)).Bind(3, op.entity()).Bind(4, op.key());
    s.Bind(5, int64_t(op.hlc())).BindBlob(6, op.event());
    return s.Run();
  }
  BOSAI_ASSIGN_OR_RETURN(Record rec, LoadRecord(op.entity(), op.key()));
  BOSAI_RETURN_IF_ERROR(ApplyOp(rec, stream, seq, op, peer_streams));
  return rec.exists ? SaveRecord(rec) : Status::Ok();
}

Status Store::ApplyOp(Record& rec, uint32_t stream, uint64_t seq, const v1::Op& op,
                      const std::vector<uint32_t>& peer_streams, bool off_thread) {
  Stamp stamp{stream, seq, op.hlc(), op.source() == v1::OP_SOURCE_REGISTER};
  if (op.set().empty() && op.writes_size() == 0) return Status::Ok();  // writes nothing
  if (!op.set().empty()) {
    BOSAI_RETURN_IF_ERROR(ApplySet(rec, stamp, op.set(), peer_streams, off_thread));
  }
  for (const auto& w : op.writes()) {
    if (w.context_peer_size() != w.context_seq_size()) {
      return Status::Corruption(fmt::format("op on {}: malformed causal context", op.key()));
    }
    BOSAI_RETURN_IF_ERROR(ApplyFieldWrite(rec, stamp, w.field(), w.value(), &w.context_peer(),
                                          &w.context_seq(), peer_streams, off_thread));
  }
  rec.exists = true;
  return Status::Ok();
}

Status Store::ApplySet(Record& rec, const Stamp& stamp, std::string_view set,
                       const std::vector<uint32_t>& peer_streams, bool off_thread) {
  auto fields = SplitFields(set);
  if (!fields.ok()) return Status::Corruption(fmt::format("op on {}: malformed fields", rec.key));
  if (rec.stamps.empty() && (off_thread || superseded_rows_ == 0)) {
    // A new record: every field is simply set (what ApplyFieldWrite would conclude).
    for (const auto& [field, value] : *fields) rec.stamps[field] = stamp;
    rec.body = std::move(fields).value();
    for (auto it = rec.body.begin(); it != rec.body.end();) {
      it = it->second.empty() ? rec.body.erase(it) : std::next(it);
    }
  } else {
    for (const auto& [field, value] : *fields) {
      BOSAI_RETURN_IF_ERROR(
          ApplyFieldWrite(rec, stamp, field, value, nullptr, nullptr, peer_streams, off_thread));
    }
  }
  rec.exists = true;
  return Status::Ok();
}

// The field keeps every write no applied write has named (its live values); the newest by
// (hlc, incarnation) is shown and the rest are siblings. A named dot not yet applied is
// remembered in `superseded`, so that it is dead on arrival.
Status Store::ApplyFieldWrite(Record& rec, const Stamp& stamp, uint32_t f, std::string_view value,
                              const google::protobuf::RepeatedField<uint32_t>* context_peer,
                              const google::protobuf::RepeatedField<uint64_t>* context_seq,
                              const std::vector<uint32_t>& peer_streams, bool off_thread) {
  // A write that an applied write already named is dead on arrival; its own context still counts.
  // (Off the thread, no dot of this record can be pending yet: see ApplyOp.)
  bool dead = false;
  if (!off_thread && superseded_rows_ > 0) {
    Stmt& d = db_->Prepare(
        "DELETE FROM superseded WHERE entity = ? AND key = ? AND field = ? AND stream = ? AND seq "
        "= ?");
    d.Bind(1, rec.entity)
        .Bind(2, rec.key)
        .Bind(3, f)
        .Bind(4, stamp.stream)
        .Bind(5, int64_t(stamp.seq));
    BOSAI_RETURN_IF_ERROR(d.Run());
    if (db_->Changes() > 0) {
      --superseded_rows_;
      dead = true;
    }
  }

  bool shown_named = false;
  auto shown_it = rec.stamps.find(f);
  const int context_size = context_peer ? context_peer->size() : 0;
  for (int i = 0; i < context_size; ++i) {
    if ((*context_peer)[i] >= peer_streams.size())
      return Status::Corruption("context names an unknown peer");
    uint32_t cs = peer_streams[(*context_peer)[i]];
    uint64_t cseq = (*context_seq)[i];
    if (shown_it != rec.stamps.end() && shown_it->second.stream == cs &&
        shown_it->second.seq == cseq) {
      shown_named = true;
      continue;
    }
    if (rec.siblings > 0) {
      Stmt& d = db_->Prepare(
          "DELETE FROM siblings WHERE entity = ? AND key = ? AND field = ? AND stream = ? AND seq "
          "= ?");
      d.Bind(1, rec.entity).Bind(2, rec.key).Bind(3, f).Bind(4, cs).Bind(5, int64_t(cseq));
      BOSAI_RETURN_IF_ERROR(d.Run());
      if (db_->Changes() > 0) {
        --rec.siblings;
        continue;
      }
    }
    if (cseq > streams_[cs].last_seq) {
      if (off_thread) return NeedsTables();
      Stmt& ins = db_->Prepare(
          "INSERT OR IGNORE INTO superseded(entity, key, field, stream, seq) VALUES(?, ?, ?, ?, "
          "?)");
      ins.Bind(1, rec.entity).Bind(2, rec.key).Bind(3, f).Bind(4, cs).Bind(5, int64_t(cseq));
      BOSAI_RETURN_IF_ERROR(ins.Run());
      superseded_rows_ += db_->Changes();
    }
  }

  std::optional<Sibling> shown;
  if (shown_it != rec.stamps.end()) {
    auto v = rec.body.find(f);
    shown = Sibling{shown_it->second, v == rec.body.end() ? std::string() : v->second};
    if (shown_named) {
      // An edit on a node overwrites what the register said: keep the register's value as the
      // base of the next three-way re-import.
      if (shown->stamp.reg && !stamp.reg) {
        if (off_thread) return NeedsTables();
        Stmt& b = db_->Prepare(
            "INSERT OR REPLACE INTO register_base(entity, key, field, value) VALUES(?, ?, ?, ?)");
        b.Bind(1, rec.entity).Bind(2, rec.key).Bind(3, f).BindBlob(4, shown->value);
        BOSAI_RETURN_IF_ERROR(b.Run());
        ++register_base_rows_;
      }
      shown.reset();
    }
  }

  // Choose the winner among the shown value, the siblings and the new write.
  BOSAI_ASSIGN_OR_RETURN(std::vector<Sibling> sibs, LoadSiblings(rec, f));
  Sibling incoming{stamp, std::string(value)};
  const Sibling* winner = dead ? nullptr : &incoming;
  if (shown && (!winner || Newer(shown->stamp, winner->stamp))) winner = &*shown;
  for (const auto& s : sibs) {
    if (!winner || Newer(s.stamp, winner->stamp)) winner = &s;
  }
  if (!winner) {
    // Cannot happen with well-formed histories (whoever killed this write is live), but a
    // field without live values simply has none.
    rec.body.erase(f);
    rec.stamps.erase(f);
    return Status::Ok();
  }

  auto add_sibling = [&](const Sibling& s) -> Status {
    if (off_thread) return NeedsTables();
    const StreamInfo& info = streams_[s.stamp.stream];
    Stmt& ins = db_->Prepare(
        "INSERT OR IGNORE INTO siblings(entity, key, field, stream, seq, hlc, reg, value, id) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.Bind(1, rec.entity).Bind(2, rec.key).Bind(3, f).Bind(4, s.stamp.stream);
    ins.Bind(5, int64_t(s.stamp.seq)).Bind(6, int64_t(s.stamp.hlc)).Bind(7, s.stamp.reg ? 1 : 0);
    ins.BindBlob(8, s.value)
        .Bind(9, ConflictId(rec.entity, rec.key, f, info.id.incarnation, s.stamp.seq));
    BOSAI_RETURN_IF_ERROR(ins.Run());
    rec.siblings += uint32_t(db_->Changes());
    return Status::Ok();
  };
  if (!dead && winner != &incoming) BOSAI_RETURN_IF_ERROR(add_sibling(incoming));
  if (shown && winner != &*shown) BOSAI_RETURN_IF_ERROR(add_sibling(*shown));
  bool winner_was_sibling = winner != &incoming && !(shown && winner == &*shown);
  if (winner_was_sibling) {
    Stmt& d = db_->Prepare(
        "DELETE FROM siblings WHERE entity = ? AND key = ? AND field = ? AND stream = ? AND seq = "
        "?");
    d.Bind(1, rec.entity).Bind(2, rec.key).Bind(3, f).Bind(4, winner->stamp.stream);
    d.Bind(5, int64_t(winner->stamp.seq));
    BOSAI_RETURN_IF_ERROR(d.Run());
    rec.siblings -= uint32_t(db_->Changes());
  }

  Sibling win = *winner;  // copy: winner may point into sibs or shown
  rec.stamps[f] = win.stamp;
  if (win.value.empty()) {
    rec.body.erase(f);
  } else {
    rec.body[f] = std::move(win.value);
  }
  if (!off_thread && win.stamp == stamp && stamp.reg && register_base_rows_ > 0) {
    Stmt& d = db_->Prepare("DELETE FROM register_base WHERE entity = ? AND key = ? AND field = ?");
    d.Bind(1, rec.entity).Bind(2, rec.key).Bind(3, f);
    BOSAI_RETURN_IF_ERROR(d.Run());
    register_base_rows_ -= db_->Changes();
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Writing

Status Store::BeginWrite(std::string author) {
  if (writing_) return Status::Invalid("a write is already open");
  BOSAI_RETURN_IF_ERROR(db_->Begin());
  writing_ = true;
  author_ = std::move(author);
  pending_.clear();
  encoding_.clear();  // waits for any block still being encoded
  pending_ops_ = 0;
  Status st = LoadStreams();
  if (st.ok() && identity_) {
    // A restore (another process) starts a new epoch: a write under the one this process
    // opened with would take numbers that the restored streams may hold already.
    auto epoch = GetMetaNumber("epoch");
    if (!epoch.ok()) {
      st = epoch.status();
    } else if (*epoch && int64_t(**epoch) != identity_->epoch) {
      st = Status::Invalid(fmt::format(
          "{} was restored from a backup meanwhile (now epoch {}): nothing was written; run the "
          "command again",
          identity_->incarnation(), **epoch));
    }
  }
  if (st.ok()) st = LoadDictionary();
  auto count = [&](const char* sql, int64_t* out) -> Status {
    Stmt& s = db_->Prepare(sql);
    s.Step();
    *out = s.Int(0);
    Status r = s.status();
    s.Reset();
    return r;
  };
  if (st.ok()) st = count("SELECT count(*) FROM superseded", &superseded_rows_);
  if (st.ok()) st = count("SELECT count(*) FROM register_base", &register_base_rows_);
  if (st.ok()) {
    auto flag = GetMeta("bootstrap");
    if (!flag.ok()) st = flag.status();
    bootstrapping_ = flag.ok() && flag->has_value();
    if (!bootstrapping_) ForgetReceived();
  }
  if (st.ok()) {
    auto hw = GetMetaNumber("hlc");
    if (!hw.ok()) {
      st = hw.status();
    } else if (*hw) {
      hlc_.Observe(**hw);
    }
  }
  if (!st.ok()) AbortWrite();
  return st;
}

Status Store::Put(std::string_view scope, uint32_t entity, std::string_view key,
                  const FieldMap& fields, v1::OpSource source,
                  const std::vector<std::pair<uint32_t, Dot>>& resolves) {
  if (!writing_) return Status::Invalid("Put outside a write transaction");
  if (!identity_) return Status::Invalid("this data dir has no node identity: run bosai init");
  if (fields.empty()) return Status::Ok();
  BOSAI_RETURN_IF_ERROR(FinishBootstrap());
  BOSAI_ASSIGN_OR_RETURN(Record rec, LoadRecord(entity, key));
  BOSAI_RETURN_IF_ERROR(AppendLocalOp(rec, std::string(scope), fields, source, resolves));
  return rec.exists ? SaveRecord(rec) : Status::Ok();
}

Status Store::PutScoped(uint32_t entity, std::string_view key,
                        const std::vector<ScopedFields>& groups, v1::OpSource source) {
  if (!writing_) return Status::Invalid("Put outside a write transaction");
  if (!identity_) return Status::Invalid("this data dir has no node identity: run bosai init");
  bool any = false;
  for (const auto& g : groups) any = any || !g.fields.empty();
  if (!any) return Status::Ok();
  BOSAI_RETURN_IF_ERROR(FinishBootstrap());
  BOSAI_ASSIGN_OR_RETURN(Record rec, LoadRecord(entity, key));
  for (const auto& g : groups) {
    if (!g.fields.empty()) {
      BOSAI_RETURN_IF_ERROR(AppendLocalOp(rec, g.scope, g.fields, source, {}, g.unseen));
    }
  }
  return rec.exists ? SaveRecord(rec) : Status::Ok();
}

// A new record's fields are simply set, each by its scope's op: its body is their union in field
// order and its clock their ops' stamps (what the merge concludes, without it).
Status Store::PutNew(uint32_t entity, std::string_view key,
                     const std::vector<EncodedFields>& groups, v1::OpSource source) {
  if (!writing_) return Status::Invalid("Put outside a write transaction");
  if (!identity_) return Status::Invalid("this data dir has no node identity: run bosai init");
  BOSAI_RETURN_IF_ERROR(FinishBootstrap());
  if (superseded_rows_ != 0) {
    // A dot pending in `superseded` could belong to this record: take the careful path.
    std::vector<ScopedFields> split;
    for (const auto& g : groups) {
      BOSAI_ASSIGN_OR_RETURN(FieldMap fields, SplitFields(g.fields));
      split.push_back({std::string(g.scope), std::move(fields)});
    }
    return PutScoped(entity, key, split, source);
  }
  // Each scope's op and its stamp, first: the union is checked before any op is queued.
  thread_local std::vector<FieldSet> sets;
  thread_local std::vector<uint32_t> set_streams;
  sets.clear();
  set_streams.clear();
  const std::string& inc = identity_->incarnation();
  for (const auto& g : groups) {
    if (g.fields.empty()) continue;
    BOSAI_ASSIGN_OR_RETURN(uint32_t stream, StreamFor(inc, std::string(g.scope)));
    uint64_t seq = streams_[stream].last_seq + 1;
    for (uint32_t earlier : set_streams) seq += earlier == stream;
    sets.push_back({g.fields, {stream, seq, hlc_.Now(), source == v1::OP_SOURCE_REGISTER}});
    set_streams.push_back(stream);
  }
  std::string body;
  thread_local FlatMap<uint32_t, Stamp> stamps;  // keeps its capacity from record to record
  stamps.clear();
  uint32_t overlap = 0;
  auto joined = JoinSets(sets, body, stamps, &overlap);
  if (!joined.ok()) return joined.status().WithContext(fmt::format("record {}", key));
  if (!*joined) {
    return Status::Invalid(fmt::format("record {}: field {} is written twice", key, overlap));
  }
  if (body.empty()) return Status::Ok();
  for (size_t i = 0; i < sets.size(); ++i) {
    PendingBlock& pb = Pending(set_streams[i]);
    v1::Op* op = pb.batch->add_ops();
    op->set_entity(entity);
    op->set_key(std::string(key));
    op->set_hlc(sets[i].stamp.hlc);
    op->set_author(author_);
    op->set_source(source);
    op->set_set(std::string(sets[i].fields));
    BOSAI_RETURN_IF_ERROR(QueueOp(set_streams[i], pb, op));
  }
  Record rec;
  rec.entity = entity;
  rec.key = std::string(key);
  Status st = InsertRecord(rec, EncodeRow(entity, std::move(body), stamps, 0, nullptr));
  if (st.code() == Status::Code::kAlreadyExists) {
    return Status::Exists(fmt::format("record {} already exists: {}", key, st.message()));
  }
  return st;
}

Status Store::AppendLocalOp(Record& rec, const std::string& scope, const FieldMap& requested,
                            v1::OpSource source,
                            const std::vector<std::pair<uint32_t, Dot>>& resolves,
                            const std::vector<uint32_t>& unseen) {
  // Clearing a field that holds nothing is no write at all.
  FieldMap fields;
  for (const auto& [field, value] : requested) {
    bool resolving = false;
    for (const auto& r : resolves) resolving = resolving || r.first == field;
    if (!value.empty() || resolving || rec.stamps.count(field)) fields.emplace(field, value);
  }
  if (fields.empty()) return Status::Ok();
  const std::string inc = identity_->incarnation();
  BOSAI_ASSIGN_OR_RETURN(uint32_t stream, StreamFor(inc, scope));
  PendingBlock& pb = Pending(stream);
  auto peer = [&](const std::string& incarnation) -> Result<uint32_t> {
    auto [it, added] = pb.peer_index.emplace(incarnation, uint32_t(pb.batch->peers_size()));
    if (added) {
      pb.batch->add_peers(incarnation);
      BOSAI_ASSIGN_OR_RETURN(uint32_t ps, StreamFor(incarnation, scope));
      pb.peer_streams.push_back(ps);
    }
    return it->second;
  };

  v1::Op& op = *pb.batch->add_ops();
  op.set_entity(rec.entity);
  op.set_key(rec.key);
  op.set_hlc(hlc_.Now());
  op.set_author(author_);
  op.set_source(source);
  for (const auto& [field, value] : fields) {
    auto shown = rec.stamps.find(field);
    bool resolving = false;
    for (const auto& r : resolves) resolving = resolving || r.first == field;
    if (shown == rec.stamps.end() && !resolving) {
      // Nothing to overwrite: the field goes into the op's plain field set.
      op.mutable_set()->append(value);
      continue;
    }
    auto* w = op.add_writes();
    w->set_field(field);
    w->set_value(value);
    auto name = [&](const std::string& incarnation, uint64_t seq) -> Status {
      BOSAI_ASSIGN_OR_RETURN(uint32_t p, peer(incarnation));
      w->add_context_peer(p);
      w->add_context_seq(seq);
      return Status::Ok();
    };
    const bool seen = std::find(unseen.begin(), unseen.end(), field) == unseen.end();
    if (shown != rec.stamps.end() && seen) {
      BOSAI_RETURN_IF_ERROR(name(streams_[shown->second.stream].id.incarnation, shown->second.seq));
      // Equal concurrent values are one value: overwrite them all.
      auto cur = rec.body.find(field);
      std::string cur_value = cur == rec.body.end() ? std::string() : cur->second;
      BOSAI_ASSIGN_OR_RETURN(std::vector<Sibling> sibs, LoadSiblings(rec, field));
      for (const auto& s : sibs) {
        if (s.value == cur_value) {
          BOSAI_RETURN_IF_ERROR(name(streams_[s.stamp.stream].id.incarnation, s.stamp.seq));
        }
      }
    }
    for (const auto& [rf, dot] : resolves) {
      if (rf == field) BOSAI_RETURN_IF_ERROR(name(dot.incarnation, dot.seq));
    }
  }

  uint64_t seq = streams_[stream].last_seq + 1;
  BOSAI_RETURN_IF_ERROR(ApplyOp(rec, stream, seq, op, pb.peer_streams));
  return QueueOp(stream, pb, &op);
}

Store::PendingBlock& Store::Pending(uint32_t stream) {
  PendingBlock& pb = pending_[stream];
  if (!pb.batch) {
    pb.arena = std::make_unique<google::protobuf::Arena>();
    pb.batch = google::protobuf::Arena::CreateMessage<v1::OpBatch>(pb.arena.get());
    const std::string& inc = streams_[stream].id.incarnation;
    pb.first_seq = streams_[stream].last_seq + 1;
    pb.batch->add_peers(inc);
    pb.peer_index = {{inc, 0}};
    pb.peer_streams = {stream};
  }
  return pb;
}

// The op was added to pb.batch and materialized as seq last_seq + 1.
Status Store::QueueOp(uint32_t stream, PendingBlock& pb, v1::Op* op) {
  ++streams_[stream].last_seq;
  pb.max_hlc = std::max(pb.max_hlc, op->hlc());
  pb.raw_bytes += op->ByteSizeLong() + 4;
  ++pending_ops_;
  if (uint32_t(pb.batch->ops_size()) >= options_.block_ops ||
      pb.raw_bytes >= kTargetBlockRawBytes) {
    return FlushBlock(stream, /*in_background=*/true);
  }
  return Status::Ok();
}

Status Store::AppendEvent(std::string_view scope, uint32_t entity, std::string_view key,
                          std::string_view body) {
  if (!writing_) return Status::Invalid("AppendEvent outside a write transaction");
  if (!identity_) return Status::Invalid("this data dir has no node identity: run bosai init");
  BOSAI_RETURN_IF_ERROR(FinishBootstrap());
  BOSAI_ASSIGN_OR_RETURN(uint32_t stream, StreamFor(identity_->incarnation(), std::string(scope)));
  PendingBlock& pb = Pending(stream);
  v1::Op& op = *pb.batch->add_ops();
  op.set_entity(entity);
  op.set_key(std::string(key));
  op.set_hlc(hlc_.Now());
  op.set_kind(v1::OP_KIND_EVENT);
  op.set_event(std::string(body));
  op.set_author(author_);
  BOSAI_RETURN_IF_ERROR(Materialize(stream, streams_[stream].last_seq + 1, op, pb.peer_streams));
  return QueueOp(stream, pb, &op);
}

// Full blocks being compressed and signed on the encoder thread while the writer goes on.
constexpr size_t kBlocksInFlight = 2;

Status Store::FlushBlock(uint32_t stream, bool in_background) {
  auto it = pending_.find(stream);
  if (it == pending_.end() || !it->second.batch || it->second.batch->ops_size() == 0) {
    return Status::Ok();
  }
  PendingBlock& pb = it->second;
  const StreamInfo& info = streams_[stream];
  BlockHeader h{info.id.incarnation, info.id.scope, pb.first_seq, uint32_t(pb.batch->ops_size()),
                pb.max_hlc};
  Stmt& u = db_->Prepare("UPDATE streams SET last_seq = ? WHERE id = ?");
  u.Bind(1, int64_t(h.last_seq())).Bind(2, stream);
  BOSAI_RETURN_IF_ERROR(u.Run());
  // Compressing and signing a full block is the costliest step of a long write: it runs on
  // another thread while the next block fills; blocks are stored in order before the commit.
  auto encode = [h, arena = std::move(pb.arena), batch = pb.batch, key = &identity_->key] {
    return EncodeBlock(h, *batch, *key);
  };
  pending_.erase(it);
  if (in_background && !encoder_) encoder_ = std::make_unique<Workers>(1);
  encoding_.push_back({stream, h.first_seq, h.last_seq(),
                       in_background ? encoder_->Run(std::move(encode))
                                     : std::async(std::launch::deferred, std::move(encode))});
  // A few blocks may be in flight: waiting for each before filling the next (one in flight) left
  // the writer idle whenever the encoder was behind, as when both scopes' blocks close together.
  return StoreEncoded(in_background ? kBlocksInFlight : 0);
}

Status Store::StoreEncoded(size_t keep) {
  while (encoding_.size() > keep) {
    EncodingBlock& e = encoding_.front();
    std::string block = e.block.get();
    Stmt& s =
        db_->Prepare("INSERT INTO blocks(stream, first_seq, last_seq, data) VALUES(?, ?, ?, ?)");
    s.Bind(1, e.stream).Bind(2, int64_t(e.first_seq)).Bind(3, int64_t(e.last_seq));
    s.BindBlobView(4, block);
    BOSAI_RETURN_IF_ERROR(s.Run());
    // The stream's tip, when this block is its last (a later one of the write may follow).
    Stmt& u = db_->Prepare("UPDATE streams SET tip = ? WHERE id = ? AND last_seq = ?");
    u.BindBlobView(1, BlockSignature(block)).Bind(2, e.stream).Bind(3, int64_t(e.last_seq));
    BOSAI_RETURN_IF_ERROR(u.Run());
    encoding_.pop_front();
  }
  return Status::Ok();
}

Status Store::CommitWrite() { return FinishWrite(true); }

void Store::AbortWrite() { FinishWrite(false); }

Status Store::FinishWrite(bool commit) {
  if (!writing_) return Status::Invalid("no write is open");
  Status st;
  if (commit) {
    for (auto it = pending_.begin(); st.ok() && it != pending_.end();) {
      uint32_t stream = it->first;
      ++it;  // FlushBlock erases the entry
      st = FlushBlock(stream, /*in_background=*/false);
    }
    if (st.ok()) st = StoreEncoded(0);
    if (st.ok()) st = SetMeta("hlc", std::to_string(hlc_.high_water()));
    if (st.ok()) st = db_->Commit();
  }
  if (commit && st.ok() && bulk_) st = Status::Invalid("bulk import not ended before commit");
  if (!commit || !st.ok()) {
    db_->Rollback();
    for (const BlockRange& range : received_in_write_) received_.erase(range);
    codec_.Clear();  // a dictionary this write made is gone
  }
  compressing_ = nullptr;
  received_in_write_.clear();
  writing_ = false;
  bulk_ = false;
  bulk_cache_.reset();
  index_builder_.reset();
  bulk_rows_.clear();
  pending_.clear();
  encoding_.clear();  // waits for any block still being encoded
  pending_ops_ = 0;
  return st;
}

// A bulk write appends: records in id order, then keys and index entries sorted. A re-import
// reads each record once. A small page cache serves them as well as the connection's usual one,
// and keeps the peak memory lower (`ops/bench import` and `ops/bench sync` print it).
constexpr int64_t kSmallCacheKiB = 16 << 10;

Store::SmallCache::SmallCache(Db& db) : db_(db) {
  Stmt& s = db_.Prepare("PRAGMA cache_size");
  if (s.Step()) before_ = s.Int(0);
  s.Reset();
  (void)db_.Exec(fmt::format("PRAGMA cache_size=-{}", kSmallCacheKiB));  // a hint: best effort
}

Store::SmallCache::~SmallCache() {
  if (before_) (void)db_.Exec(fmt::format("PRAGMA cache_size={}", *before_));
}

Status Store::BeginBulk() {
  if (!writing_) return Status::Invalid("BeginBulk outside a write transaction");
  BOSAI_RETURN_IF_ERROR(FinishBootstrap());
  BOSAI_ASSIGN_OR_RETURN(bulk_next_id_, NextRecordId());
  bulk_ = true;
  bulk_cache_ = std::make_unique<SmallCache>(*db_);
  index_builder_ = std::make_unique<IndexBuilder>(options_.index_build_bytes);
  return db_->Exec(kDropRecordKeysTrigger);  // EndBulk inserts the keys
}

Status Store::EndBulk() {
  if (!writing_ || !bulk_) return Status::Invalid("EndBulk without BeginBulk");
  bulk_ = false;
  BOSAI_RETURN_IF_ERROR(FlushBulkRows());
  // The records are written: another thread writes them to disk while this one indexes them.
  std::thread flushing = FlushInBackground();
  Status st = index_builder_->Finish(*db_);
  index_builder_.reset();
  if (st.code() == Status::Code::kAlreadyExists) {
    st = Status::Corruption("bulk import wrote a record twice: " + st.message());
  }
  if (st.ok()) st = db_->Exec(kRecordKeysTrigger);
  if (flushing.joinable()) flushing.join();
  bulk_cache_.reset();
  return st;
}

Result<bool> Store::BeginBootstrap() {
  if (writing_) return Status::Invalid("BeginBootstrap inside a write transaction");
  if (!LockBootstrap()) return false;  // another process is bootstrapping this store
  BOSAI_RETURN_IF_ERROR(BeginWrite("bootstrap"));
  Status st;
  if (!bootstrapping_) {
    Stmt& s = db_->Prepare(
        "SELECT EXISTS(SELECT 1 FROM records) OR EXISTS(SELECT 1 FROM events) OR "
        "EXISTS(SELECT 1 FROM siblings)");
    bool any = s.Step() && s.Int(0) != 0;
    st = s.status();
    s.Reset();
    if (st.ok() && any) {
      AbortWrite();
      UnlockBootstrap();
      return false;
    }
    if (st.ok()) st = SetMeta("bootstrap", std::to_string(options_.clock->NowMillis()));
  }
  if (st.ok()) st = CommitWrite();
  if (!st.ok()) {
    if (writing_) AbortWrite();
    UnlockBootstrap();
    return st;
  }
  if (!bootstrap_cache_) bootstrap_cache_ = std::make_unique<SmallCache>(*db_);
  return true;
}

Status Store::EndBootstrap() {
  if (writing_) return Status::Invalid("EndBootstrap inside a write transaction");
  // The bootstrap writes the whole materialized state in one transaction.
  bool journal = bootstrapping_ && UseRollbackJournal();
  Status st = BeginWrite("bootstrap");
  if (st.ok()) {
    st = FinishBootstrap();
    if (st.ok()) {
      st = CommitWrite();
    } else {
      AbortWrite();
    }
  }
  if (journal) {
    Status wal = RestoreWal();
    if (st.ok()) st = wal;
  }
  if (st.ok()) UnlockBootstrap();
  return st;
}

bool Store::UseRollbackJournal() {
  if (writing_ || path_.empty() || path_ == ":memory:") return false;
  Stmt& m = db_->Prepare("PRAGMA journal_mode=TRUNCATE");
  bool changed = m.Step() && m.Text(0) == "truncate";
  m.Reset();
  return changed;
}

Status Store::RestoreWal() { return db_->Exec("PRAGMA journal_mode=WAL"); }

Status Store::FinishBootstrap() {
  if (!bootstrapping_) return Status::Ok();
  Status st = MaterializeAll();
  ForgetReceived();
  BOSAI_RETURN_IF_ERROR(st);
  BOSAI_RETURN_IF_ERROR(db_->Exec("DELETE FROM meta WHERE k = 'bootstrap'"));
  bootstrapping_ = false;
  bootstrap_cache_.reset();
  return Status::Ok();
}

namespace {

// An exclusive advisory lock on PATH (created if missing, never removed, as SQLite's -shm): the
// descriptor that holds it, or -1 when another process (or another descriptor) holds it.
int TryLockFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Holds a lock taken by TryLockFile until it goes out of scope.
class HeldLock {
 public:
  explicit HeldLock(int fd) : fd_(fd) {}
  HeldLock(const HeldLock&) = delete;
  HeldLock& operator=(const HeldLock&) = delete;
  ~HeldLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool held() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

bool Store::LockBootstrap() {
  if (bootstrap_lock_ >= 0) return true;
  if (path_.empty() || path_ == ":memory:") return true;  // no other process can open it
  bootstrap_lock_ = TryLockFile(path_ + "-bootstrap");
  return bootstrap_lock_ >= 0;
}

void Store::UnlockBootstrap() {
  if (bootstrap_lock_ < 0) return;
  ::close(bootstrap_lock_);  // releases the lock; the file stays, as SQLite's -shm does
  bootstrap_lock_ = -1;
}

Result<Store::BootstrapBlock> Store::DecodeForBootstrap(uint32_t stream,
                                                        std::string_view block) const {
  BOSAI_ASSIGN_OR_RETURN(BlockHeader h, ParseBlockHeader(block));
  std::string where =
      fmt::format("block {} {} seq {}-{}", h.origin, h.scope, h.first_seq, h.last_seq());
  BootstrapBlock out;
  auto raw = DecompressBlockPayload(block);
  if (!raw.ok()) return raw.status().WithContext(where);
  out.payload = std::move(raw).value();
  std::vector<std::string_view> encoded;
  BOSAI_RETURN_IF_ERROR(SplitBatch(out.payload, out.peers, encoded).WithContext(where));
  if (encoded.size() != h.count) {
    return Status::Corruption(fmt::format("{}: the header says {} ops, the payload holds {}", where,
                                          h.count, encoded.size()));
  }
  out.ops.reserve(encoded.size());
  std::string_view first;
  for (size_t i = 0; i < encoded.size(); ++i) {
    auto head = ReadOpHead(encoded[i]);
    if (!head.ok()) return head.status().WithContext(where);
    if (i == 0) {
      first = head->key;
      out.key_common = first.size();
    }
    out.key_common = CommonPrefix(first, head->key, out.key_common);
    out.ops.push_back({.entity = head->entity,
                       .stream = stream,
                       .key_hash = std::hash<std::string_view>()(head->key) ^ head->entity,
                       .hlc = head->hlc,
                       .seq = h.first_seq + i,
                       .offset = uint32_t(encoded[i].data() - out.payload.data()),
                       .size = uint32_t(encoded[i].size()),
                       .key_offset = uint32_t(head->key.data() - out.payload.data()),
                       .key_size = uint32_t(head->key.size())});
  }
  return out;
}

void Store::ForgetReceived() {
  received_.clear();
  received_bytes_ = 0;
}

Result<bool> Store::JoinSets(const std::vector<FieldSet>& sets, std::string& body,
                             FlatMap<uint32_t, Stamp>& stamps, uint32_t* overlap) {
  struct Fragment {
    uint32_t field;
    uint32_t set;  // index in sets
    std::string_view encoded;
  };
  thread_local std::vector<Fragment> fragments;
  fragments.clear();
  for (uint32_t i = 0; i < sets.size(); ++i) {
    WireReader reader(sets[i].fields);
    for (WireField f; reader.Next(f);) fragments.push_back({f.number, i, f.encoded});
    if (!reader.error().empty()) return Status::Invalid("malformed fields: " + reader.error());
  }
  // By field, each field's occurrences in order (a set may repeat a field, as a parse reads it).
  // A record's dozen fields: an insertion sort, stable and without stable_sort's buffer.
  auto by_field = [](const Fragment& x, const Fragment& y) { return x.field < y.field; };
  if (fragments.size() > 32) {
    std::stable_sort(fragments.begin(), fragments.end(), by_field);
  } else {
    for (size_t k = 1; k < fragments.size(); ++k) {
      for (size_t j = k; j > 0 && by_field(fragments[j], fragments[j - 1]); --j) {
        std::swap(fragments[j - 1], fragments[j]);
      }
    }
  }
  size_t size = 0;
  for (size_t k = 0; k < fragments.size(); ++k) {
    if (k > 0 && fragments[k].field == fragments[k - 1].field &&
        fragments[k].set != fragments[k - 1].set) {
      if (overlap) *overlap = fragments[k].field;
      return false;
    }
    size += fragments[k].encoded.size();
  }
  body.clear();
  body.reserve(size);
  for (const Fragment& f : fragments) {
    body += f.encoded;
    stamps[f.field] = sets[f.set].stamp;
  }
  return true;
}

Result<bool> Store::BuildUnion(const std::vector<OpRef>& refs,
                               const std::vector<const std::string*>& payloads, size_t from,
                               size_t to, BuiltRecord& b) const {
  thread_local std::vector<FieldSet> sets;
  sets.clear();
  for (size_t i = from; i < to; ++i) {
    const OpRef& r = refs[i];
    auto head = ReadOpHead(std::string_view(payloads[r.block]->data() + r.offset, r.size));
    if (!head.ok() || head->event || head->writes) return false;  // the general path
    sets.push_back({head->set, {r.stream, r.seq, head->hlc, head->register_}});
  }
  std::string body;
  auto joined = JoinSets(sets, body, b.rec.stamps);
  if (!joined.ok()) {
    return Status::Corruption(fmt::format("op on {}: {}", b.rec.key, joined.status().message()));
  }
  if (!*joined || body.empty()) return *joined;  // a merge, or no op writes anything: no record
  b.rec.exists = true;
  b.row = EncodeRow(b.rec.entity, std::move(body), b.rec.stamps, 0, nullptr);
  return true;
}

Result<std::vector<Store::BuiltRecord>> Store::BuildRecords(
    const std::vector<OpRef>& refs, const std::vector<const std::string*>& payloads,
    const std::vector<std::vector<uint32_t>>& peers, std::span<const size_t> starts,
    bool off_thread) {
  std::vector<BuiltRecord> out;
  out.reserve(starts.empty() ? 0 : starts.size() - 1);
  v1::Op op;
  for (size_t j = 0; j + 1 < starts.size(); ++j) {
    BuiltRecord& b = out.emplace_back();
    Record& rec = b.rec;
    rec.entity = refs[starts[j]].entity;
    const OpRef& first = refs[starts[j]];
    rec.key = payloads[first.block]->substr(first.key_offset, first.key_size);
    if (off_thread) {
      BOSAI_ASSIGN_OR_RETURN(bool built, BuildUnion(refs, payloads, starts[j], starts[j + 1], b));
      if (built) continue;
    }
    for (size_t i = starts[j]; i < starts[j + 1] && !b.needs_tables; ++i) {
      const OpRef& r = refs[i];
      std::string_view encoded(payloads[r.block]->data() + r.offset, r.size);
      auto fail = [&] {
        return Status::Corruption(fmt::format("op {} of stream {} does not parse", r.seq,
                                              streams_[r.stream].id.incarnation));
      };
      Status st;
      // An op that only sets fields (a new record's, most of a bootstrap) is read in place.
      auto head = ReadOpHead(encoded);
      if (!head.ok()) return fail();
      if (!head->event && !head->writes) {
        if (!head->set.empty()) {
          st = ApplySet(rec, {r.stream, r.seq, head->hlc, head->register_}, head->set,
                        peers[r.block], off_thread);
        }
      } else if (!op.ParseFromArray(encoded.data(), int(encoded.size()))) {
        return fail();
      } else if (op.kind() == v1::OP_KIND_EVENT) {
        st = off_thread ? NeedsTables() : Materialize(r.stream, r.seq, op, peers[r.block]);
      } else {
        st = ApplyOp(rec, r.stream, r.seq, op, peers[r.block], off_thread);
      }
      if (off_thread && st.code() == Status::Code::kBusy) {
        b.needs_tables = true;
      } else if (!st.ok()) {
        return st;
      }
    }
    if (b.needs_tables || !rec.exists) continue;
    if (rec.stamps.empty())
      return Status::Corruption(fmt::format("record {} has no field", rec.key));
    b.row = EncodeRecord(rec);
  }
  return out;
}

Status Store::MaterializeAll() {
  // Records come in key order: their keys are appended with them, without the trigger, and
  // their index entries at the end, as in a bulk write.
  SmallCache cache(*db_);
  BOSAI_RETURN_IF_ERROR(
      db_->Exec("DELETE FROM records; DELETE FROM record_keys; DELETE FROM record_index;"
                "DELETE FROM siblings; DELETE FROM superseded; DELETE FROM register_base;"
                "DELETE FROM events;"));
  BOSAI_RETURN_IF_ERROR(db_->Exec(kDropRecordKeysTrigger));
  index_builder_ = std::make_unique<IndexBuilder>(options_.index_build_bytes);
  superseded_rows_ = 0;
  register_base_rows_ = 0;
  uint64_t stored = 0;
  {
    Stmt& s = db_->Prepare("SELECT coalesce(sum(length(data)), 0) FROM blocks");
    s.Step();
    stored = uint64_t(s.Int(0));
    Status st = s.status();
    s.Reset();
    BOSAI_RETURN_IF_ERROR(st);
  }
  // Blocks decompress to about three times their size; each pass takes the records whose key
  // hashes to it, so that memory stays bounded whatever the size of the op-log.
  const uint64_t passes = 1 + stored * 4 / std::max<uint64_t>(options_.bootstrap_pass_bytes, 1);

  uint64_t ops = 0;  // in the op-log: each pass takes about its share
  for (uint32_t id = 1; id < streams_.size(); ++id) ops += streams_[id].last_seq;

  using Entry = OpRef;
  for (uint64_t pass = 0; pass < passes; ++pass) {
    std::vector<const std::string*> payloads;  // per block: its ops, decompressed
    std::vector<std::vector<uint32_t>> peers;  // per block: local stream of each peer
    std::deque<BootstrapBlock> decoded;        // the blocks decoded here, not when received
    std::vector<Entry> entries;                // this pass's ops
    std::vector<size_t> starts;                // of each record's ops, once sorted
    std::string_view first_key;                // of the first block
    size_t common_prefix = 0;                  // of every key of this pass
    Workers workers(3);                        // after what its tasks use: its end waits for them
    entries.reserve(ops / passes + ops / passes / 8);  // grown, it would be copied and copied

    // Blocks are read here and those not decoded when they were received are decoded on two
    // threads, a group at a time.
    struct Job {
      uint32_t stream;
      uint64_t cursor;              // the ops up to it are in an earlier block
      const BootstrapBlock* block;  // decoded when received, or
      std::string data;             // to decode here, into
      Result<BootstrapBlock> out = BootstrapBlock();
    };
    // With several passes, a block decoded here keeps this pass's ops only.
    auto decode = [passes, pass, this](Job& job) {
      job.out = DecodeForBootstrap(job.stream, job.data);
      job.data = {};
      if (!job.out.ok() || passes == 1) return;
      BootstrapBlock& b = *job.out;
      std::string kept;
      std::erase_if(b.ops, [&](const OpRef& r) { return r.key_hash % passes != pass; });
      b.ops.shrink_to_fit();  // else every block of the pass keeps room for all its ops
      size_t size = 0;
      for (const OpRef& r : b.ops) size += r.size;
      kept.reserve(size);
      for (OpRef& r : b.ops) {
        auto at = uint32_t(kept.size());
        kept.append(b.payload, r.offset, r.size);
        r.key_offset = r.key_offset - r.offset + at;
        r.offset = at;
      }
      b.payload = std::move(kept);
    };
    std::vector<Job> jobs;
    auto drain = [&]() -> Status {
      auto half = workers.Run([&] {
        for (size_t k = 0; k < jobs.size(); k += 2) {
          if (!jobs[k].block) decode(jobs[k]);
        }
      });
      for (size_t k = 1; k < jobs.size(); k += 2) {
        if (!jobs[k].block) decode(jobs[k]);
      }
      half.get();
      for (Job& job : jobs) {
        if (!job.block) {
          BOSAI_RETURN_IF_ERROR(job.out.status());
          job.block = &decoded.emplace_back(std::move(job.out).value());
        }
        size_t before = entries.size();
        for (const OpRef& r : job.block->ops) {
          if (r.seq <= job.cursor || r.key_hash % passes != pass) continue;
          entries.push_back(r);
          entries.back().block = uint32_t(payloads.size());
        }
        if (entries.size() == before) continue;
        // The keys' common prefix: the first block's first key, cut where a block's keys differ.
        std::string_view first = job.block->first_key();
        if (payloads.empty()) {
          first_key = first;
          common_prefix = job.block->key_common;
        }
        common_prefix =
            CommonPrefix(first_key, first, std::min(common_prefix, job.block->key_common));
        std::vector<uint32_t> block_peers;
        for (const auto& p : job.block->peers) {
          BOSAI_ASSIGN_OR_RETURN(uint32_t ps, StreamFor(p, streams_[job.stream].id.scope));
          block_peers.push_back(ps);
        }
        payloads.push_back(&job.block->payload);
        peers.push_back(std::move(block_peers));
      }
      jobs.clear();
      return Status::Ok();
    };
    for (uint32_t id = 1; id < streams_.size(); ++id) {
      BOSAI_ASSIGN_OR_RETURN(
          Stmt s, db_->PrepareOnce("SELECT first_seq, last_seq, id FROM blocks WHERE stream = "
                                   "? ORDER BY first_seq, last_seq DESC"));
      s.Bind(1, id);
      uint64_t cursor = 0;
      while (s.Step()) {
        auto first = uint64_t(s.Int(0)), last = uint64_t(s.Int(1));
        if (last <= cursor) continue;  // covered by a longer block
        auto it = received_.find({id, first, last});
        if (it != received_.end()) {
          jobs.push_back({id, cursor, &it->second, {}});
        } else {
          // Not kept when it arrived: its bytes are read now, and decoded with the others.
          BOSAI_ASSIGN_OR_RETURN(
              std::optional<std::string> data,
              FirstValue(db_->Prepare("SELECT data FROM blocks WHERE id = ?").Bind(1, s.Int(2))));
          if (!data) return Status::Corruption(fmt::format("block {} is gone", s.Int(2)));
          jobs.push_back({id, cursor, nullptr, std::move(*data)});
        }
        cursor = last;
        if (jobs.size() == 32) BOSAI_RETURN_IF_ERROR(drain());
      }
      BOSAI_RETURN_IF_ERROR(s.status());
    }
    BOSAI_RETURN_IF_ERROR(drain());

    // Records in key order, so that they are appended, never inserted;
    // each record's ops in causal order: a write that names a value is stamped after it. The
    // sort compares sixteen bytes past the keys' common prefix first, most often all there is.
    auto key = [&](const Entry& e) {
      return std::string_view(*payloads[e.block]).substr(e.key_offset, e.key_size);
    };
    const size_t common = common_prefix;
    auto set_prefixes = [&](size_t from, size_t to) {
      for (size_t i = from; i < to; ++i) {
        Entry& e = entries[i];
        std::string_view rest = key(e).substr(std::min<size_t>(common, e.key_size));
        e.key_prefix = e.key_prefix2 = 0;
        for (size_t b = 0; b < 8; ++b) {
          e.key_prefix = e.key_prefix << 8 | (b < rest.size() ? uint8_t(rest[b]) : 0);
          e.key_prefix2 = e.key_prefix2 << 8 | (b + 8 < rest.size() ? uint8_t(rest[b + 8]) : 0);
        }
      }
    };
    auto setting = workers.Run([&] { set_prefixes(0, entries.size() / 2); });
    set_prefixes(entries.size() / 2, entries.size());
    setting.get();
    // Orders entries by (entity, key); reads the keys only when they are longer than what
    // the prefixes hold.
    auto compare_keys = [&](const Entry& a, const Entry& b) -> int {
      if (a.entity != b.entity) return a.entity < b.entity ? -1 : 1;
      if (a.key_prefix != b.key_prefix) return a.key_prefix < b.key_prefix ? -1 : 1;
      if (a.key_prefix2 != b.key_prefix2) return a.key_prefix2 < b.key_prefix2 ? -1 : 1;
      if (a.key_size > common + 16 || b.key_size > common + 16) {
        return key(a)
            .substr(std::min<size_t>(a.key_size, common + 16))
            .compare(key(b).substr(std::min<size_t>(b.key_size, common + 16)));
      }
      return a.key_size == b.key_size ? 0 : a.key_size < b.key_size ? -1 : 1;
    };
    auto before = [&](const Entry& a, const Entry& b) {
      if (int c = compare_keys(a, b); c != 0) return c < 0;
      if (a.hlc != b.hlc) return a.hlc < b.hlc;
      if (a.stream != b.stream) return a.stream < b.stream;
      return a.seq < b.seq;
    };
    // Two halves sorted at once, then merged.
    auto middle = entries.begin() + ptrdiff_t(entries.size() / 2);
    auto sorting = workers.Run([&] { std::sort(entries.begin(), middle, before); });
    std::sort(middle, entries.end(), before);
    sorting.get();
    std::inplace_merge(entries.begin(), middle, entries.end(), before);
    // Records are built, a chunk at a time, on other threads while this one inserts the
    // previous chunk, and again here when their merge needs the tables (conflicts, events).
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i == 0 || compare_keys(entries[i], entries[i - 1]) != 0) starts.push_back(i);
    }
    starts.push_back(entries.size());
    // The starts of a chunk's records, and the end of its last one.
    auto chunk_starts = [&](size_t chunk) {
      size_t first = chunk * kBuildChunk;
      size_t last = std::min(first + kBuildChunk, starts.size() - 1);
      return std::span<const size_t>(starts).subspan(first, last - first + 1);
    };
    auto build = [&, this](size_t chunk) {
      return workers.Run([&entries, &payloads, &peers, this, chunk = chunk_starts(chunk)] {
        return BuildRecords(entries, payloads, peers, chunk, true);
      });
    };
    const size_t chunks = (starts.size() - 1 + kBuildChunk - 1) / kBuildChunk;
    BOSAI_ASSIGN_OR_RETURN(int64_t next_id, NextRecordId());
    // Two chunks build at once: together they take about as long as this thread's inserts.
    constexpr size_t kBuilding = 2;
    std::deque<std::future<Result<std::vector<BuiltRecord>>>> building;
    std::future<void> freeing;  // built records are freed on another thread too
    for (size_t chunk = 0; chunk < std::min(chunks, kBuilding); ++chunk) {
      building.push_back(build(chunk));
    }
    for (size_t chunk = 0; chunk < chunks; ++chunk) {
      auto done = building.front().get();
      building.pop_front();
      if (chunk + kBuilding < chunks) building.push_back(build(chunk + kBuilding));
      BOSAI_ASSIGN_OR_RETURN(std::vector<BuiltRecord> built, std::move(done));
      std::span<const size_t> record_starts = chunk_starts(chunk);
      for (size_t j = 0; j < built.size(); ++j) {
        BuiltRecord& b = built[j];
        if (b.needs_tables) {
          BOSAI_ASSIGN_OR_RETURN(
              std::vector<BuiltRecord> again,
              BuildRecords(entries, payloads, peers, record_starts.subspan(j, 2), false));
          b = std::move(again.at(0));
        }
        if (!b.rec.exists) continue;
        b.id = next_id++;
        BOSAI_RETURN_IF_ERROR(index_builder_->Add(b.id, b.row.index));
      }
      BOSAI_RETURN_IF_ERROR(InsertRecords(built, /*with_keys=*/true));  // appended: key order
      if (freeing.valid()) freeing.wait();
      freeing = workers.Run([done = std::move(built)]() mutable { done = {}; });
    }
  }
  // The records are written: another thread writes them to disk while this one inserts the
  // index entries.
  std::thread flushing = FlushInBackground();
  Status st = index_builder_->Finish(*db_);
  index_builder_.reset();
  if (st.ok()) st = db_->Exec(kRecordKeysTrigger);
  if (flushing.joinable()) flushing.join();
  return st;
}

std::thread Store::FlushInBackground() const {
  if (path_.empty() || path_ == ":memory:") return {};
  // Through the directory, never a descriptor of the database file: closing any descriptor of
  // a file drops every POSIX lock this process holds on it, SQLite's included, and another
  // process could then write the store under this one.
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {};  // only an early start of what the commit does anyway
  return std::thread([fd] {
    ::syncfs(fd);
    ::close(fd);
  });
}

// ---------------------------------------------------------------------------------------------
// Reading

Result<std::optional<std::string>> Store::GetBody(uint32_t entity, std::string_view key) {
  Stmt& s = db_->Prepare(
      "SELECT r.body FROM record_keys k JOIN records r ON r.id = k.record "
      "WHERE k.entity = ? AND k.key = ?");
  s.Bind(1, entity).Bind(2, key);
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> stored, FirstValue(s));
  if (!stored) return stored;
  std::string buffer;
  BOSAI_ASSIGN_OR_RETURN(std::string_view body, DecodeBody(key, *stored, buffer));
  if (body.data() == stored->data()) return stored;
  return std::optional<std::string>(std::string(body));
}

Result<std::vector<FieldVersion>> Store::GetFieldVersions(uint32_t entity, std::string_view key,
                                                          uint32_t field) {
  ReadSnapshot snapshot(*db_);
  if (!writing_) BOSAI_RETURN_IF_ERROR(LoadStreams());
  BOSAI_ASSIGN_OR_RETURN(Record rec, LoadRecord(entity, key));
  std::vector<FieldVersion> out;
  auto st = rec.stamps.find(field);
  if (st == rec.stamps.end()) return out;
  auto version = [&](const Stamp& s, std::string value) {
    const StreamInfo& info = streams_[s.stream];
    return FieldVersion{{info.id.incarnation, s.seq}, info.id.scope, s.hlc, std::move(value)};
  };
  auto v = rec.body.find(field);
  out.push_back(version(st->second, v == rec.body.end() ? std::string() : v->second));
  BOSAI_ASSIGN_OR_RETURN(std::vector<Sibling> sibs, LoadSiblings(rec, field));
  for (auto& s : sibs) out.push_back(version(s.stamp, std::move(s.value)));
  return out;
}

Result<std::optional<std::string>> Store::GetRegisterBase(uint32_t entity, std::string_view key,
                                                          uint32_t field) {
  Stmt& s =
      db_->Prepare("SELECT value FROM register_base WHERE entity = ? AND key = ? AND field = ?");
  s.Bind(1, entity).Bind(2, key).Bind(3, field);
  return FirstValue(s);
}

Result<std::optional<Store::RecordState>> Store::GetRecord(uint32_t entity, std::string_view key) {
  BOSAI_ASSIGN_OR_RETURN(Record rec, LoadRecord(entity, key));
  if (!rec.exists) return std::optional<RecordState>();
  RecordState out;
  out.body = std::move(rec.body);
  out.written.reserve(rec.stamps.size());
  for (const auto& [field, st] : rec.stamps) out.written.emplace(field, st.reg);
  return std::optional<RecordState>(std::move(out));
}

Result<uint64_t> Store::CountRecords(uint32_t entity) {
  Stmt& s = db_->Prepare("SELECT count(*) FROM record_keys WHERE entity = ?");
  s.Bind(1, entity);
  s.Step();
  uint64_t n = uint64_t(s.Int(0));
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  return n;
}

Result<std::vector<Conflict>> Store::ListConflicts(uint32_t entity, std::string_view key) {
  return ConflictsWhere(!entity       ? ""
                        : key.empty() ? "WHERE entity = ?1"
                                      : "WHERE entity = ?1 AND key = ?2",
                        [&](Stmt& s) {
                          if (entity) s.Bind(1, int64_t(entity));
                          if (entity && !key.empty()) s.Bind(2, key);
                        });
}

Result<std::optional<Conflict>> Store::GetConflict(std::string_view id) {
  // By siblings_id: one lookup, where resolving several conflicts would otherwise list them all
  // for each.
  BOSAI_ASSIGN_OR_RETURN(std::vector<Conflict> found,
                         ConflictsWhere("WHERE id = ?1", [&](Stmt& s) { s.Bind(1, id); }));
  if (found.empty()) return std::optional<Conflict>();
  return std::optional<Conflict>(std::move(found.front()));
}

Result<std::optional<Store::Settlement>> Store::FindSettlement(std::string_view id) {
  std::optional<Settlement> found;
  if (id.size() != 16 || id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return found;  // no conflict id: nothing to look for
  }
  BOSAI_RETURN_IF_ERROR(ReadBlocks({}, nullptr, [&](std::string_view block) -> Status {
    BOSAI_ASSIGN_OR_RETURN(BlockHeader header, ParseBlockHeader(block));
    BOSAI_ASSIGN_OR_RETURN(v1::OpBatch batch, DecodeBlockPayload(block));
    for (int i = 0; i < batch.ops_size(); ++i) {
      const v1::Op& op = batch.ops(i);
      if (found && op.hlc() >= found->settled.hlc) continue;
      for (const v1::FieldWrite& w : op.writes()) {
        for (int c = 0; c < w.context_seq_size() && c < w.context_peer_size(); ++c) {
          if (w.context_peer(c) >= uint32_t(batch.peers_size())) {
            return Status::Corruption(
                fmt::format("op {}:{} names a peer its block lacks; run bosai doctor",
                            header.origin, header.first_seq + uint64_t(i)));
          }
          const std::string& peer = batch.peers(int(w.context_peer(c)));
          if (ConflictId(op.entity(), op.key(), w.field(), peer, w.context_seq(c)) != id) continue;
          found = Settlement{
              op.entity(),
              op.key(),
              w.field(),
              {{peer, w.context_seq(c)}, header.scope, 0, {}},
              false,
              {{header.origin, header.first_seq + uint64_t(i)}, header.scope, op.hlc(), w.value()},
              op.author()};
        }
      }
    }
    return Status::Ok();
  }));
  if (!found) return found;
  // The value set aside, from the op that wrote it (a field it wrote over a value, or set anew).
  FieldVersion& other = found->other;
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> block,
                         NextBlock({other.dot.incarnation, other.scope}, other.dot.seq - 1));
  if (!block) return found;  // not held here (yet: the settling write came first)
  BOSAI_ASSIGN_OR_RETURN(BlockHeader header, ParseBlockHeader(*block));
  BOSAI_ASSIGN_OR_RETURN(v1::OpBatch batch, DecodeBlockPayload(*block));
  const v1::Op& op = batch.ops(int(other.dot.seq - header.first_seq));
  found->other_held = true;
  other.hlc = op.hlc();
  for (const v1::FieldWrite& w : op.writes()) {
    if (w.field() == found->field) other.value = w.value();
  }
  BOSAI_ASSIGN_OR_RETURN(FieldMap set, SplitFields(op.set()));
  if (auto it = set.find(found->field); it != set.end()) other.value = it->second;
  return found;
}

Result<std::vector<Conflict>> Store::ConflictsWhere(std::string_view where,
                                                    const std::function<void(Stmt&)>& bind) {
  ReadSnapshot snapshot(*db_);
  if (!writing_) BOSAI_RETURN_IF_ERROR(LoadStreams());
  std::vector<Conflict> out;
  Stmt& s = db_->Prepare(
      fmt::format("SELECT entity, key, field, stream, seq, hlc, value, id FROM siblings {} "
                  "ORDER BY entity, key, field, id",
                  where));
  bind(s);
  std::vector<std::tuple<uint32_t, std::string, uint32_t, Stamp, std::string, std::string>> rows;
  while (s.Step()) {
    rows.emplace_back(uint32_t(s.Int(0)), std::string(s.Text(1)), uint32_t(s.Int(2)),
                      Stamp{uint32_t(s.Int(3)), uint64_t(s.Int(4)), uint64_t(s.Int(5)), false},
                      std::string(s.Blob(6)), std::string(s.Text(7)));
  }
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  for (auto& [entity, key, field, stamp, value, id] : rows) {
    BOSAI_ASSIGN_OR_RETURN(Record rec, LoadRecord(entity, key));
    auto st = rec.stamps.find(field);
    if (st == rec.stamps.end())
      return Status::Corruption(fmt::format("sibling of {} without a value", key));
    auto v = rec.body.find(field);
    std::string shown_value = v == rec.body.end() ? std::string() : v->second;
    if (shown_value == value) continue;  // concurrent writes of one value are no conflict
    const StreamInfo& si = streams_[st->second.stream];
    const StreamInfo& oi = streams_[stamp.stream];
    out.push_back({id,
                   entity,
                   key,
                   field,
                   {{si.id.incarnation, st->second.seq}, si.id.scope, st->second.hlc, shown_value},
                   {{oi.id.incarnation, stamp.seq}, oi.id.scope, stamp.hlc, value}});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Replication

Result<VersionVector> Store::Vector() {
  VersionVector vv;
  Stmt& s = db_->Prepare("SELECT incarnation, scope, last_seq FROM streams WHERE last_seq > 0");
  while (s.Step()) vv[{std::string(s.Text(0)), std::string(s.Text(1))}] = uint64_t(s.Int(2));
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  return vv;
}

Result<std::vector<Store::Tip>> Store::Tips() {
  std::vector<Tip> tips;
  Stmt& s = db_->Prepare(
      "SELECT incarnation, scope, last_seq, tip FROM streams WHERE last_seq > 0 AND tip IS NOT "
      "NULL");
  while (s.Step()) {
    tips.push_back({{std::string(s.Text(0)), std::string(s.Text(1))},
                    uint64_t(s.Int(2)),
                    std::string(s.Blob(3))});
  }
  BOSAI_RETURN_IF_ERROR(s.status());
  s.Reset();
  return tips;
}

Status Store::ReadBlocks(const VersionVector& peer,
                         const std::function<bool(const StreamId&)>& may_read,
                         const std::function<Status(std::string_view block)>& sink) {
  ReadSnapshot snapshot(*db_);
  BOSAI_RETURN_IF_ERROR(LoadStreams());
  std::vector<std::pair<uint32_t, uint64_t>> wanted;
  for (uint32_t id = 1; id < streams_.size(); ++id) {
    const StreamInfo& info = streams_[id];
    if (info.last_seq == 0 || (may_read && !may_read(info.id))) continue;
    auto it = peer.find(info.id);
    uint64_t have = it == peer.end() ? 0 : it->second;
    if (info.last_seq > have) wanted.emplace_back(id, have);
  }
  for (auto [stream, have] : wanted) {
    BOSAI_ASSIGN_OR_RETURN(
        Stmt s,
        db_->PrepareOnce(
            "SELECT first_seq, last_seq, data FROM blocks WHERE stream = ? AND last_seq > ? "
            "ORDER BY first_seq, last_seq DESC"));
    s.Bind(1, stream).Bind(2, int64_t(have));
    uint64_t cursor = have;
    while (s.Step()) {
      auto first = uint64_t(s.Int(0));
      auto last = uint64_t(s.Int(1));
      if (last <= cursor) continue;  // covered by a block already sent
      if (first > cursor + 1) return Status::Corruption("op-log has a gap; run bosai doctor");
      BOSAI_RETURN_IF_ERROR(sink(s.Blob(2)));
      cursor = last;
    }
    BOSAI_RETURN_IF_ERROR(s.status());
  }
  return Status::Ok();
}

Result<std::optional<std::string>> Store::NextBlock(const StreamId& stream, uint64_t after_seq) {
  Stmt& s = db_->Prepare(
      "SELECT b.data FROM blocks b JOIN streams t ON t.id = b.stream "
      "WHERE t.incarnation = ? AND t.scope = ? AND b.first_seq <= ? AND b.last_seq > ? "
      "ORDER BY b.last_seq DESC LIMIT 1");
  s.Bind(1, stream.incarnation).Bind(2, stream.scope);
  s.Bind(3, int64_t(after_seq + 1)).Bind(4, int64_t(after_seq));
  return FirstValue(s);
}

Status Store::ApplyBlock(std::string_view block, const KeyLookup& keys,
                         const WriteScopeCheck& may_write) {
  if (writing_) return ApplyBlockInTransaction(block, keys, may_write);
  BOSAI_RETURN_IF_ERROR(BeginWrite("sync"));
  Status st = ApplyBlockInTransaction(block, keys, may_write);
  if (!st.ok()) {
    AbortWrite();
    return st;
  }
  return CommitWrite();
}

Status Store::ApplyBlockInTransaction(std::string_view block, const KeyLookup& keys,
                                      const WriteScopeCheck& may_write) {
  BOSAI_ASSIGN_OR_RETURN(BlockHeader h, ParseBlockHeader(block));
  std::string where =
      fmt::format("block {} {} seq {}-{}", h.origin, h.scope, h.first_seq, h.last_seq());
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> key, PublicKey(h.origin));
  bool new_key = false;
  if (!key && keys) {
    key = keys(h.origin);
    new_key = key.has_value();
  }
  if (!key) return Status::Invalid(fmt::format("{}: origin is not trusted", where));
  BOSAI_RETURN_IF_ERROR(VerifyBlock(block, *key).WithContext(where));
  if (may_write && !may_write(h.origin, h.scope)) {
    return Status::Invalid(fmt::format("{}: origin has no write scope for {}", where, h.scope));
  }

  BOSAI_ASSIGN_OR_RETURN(uint32_t stream, StreamFor(h.origin, h.scope));
  uint64_t have = streams_[stream].last_seq;
  if (h.first_seq <= have) {
    // Held already: an origin signs each number once, so this must be the very block held.
    // Another one is a fork: its origin was put back from an older copy and wrote again.
    BOSAI_ASSIGN_OR_RETURN(bool same,
                           HoldsBlock({h.origin, h.scope}, h.last_seq(), BlockSignature(block)));
    if (!same) {
      const bool self = identity_ && identity_->incarnation() == h.origin;
      return Status::Invalid(
          PutBackMessage(self ? "this node" : h.origin, self,
                         fmt::format("{} is not the block held here under those numbers", where)));
    }
    return Status::Ok();  // already held
  }
  if (h.first_seq > have + 1) {
    return Status::Invalid(fmt::format("{}: gap after seq {}", where, have));
  }
  if (bootstrapping_) {
    // EndBootstrap materializes it: check the payload's layout, the op count and each op's
    // head here, and keep what that decoded for then, when it fits.
    BOSAI_ASSIGN_OR_RETURN(BootstrapBlock decoded, DecodeForBootstrap(stream, block));
    for (const auto& p : decoded.peers) BOSAI_RETURN_IF_ERROR(StreamFor(p, h.scope).status());
    hlc_.Observe(h.max_hlc);
    streams_[stream].last_seq = h.last_seq();
    received_bytes_ += decoded.payload.size();
    if (received_bytes_ <= options_.bootstrap_pass_bytes) {
      BlockRange range{stream, h.first_seq, h.last_seq()};
      received_.emplace(range, std::move(decoded));
      received_in_write_.push_back(range);
    } else {
      received_.clear();  // too many to keep: EndBootstrap decodes them again
    }
  } else {
    BOSAI_ASSIGN_OR_RETURN(v1::OpBatch batch, DecodeBlockPayload(block));
    std::vector<uint32_t> peer_streams;
    for (const auto& p : batch.peers()) {
      BOSAI_ASSIGN_OR_RETURN(uint32_t ps, StreamFor(p, h.scope));
      peer_streams.push_back(ps);
    }
    for (int i = 0; i < batch.ops_size(); ++i) {
      uint64_t seq = h.first_seq + uint64_t(i);
      if (seq <= have) continue;
      const v1::Op& op = batch.ops(i);
      hlc_.Observe(op.hlc());
      streams_[stream].last_seq = seq;
      BOSAI_RETURN_IF_ERROR(Materialize(stream, seq, op, peer_streams).WithContext(where));
    }
  }
  if (new_key) {
    Stmt& s = db_->Prepare("INSERT OR IGNORE INTO incarnations(name, public_key) VALUES(?, ?)");
    s.Bind(1, h.origin).BindBlob(2, *key);
    BOSAI_RETURN_IF_ERROR(s.Run());
  }
  Stmt& s =
      db_->Prepare("INSERT INTO blocks(stream, first_seq, last_seq, data) VALUES(?, ?, ?, ?)");
  s.Bind(1, stream).Bind(2, int64_t(h.first_seq)).Bind(3, int64_t(h.last_seq()));
  s.BindBlobView(4, block);
  BOSAI_RETURN_IF_ERROR(s.Run());
  Stmt& u = db_->Prepare("UPDATE streams SET last_seq = ?, tip = ? WHERE id = ?");
  u.Bind(1, int64_t(h.last_seq())).BindBlobView(2, BlockSignature(block)).Bind(3, stream);
  return u.Run();
}

// ---------------------------------------------------------------------------------------------
// Checks

namespace {

// The replicated state, in the order the state hash reads it: each section's name, the label
// hashed before its rows (none before the records, for hashes made before sections had names)
// and its rows.
struct StateSection {
  const char* name;
  const char* label;
  const char* sql;
};
constexpr StateSection kStateSections[] = {
    {"record", "",
     "SELECT k.entity, k.key, record_body(r.body, k.key) FROM record_keys k JOIN records r "
     "ON r.id = k.record ORDER BY k.entity, k.key"},
    {"sibling", "siblings",
     "SELECT x.entity, x.key, x.field, t.incarnation, x.seq, x.value FROM siblings x "
     "JOIN streams t ON t.id = x.stream ORDER BY x.entity, x.key, x.field, t.incarnation, x.seq"},
    {"event", "events",
     "SELECT e.entity, e.key, t.incarnation, t.scope, e.seq, e.body FROM events e "
     "JOIN streams t ON t.id = e.stream ORDER BY e.entity, e.key, t.incarnation, t.scope, e.seq"},
};

}  // namespace

// The records section of the state hash, as its SQL reads it (kStateSections[0]) but not at the
// cost of a random read of `records` for each record: a register's records are stored in the
// order of its file, and its keys are in no such order. The keys are read in order a chunk at
// a time, and the chunk's rows in row-id order, so that each page of `records` is read once
// per chunk rather than once per record on it.
Status Store::HashRecords(Sha256& h) {
  const size_t chunk_records = std::max<size_t>(1, options_.hash_chunk_records);
  const size_t chunk_bytes = options_.hash_chunk_bytes;
  constexpr size_t kNoRow = SIZE_MAX;      // the join would skip the key
  constexpr size_t kLater = SIZE_MAX - 1;  // read as it is hashed
  struct Entry {
    int64_t entity;
    int64_t id;
    size_t key_at, key_size;  // in `bytes`
    size_t body_at = kNoRow, body_size = 0;
    bool blob = false;
  };
  std::vector<Entry> chunk;
  std::vector<uint32_t> by_id;
  std::string bytes;  // the chunk's keys, then its stored bodies
  std::string buffer;
  Stmt& keys = db_->Prepare("SELECT entity, key, record FROM record_keys ORDER BY entity, key");
  Stmt& rows = db_->Prepare("SELECT body FROM records WHERE id = ?");
  // Appends the stored body of E to `bytes`.
  auto read = [&](Entry& e) -> Status {
    rows.Bind(1, e.id);
    if (rows.Step()) {
      const std::string_view body = rows.Blob(0);
      e.body_at = bytes.size();
      e.body_size = body.size();
      e.blob = rows.IsBlob(0);
      bytes += body;
    }
    Status read = rows.status();
    rows.Reset();
    return read;
  };
  Status st;
  for (bool more = true; more && st.ok();) {
    chunk.clear();
    bytes.clear();
    while (chunk.size() < chunk_records && (more = keys.Step())) {
      const std::string_view key = keys.Text(1);
      chunk.push_back({keys.Int(0), keys.Int(2), bytes.size(), key.size()});
      bytes += key;
    }
    if (!(st = keys.status()).ok()) break;
    by_id.resize(chunk.size());
    std::iota(by_id.begin(), by_id.end(), 0u);
    std::sort(by_id.begin(), by_id.end(),
              [&](uint32_t a, uint32_t b) { return chunk[a].id < chunk[b].id; });
    const size_t keys_size = bytes.size();
    for (uint32_t i : by_id) {
      if (bytes.size() - keys_size >= chunk_bytes) {
        chunk[i].body_at = kLater;
      } else if (!(st = read(chunk[i])).ok()) {
        break;
      }
    }
    const size_t held_size = bytes.size();
    for (size_t i = 0; i < chunk.size() && st.ok(); ++i) {
      Entry& e = chunk[i];
      if (e.body_at == kLater) {
        bytes.resize(held_size);  // without the body of the one before read so
        if (!(st = read(e)).ok()) break;
      }
      if (e.body_at == kNoRow) continue;
      const std::string_view key = std::string_view(bytes).substr(e.key_at, e.key_size);
      std::string_view body = std::string_view(bytes).substr(e.body_at, e.body_size);
      if (e.blob) {  // as record_body() decodes it
        Result<std::string_view> decoded = DecodeBody(key, body, buffer);
        st = decoded.status();
        if (!st.ok()) break;
        body = *decoded;
      }
      h.UpdateInt(uint64_t(e.entity));
      h.UpdateField(key);
      h.UpdateField(body);
    }
  }
  keys.Reset();
  return st;
}

Result<std::string> Store::StateHash() {
  ReadSnapshot snapshot(*db_);
  Sha256 h;
  h.Update("bosai-state-v1");
  for (const StateSection& section : kStateSections) {
    // Every row: integers as 8 bytes, other values length-prefixed.
    h.Update(section.label);
    if (&section == &kStateSections[0]) {
      BOSAI_RETURN_IF_ERROR(HashRecords(h));
      continue;
    }
    Stmt& s = db_->Prepare(section.sql);
    while (s.Step()) {
      for (int col = 0; col < s.ColumnCount(); ++col) {
        if (s.IsInteger(col)) {
          h.UpdateInt(uint64_t(s.Int(col)));
        } else {
          h.UpdateField(s.Blob(col));
        }
      }
    }
    Status st = s.status();
    s.Reset();
    BOSAI_RETURN_IF_ERROR(st);
  }
  return ToHex(h.Final());
}

Status Store::DumpState(const std::function<Status(const StateRow&)>& sink) {
  ReadSnapshot snapshot(*db_);
  StateRow row;
  for (const StateSection& section : kStateSections) {
    row.section = section.name;
    Stmt& s = db_->Prepare(section.sql);
    Status st;
    while (st.ok() && s.Step()) {
      row.columns.clear();
      for (int col = 0; col < s.ColumnCount(); ++col) {
        if (s.IsInteger(col)) {
          row.columns.push_back(std::to_string(s.Int(col)));
        } else if (s.IsBlob(col)) {
          row.columns.push_back(ToHex(s.Blob(col)));
        } else {
          row.columns.emplace_back(s.Text(col));
        }
      }
      st = sink(row);
    }
    if (st.ok()) st = s.status();
    s.Reset();
    BOSAI_RETURN_IF_ERROR(st);
  }
  return Status::Ok();
}

namespace {

// A row (a, value, record) of record_index or record_keys as bytes for a MultisetDigest, its
// value a text or a number.
std::string_view DigestRow(int64_t a, std::optional<std::string_view> text, int64_t num,
                           int64_t record, std::string& out) {
  auto put = [&out](int64_t v) {
    for (int i = 0; i < 8; ++i) out += char(uint64_t(v) >> (8 * i));
  };
  out.clear();
  put(a);
  if (text) {
    out += 't';
    out += *text;
  } else {
    out += 'n';
    put(num);
  }
  put(record);
  return out;
}

}  // namespace

// record_index holds exactly the entries that the records' bodies give, and record_keys the
// records' keys. Each side is read once, in order, into a digest; only when the digests differ
// are the entries looked up one by one (random reads) to count and name what is missing.
Status Store::CheckRecordIndex(DoctorReport& report) {
  // An index made by another indexer (a store of an older bosai opened to read only) differs
  // from what this one would make, by design: it is made again when next opened to write.
  BOSAI_ASSIGN_OR_RETURN(std::optional<uint64_t> indexed_by, IndexedByIfIntact());
  const bool check_index = !options_.indexer || indexed_by == options_.indexer_version;
  if (!check_index) {
    report.warnings.push_back(fmt::format(
        "the search index was made by another version of bosai (indexer {}, this one's {}): "
        "not checked; searches read it as it is until the data dir is next opened to write, "
        "which makes it again",
        indexed_by ? std::to_string(*indexed_by) : "unknown", options_.indexer_version));
  }
  const MultisetDigest::Key key = MultisetDigest::NewKey();
  MultisetDigest expected_entries(key), held_entries(key), expected_keys(key), held_keys(key);
  std::string row;
  {
    BOSAI_ASSIGN_OR_RETURN(
        Stmt s, db_->PrepareOnce("SELECT id, entity, key, body, idx_text2 FROM records"));
    std::string buffer;
    // A damaged dictionary fails every record compressed against it: the first few are named,
    // the rest counted.
    constexpr uint64_t kUnreadableNamed = 20;
    uint64_t unreadable = 0, names_differ = 0;
    std::string first_name_differs;
    while (s.Step()) {
      const int64_t id = s.Int(0), entity = s.Int(1);
      expected_keys.Add(DigestRow(entity, s.Text(2), 0, id, row));
      if (!options_.indexer) continue;
      Result<std::string_view> body = DecodeBody(s.Text(2), s.Blob(3), buffer);
      if (!body.ok()) {
        if (unreadable++ < kUnreadableNamed) report.problems.push_back(body.status().message());
        continue;
      }
      if (!check_index) continue;
      const IndexColumns ix = options_.indexer(uint32_t(entity), *body);
      std::optional<std::string_view> name;
      if (!s.IsNull(4)) name = s.Text(4);
      if (ix.text2 != name && names_differ++ == 0) first_name_differs = std::string(s.Text(2));
      for (const IndexEntry& e : IndexEntries(ix)) {
        expected_entries.Add(DigestRow(int64_t(e.kind), e.text, e.num, id, row));
      }
    }
    BOSAI_RETURN_IF_ERROR(s.status());
    if (unreadable > kUnreadableNamed) {
      report.problems.push_back(
          fmt::format("{} more records cannot be read", unreadable - kUnreadableNamed));
    }
    if (names_differ > 0) {
      report.problems.push_back(
          fmt::format("records: {} folded names for search differ from their bodies' (first: "
                      "record {})",
                      names_differ, first_name_differs));
    }
  }
  if (check_index) {
    BOSAI_ASSIGN_OR_RETURN(Stmt s,
                           db_->PrepareOnce("SELECT kind, value, record FROM record_index"));
    while (s.Step()) {
      std::optional<std::string_view> text;
      if (!s.IsInteger(1)) text = s.Text(1);
      held_entries.Add(DigestRow(s.Int(0), text, s.IsInteger(1) ? s.Int(1) : 0, s.Int(2), row));
    }
    BOSAI_RETURN_IF_ERROR(s.status());
  }
  {
    BOSAI_ASSIGN_OR_RETURN(Stmt s, db_->PrepareOnce("SELECT entity, key, record FROM record_keys"));
    while (s.Step()) held_keys.Add(DigestRow(s.Int(0), s.Text(1), 0, s.Int(2), row));
    BOSAI_RETURN_IF_ERROR(s.status());
  }
  // record_keys holds each record's key, kept by records_keyed.
  BOSAI_ASSIGN_OR_RETURN(
      Stmt trigger,
      db_->PrepareOnce(
          "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'records_keyed'"));
  if (trigger.Step() && trigger.Int(0) != 1) {
    report.problems.push_back("record_keys: the trigger is missing");
  }
  BOSAI_RETURN_IF_ERROR(trigger.status());
  if (!(expected_keys == held_keys)) BOSAI_RETURN_IF_ERROR(FindKeyDifferences(report));
  if (!(expected_entries == held_entries)) BOSAI_RETURN_IF_ERROR(FindIndexDifferences(report));
  return Status::Ok();
}

Status Store::FindKeyDifferences(DoctorReport& report) {
  BOSAI_ASSIGN_OR_RETURN(
      Stmt keys,
      db_->PrepareOnce(
          "SELECT (SELECT count(*) FROM records r WHERE NOT EXISTS(SELECT 1 FROM record_keys k "
          "WHERE k.entity = r.entity AND k.key = r.key AND k.record = r.id)), "
          "(SELECT count(*) FROM record_keys) - (SELECT count(*) FROM records)"));
  if (keys.Step()) {
    if (keys.Int(0) != 0) {
      report.problems.push_back(fmt::format("record_keys: {} records missing", keys.Int(0)));
    }
    if (keys.Int(0) + keys.Int(1) != 0) {
      report.problems.push_back(
          fmt::format("record_keys: {} keys of no record", keys.Int(0) + keys.Int(1)));
    }
  }
  return keys.status();
}

Status Store::FindIndexDifferences(DoctorReport& report) {
  uint64_t expected = 0, missing = 0;
  std::string first;
  if (options_.indexer) {
    BOSAI_ASSIGN_OR_RETURN(Stmt s, db_->PrepareOnce("SELECT id, entity, key, body FROM records"));
    BOSAI_ASSIGN_OR_RETURN(
        Stmt has,
        db_->PrepareOnce("SELECT 1 FROM record_index WHERE kind = ? AND value = ? AND record = ?"));
    std::string buffer;
    while (s.Step()) {
      Result<std::string_view> body = DecodeBody(s.Text(2), s.Blob(3), buffer);
      if (!body.ok()) continue;  // named by CheckRecordIndex
      for (const IndexEntry& e : IndexEntries(options_.indexer(uint32_t(s.Int(1)), *body))) {
        ++expected;
        has.Bind(1, int64_t(e.kind));
        if (e.text) {
          has.Bind(2, *e.text);
        } else {
          has.Bind(2, e.num);
        }
        has.Bind(3, s.Int(0));
        bool found = has.Step();
        BOSAI_RETURN_IF_ERROR(has.status());
        has.Reset();
        if (!found && missing++ == 0) first = std::string(s.Text(2));
      }
    }
    BOSAI_RETURN_IF_ERROR(s.status());
  }
  BOSAI_ASSIGN_OR_RETURN(Stmt n, db_->PrepareOnce("SELECT count(*) FROM record_index"));
  n.Step();
  auto held = uint64_t(n.Int(0));
  if (missing > 0) {
    report.problems.push_back(
        fmt::format("record_index: {} entries missing (first: record {})", missing, first));
  }
  if (held != expected - missing) {
    report.problems.push_back(
        fmt::format("record_index: {} entries no record gives", held - (expected - missing)));
  }
  return n.status();
}

// The doctor's replay builds records in more passes than a first sync: it runs beside the live
// store's own cache, on a node that is in use.
constexpr uint64_t kDoctorPassBytes = uint64_t(32) << 20;

// The share of a doctor's time each of its steps takes (on a 1,000,000-resident register), for
// its progress: SQLite's check, the replay of the blocks, the replay's records built, both
// states hashed, the record index checked.
constexpr double kDoctorChecked = 0.16, kDoctorReplayed = 0.21, kDoctorBuilt = 0.50,
                 kDoctorHashed = 0.89;

Result<DoctorReport> Store::Doctor(const std::string& scratch_path,
                                   const DoctorProgress& progress) {
  auto step = [&](double fraction, std::string_view what) {
    if (progress) progress(fraction, what);
  };
  ReadSnapshot snapshot(*db_);  // other processes may keep writing meanwhile
  DoctorReport report;
  step(0, "checking the database file");
  {
    BOSAI_ASSIGN_OR_RETURN(Stmt s, db_->PrepareOnce("PRAGMA integrity_check"));
    while (s.Step()) {
      if (s.Text(0) != "ok") report.problems.push_back(fmt::format("sqlite: {}", s.Text(0)));
    }
    BOSAI_RETURN_IF_ERROR(s.status());
  }
  BOSAI_RETURN_IF_ERROR(LoadStreams());
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> bootstrap, GetMeta("bootstrap"));
  if (bootstrap) {
    report.problems.push_back(
        "a first sync is bootstrapping this node: its records appear when it has caught up");
    return report;
  }
  // What follows reads each block and record once or twice, in scans: a large page cache would
  // keep them for nothing (here and in the replay).
  SmallCache small_cache(*db_);
  {
    BOSAI_ASSIGN_OR_RETURN(Stmt s, db_->PrepareOnce("SELECT count(*) FROM records"));
    s.Step();
    report.records = uint64_t(s.Int(0));
    BOSAI_RETURN_IF_ERROR(s.status());
  }

  // Replay every block into a scratch store: the materialized state must come out the same. The
  // replay is a bootstrap (blocks verified and stored, then every record built once from all
  // its ops), as a new node's first sync is: the merge tests hold it to the state that applying
  // the blocks one by one builds, and it takes a fraction of the time.
  // One doctor at a time per scratch store: a second would remove the first one's files. The
  // lock outlives the scratch files, so that a doctor killed midway leaves only files that the
  // next one removes.
  HeldLock lock(TryLockFile(scratch_path + "-lock"));
  if (!lock.held()) {
    return Status::Busy(
        fmt::format("{}: another bosai doctor is using it; try again when it ends", scratch_path));
  }
  auto remove_scratch = [&] {
    for (const char* suffix : {"", "-wal", "-shm", "-journal", "-bootstrap"}) {
      std::filesystem::remove(scratch_path + suffix);
    }
  };
  remove_scratch();
  Options opts;
  opts.clock = options_.clock;
  opts.bootstrap_pass_bytes = kDoctorPassBytes;
  BOSAI_ASSIGN_OR_RETURN(std::unique_ptr<Store> replay, Store::Open(scratch_path, opts));
  auto replay_cache = std::make_unique<SmallCache>(replay->db());
  BOSAI_RETURN_IF_ERROR(replay->db().Exec("PRAGMA synchronous=OFF"));
  BOSAI_ASSIGN_OR_RETURN(bool bootstrapping, replay->BeginBootstrap());
  if (!bootstrapping) {
    return Status::Busy(fmt::format("{}: in use by another doctor", scratch_path));
  }
  BOSAI_RETURN_IF_ERROR(replay->BeginWrite("doctor"));
  KeyLookup keys = [this](const std::string& inc) -> std::optional<std::string> {
    auto k = PublicKey(inc);
    return k.ok() ? *k : std::nullopt;
  };
  uint64_t total_ops = 0;
  for (uint32_t id = 1; id < streams_.size(); ++id) total_ops += streams_[id].last_seq;
  step(kDoctorChecked, "replaying the op-log");
  for (uint32_t id = 1; id < streams_.size(); ++id) {
    const StreamInfo& info = streams_[id];
    BOSAI_ASSIGN_OR_RETURN(Stmt s,
                           db_->PrepareOnce("SELECT first_seq, last_seq, data FROM blocks WHERE "
                                            "stream = ? ORDER BY first_seq, last_seq DESC"));
    s.Bind(1, id);
    uint64_t cursor = 0;
    std::string name = fmt::format("stream {} {}", info.id.incarnation, info.id.scope);
    std::string last_signature;
    while (s.Step()) {
      auto first = uint64_t(s.Int(0));
      auto last = uint64_t(s.Int(1));
      ++report.blocks;
      if (first > cursor + 1) {
        report.problems.push_back(fmt::format("{}: op-log gap after seq {}", name, cursor));
        break;
      }
      Status st = replay->ApplyBlockInTransaction(s.Blob(2), keys);
      if (!st.ok()) {
        report.problems.push_back(fmt::format("{}: {}", name, st.message()));
        break;
      }
      if (last > cursor) {
        report.ops += last - std::max(cursor, first - 1);
        cursor = last;
        last_signature = BlockSignature(s.Blob(2));
      }
      step(kDoctorChecked + (kDoctorReplayed - kDoctorChecked) * double(report.ops) /
                                double(std::max<uint64_t>(total_ops, 1)),
           "replaying the op-log");
    }
    BOSAI_RETURN_IF_ERROR(s.status());
    if (cursor != info.last_seq) {
      report.problems.push_back(
          fmt::format("{}: vector says seq {}, op-log holds {}", name, info.last_seq, cursor));
    } else if (cursor > 0) {
      // The tip a Hello sends: another one would make peers take this node for a fork.
      BOSAI_ASSIGN_OR_RETURN(
          std::optional<std::string> tip,
          FirstValue(db_->Prepare("SELECT tip FROM streams WHERE id = ?").Bind(1, int64_t(id))));
      if (tip.value_or("") != last_signature) {
        report.problems.push_back(fmt::format(
            "{}: the tip kept for seq {} is not its last block's signature", name, cursor));
      }
    }
  }
  BOSAI_RETURN_IF_ERROR(replay->CommitWrite());
  step(kDoctorReplayed, "building the replay's records");
  BOSAI_RETURN_IF_ERROR(replay->EndBootstrap());
  step(kDoctorBuilt, "comparing the records with the replay's");
  // The replay's hash on another thread (the scratch store is used by nothing else meanwhile),
  // the live store's on this one.
  auto replay_hash = std::async(std::launch::async, [&replay] { return replay->StateHash(); });
  Result<std::string> live = StateHash();
  BOSAI_ASSIGN_OR_RETURN(std::string replayed, replay_hash.get());
  if (!live.ok()) {
    report.problems.push_back(
        fmt::format("materialized state cannot be read: {}", live.status().message()));
  } else if (*live != replayed) {
    report.problems.push_back(
        "materialized state differs from a replay of the op-log (state hash mismatch)");
  }
  replay_cache.reset();
  replay.reset();  // its memory and its files are not needed for the rest
  remove_scratch();
  step(kDoctorHashed, "checking the record index");
  BOSAI_RETURN_IF_ERROR(CheckRecordIndex(report));
  step(1, "done");
  return report;
}

}  // namespace bosai
