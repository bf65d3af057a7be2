// The record store of one node: SQLite database with the signed op-log, version vector,
// materialized records (field merge with causal contexts), conflict records, events, state hash
// and integrity check (DESIGN §4).
//
// Every change is an op appended to the op-log in the same transaction that updates the
// materialized tables; local ops and remote blocks go through the same materializer, so a node's
// state depends only on the set of ops it holds, never on their order of arrival.
//
// Not thread-safe: a Store owns one SQLite connection and belongs to the thread that opened it.
// Several processes may open the same file; writers serialize on SQLite's lock (BEGIN IMMEDIATE
// with a busy timeout).
#pragma once

#include <google/protobuf/arena.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "bosai/v1/ops.pb.h"
#include "storage/block.h"
#include "storage/crypto.h"
#include "storage/db.h"
#include "storage/fields.h"
#include "storage/flat_map.h"
#include "storage/hlc.h"
#include "storage/ids.h"
#include "storage/record_codec.h"
#include "storage/record_index.h"
#include "storage/status.h"
#include "storage/workers.h"

namespace bosai {

// A stream is what one incarnation writes in one scope.
struct StreamId {
  std::string incarnation;
  std::string scope;
  auto operator<=>(const StreamId&) const = default;
};
// What is said of a node that wrote again after its data dir was put back from an older copy
// or copied to another computer (a fork of its streams): WHO is "this node" (SELF) or its
// incarnation, EVIDENCE what shows it.
std::string PutBackMessage(std::string_view who, bool self, std::string_view evidence);
// Knowledge of a node: stream -> highest contiguous sequence number held.
using VersionVector = std::map<StreamId, uint64_t>;
// The ops a node holding VV holds (its streams are gap-free from 1).
inline uint64_t OpsIn(const VersionVector& vv) {
  uint64_t ops = 0;
  for (const auto& [stream, seq] : vv) ops += seq;
  return ops;
}

// The dot of a value: which op wrote it. Its scope is the scope of the field's stream.
struct Dot {
  std::string incarnation;
  uint64_t seq = 0;
  bool operator==(const Dot&) const = default;
};

struct FieldVersion {
  Dot dot;
  std::string scope;
  uint64_t hlc = 0;
  std::string value;  // the field's protobuf encoding; empty when cleared
};

// Two concurrent writes of different values to one field: `shown` wins on every node by
// (hlc, incarnation); `other` is kept until an officer resolves it.
struct Conflict {
  std::string id;  // deterministic: hash of (entity, key, field, other's dot)
  uint32_t entity = 0;
  std::string key;
  uint32_t field = 0;
  FieldVersion shown;
  FieldVersion other;
};

using Indexer = std::function<IndexColumns(uint32_t entity, std::string_view body)>;

// The identity of the local incarnation, needed to write.
struct Identity {
  std::string node_id;
  int64_t epoch = 0;
  SigningKey key;
  std::string incarnation() const;
};

// Public key of an origin incarnation, from the trust the caller holds; nullopt if unknown.
using KeyLookup = std::function<std::optional<std::string>(const std::string& incarnation)>;
// Whether an origin incarnation holds write scope for a scope (from its node certificate).
using WriteScopeCheck =
    std::function<bool(const std::string& incarnation, const std::string& scope)>;

struct DoctorReport {
  std::vector<std::string> problems;  // empty when healthy
  std::vector<std::string> warnings;  // what is not damage but wants attention
  uint64_t blocks = 0;
  uint64_t ops = 0;
  uint64_t records = 0;
  bool ok() const { return problems.empty(); }
};

class Store {
 public:
  struct Options {
    Clock* clock = SystemClock::Get();
    Indexer indexer;  // may be empty: no index entries
    // The indexer's rules, numbered: when they change (a search fold that folds more), the
    // first process that opens a store to write makes its index again (RefreshIndex).
    uint32_t indexer_version = 1;
    uint32_t block_ops = kMaxBlockOps;  // ops per block before it is closed
    // Ops a bootstrap holds in memory at once, as encoded bytes; more make several passes.
    // 96 MiB keeps a first sync's peak memory near a first import's (`ops/bench sync`:
    // peak_rss_mb), at about the speed of fewer, larger passes.
    uint64_t bootstrap_pass_bytes = uint64_t(96) << 20;
    // Index entries a first import or a bootstrap sorts in memory; more go to sorted runs.
    uint64_t index_build_bytes = uint64_t(8) << 20;
    // Records the state hash reads at once in row-id order (HashRecords), and the bytes of their
    // bodies it holds at most (the rest of a chunk's are read one by one).
    uint64_t hash_chunk_records = 1 << 16;
    uint64_t hash_chunk_bytes = uint64_t(32) << 20;
    // Opens an existing store without writing to it (Db::Open): a write fails, saying so.
    bool read_only = false;
    // On a disk too full to open the store as usual, opens it to read, for this process alone
    // (Db::Open): for a command that ends soon, not for a daemon.
    bool alone_if_disk_full = false;
  };

  static Result<std::unique_ptr<Store>> Open(const std::string& path, Options options);
  ~Store();
  // The database file, for a second connection (a reader on another thread).
  const std::string& path() const { return path_; }

  // Sets who writes. The incarnation's public key is recorded so that its blocks verify.
  Status SetIdentity(Identity identity);
  const std::optional<Identity>& identity() const { return identity_; }

  // How far the wall clock is behind the latest stamp this store has issued or seen (its HLC's
  // high-water mark), in milliseconds; 0 when it is not behind. Writes go on regardless: their
  // stamps follow the high-water mark (DESIGN §4).
  int64_t ClockLagMillis() const;
  uint64_t high_water() const { return hlc_.high_water(); }  // the HLC's latest stamp

  // Node-local settings (not replicated).
  Result<std::optional<std::string>> GetMeta(std::string_view key);
  // A meta value written as a decimal number; a value that is not one is an error naming it.
  Result<std::optional<uint64_t>> GetMetaNumber(std::string_view key);
  Status SetMeta(std::string_view key, std::string_view value);
  // The version of the indexer that made record_index (meta "indexer_version"), if recorded; a
  // damaged value is an error that names it. A store opened to write makes its index again when
  // this is not its own indexer's (Options::indexer_version), damaged included.
  Result<std::optional<uint64_t>> IndexedBy();

  // While it lives, the page cache of DB (the store's connection, db()) is made small: for a
  // long write or scan that reads each record once, in order or not (a bulk write, a bootstrap,
  // a re-import, doctor, the scan of every household), whose pages a large cache would keep for
  // nothing.
  class SmallCache {
   public:
    explicit SmallCache(Db& db);
    ~SmallCache();
    SmallCache(const SmallCache&) = delete;
    SmallCache& operator=(const SmallCache&) = delete;

   private:
    Db& db_;
    std::optional<int64_t> before_;
  };

  // ---- Writing. One transaction: BeginWrite, any number of Put/AppendEvent, CommitWrite.
  // Acknowledge nothing before CommitWrite returns Ok: only then is it durable.
  Status BeginWrite(std::string author);
  // Writes the given fields of a record in `scope`; each write names, as its causal context, the
  // dots of the value it overwrites (plus `resolves`, dots of conflicting values it settles).
  Status Put(std::string_view scope, uint32_t entity, std::string_view key, const FieldMap& fields,
             v1::OpSource source = v1::OP_SOURCE_USER,
             const std::vector<std::pair<uint32_t, Dot>>& resolves = {});
  // One record written in several scopes at once (e.g. a resident and its My Number): one op
  // per scope, one materialization.
  struct ScopedFields {
    std::string scope;
    FieldMap fields;
    // Fields whose writer did not see the value shown (a register import over a node's edit of
    // what the register said before): the write names no dot of the field, so it is concurrent
    // with the value shown, and the merge keeps the one it does not show as a conflict.
    std::vector<uint32_t> unseen = {};
  };
  Status PutScoped(uint32_t entity, std::string_view key, const std::vector<ScopedFields>& groups,
                   v1::OpSource source);
  // The same for a record the caller asserts does not exist yet (a first import), each scope's
  // fields encoded as in a record body (a serialized message): the store skips reading the
  // record and fails if it does exist.
  struct EncodedFields {
    std::string_view scope;
    std::string_view fields;
  };
  Status PutNew(uint32_t entity, std::string_view key, const std::vector<EncodedFields>& groups,
                v1::OpSource source);
  Status AppendEvent(std::string_view scope, uint32_t entity, std::string_view key,
                     std::string_view body);
  Status CommitWrite();
  void AbortWrite();
  bool writing() const { return writing_; }
  // Ops written by the current transaction so far.
  uint64_t pending_ops() const { return pending_ops_; }

  // Bulk path for a first import, inside one write transaction: the keys of new records and
  // their index entries are gathered and appended to record_keys and record_index in order by
  // EndBulk() (a sort instead of a million random B-tree inserts). A record put twice fails
  // EndBulk. Meanwhile only PutNew and AppendEvent may write, and nothing reads records.
  Status BeginBulk();
  Status EndBulk();

  // For one large write transaction (a first import, a bootstrap), outside any transaction:
  // leaves WAL mode for a rollback journal, where the pages new to the file are written once
  // instead of twice (to the log, then by the checkpoint), as durably. SQLite refuses when
  // another connection has the store open (or on any error): false, nothing changed. Meanwhile
  // other processes wait for the lock (busy timeout) instead of reading. RestoreWal() goes back
  // to WAL mode, as does any later open.
  bool UseRollbackJournal();
  Status RestoreWal();

  // Bootstrap, the bulk path of a new node's first sync (DESIGN §4). BeginBootstrap, on a store
  // that holds no records or events yet, marks the store: from
  // then on, remote blocks are verified, stored and acknowledged as usual but not materialized.
  // EndBootstrap then builds every record in memory from all its ops and writes it once, and
  // appends the index entries in order: no record is read, merged and rewritten per op.
  // Returns whether the store is bootstrapping (false when it holds records, or when another
  // process is bootstrapping it). The mark survives a crash: whoever opens the store next finishes
  // the bootstrap, unless the process that began it is still running. A local write finishes it
  // first. Meanwhile queries see no records. Not inside a write transaction.
  Result<bool> BeginBootstrap();
  Status EndBootstrap();

  // ---- Reading materialized state. SQL that reads records.body directly reads it through the
  // function record_body(body, key), which decodes its stored form (storage/record_codec.h); a
  // body that cannot be decoded fails the statement with Status::Corruption naming the record.
  Result<std::optional<std::string>> GetBody(uint32_t entity, std::string_view key);
  // The current value and every concurrent value of a field (shown first). Empty if never written.
  Result<std::vector<FieldVersion>> GetFieldVersions(uint32_t entity, std::string_view key,
                                                     uint32_t field);
  // A record's current fields, and which of them a register import wrote.
  struct RecordState {
    FieldMap body;
    // The fields with a value or a clearing write, each with whether its shown value came from a
    // register import.
    FlatMap<uint32_t, bool> written;
    bool FromRegister(uint32_t field) const {
      auto it = written.find(field);
      return it != written.end() && it->second;
    }
  };
  Result<std::optional<RecordState>> GetRecord(uint32_t entity, std::string_view key);
  // The value a register import last wrote to a field, when an edit on a node has overwritten it.
  Result<std::optional<std::string>> GetRegisterBase(uint32_t entity, std::string_view key,
                                                     uint32_t field);
  Result<uint64_t> CountRecords(uint32_t entity);

  // Every open conflict; those of one kind of record when ENTITY is not 0; those of one record
  // when KEY is given too.
  Result<std::vector<Conflict>> ListConflicts(uint32_t entity = 0, std::string_view key = {});
  Result<std::optional<Conflict>> GetConflict(std::string_view id);
  // A conflict no longer open, and the write that settled it: the first, by HLC, that names the
  // value the conflict set aside (an officer's resolution, or a later edit that saw that value).
  struct Settlement {
    uint32_t entity = 0;
    std::string key;
    uint32_t field = 0;
    FieldVersion other;       // the value set aside (its value and HLC when other_held)
    bool other_held = false;  // this node holds its write (it may come after the settling one)
    FieldVersion settled;     // the settling write's value
    std::string author;       // the settling write's
  };
  // Reads the whole op-log; nullopt when no write names such a value (a mistyped id, or one of a
  // conflict this node never held, or one still open).
  Result<std::optional<Settlement>> FindSettlement(std::string_view id);

  // ---- Replication.
  Result<VersionVector> Vector();
  // The last block this store holds of a stream: where it ends and its signature.
  struct Tip {
    StreamId stream;
    uint64_t seq = 0;
    std::string signature;
  };
  // The tip of every stream this store holds ops of (from `streams`: no block is read).
  Result<std::vector<Tip>> Tips();
  // Calls sink with every block holding ops above `peer` in a stream that may_read allows, in
  // sequence order per stream.
  Status ReadBlocks(const VersionVector& peer, const std::function<bool(const StreamId&)>& may_read,
                    const std::function<Status(std::string_view block)>& sink);
  // The block holding op after_seq + 1 of a stream (the longest such), or nothing if this node
  // holds no op past after_seq there.
  Result<std::optional<std::string>> NextBlock(const StreamId& stream, uint64_t after_seq);
  // Verifies and applies a block from any origin (idempotent: ops already held are skipped).
  // A block that leaves a gap, fails its signature or comes from an unknown origin changes
  // nothing. Runs in the current write transaction if one is open, else in its own.
  // With may_write, a block whose origin lacks write scope for the block's scope is refused.
  Status ApplyBlock(std::string_view block, const KeyLookup& keys,
                    const WriteScopeCheck& may_write = nullptr);
  // Whether this store holds a block of STREAM that ends at LAST_SEQ and whose signature begins
  // with SIGNATURE (a whole signature, or its start). Origins sign each number once: false when
  // this store holds something under those numbers, is another block (a fork).
  Result<bool> HoldsBlock(const StreamId& stream, uint64_t last_seq, std::string_view signature);
  // The public key this store recorded for an incarnation.
  Result<std::optional<std::string>> PublicKey(const std::string& incarnation);
  // An incarnation of NODE_ID ("NODE_ID#epoch") this store recorded with another key than
  // PUBLIC_KEY, if any: a device made again under that node id with a new key.
  Result<std::optional<std::string>> IncarnationWithOtherKey(const std::string& node_id,
                                                             const std::string& public_key);

  // ---- Checks.
  // SHA-256 over records, events and conflict records, sorted (not node-local tables).
  Result<std::string> StateHash();
  // The rows the state hash reads, in its order, for finding where two nodes differ: section
  // "record" (entity, key, body), "sibling" (entity, key, field, incarnation, seq, value) or
  // "event" (entity, key, incarnation, scope, seq, body); numbers in decimal, bytes in hex.
  struct StateRow {
    std::string_view section;
    std::vector<std::string> columns;
  };
  Status DumpState(const std::function<Status(const StateRow&)>& sink);
  // integrity_check, op-log gaps and signatures, and materialized state equal to a replay.
  // PROGRESS, when set, hears the fraction done and the step under way.
  using DoctorProgress = std::function<void(double fraction, std::string_view step)>;
  Result<DoctorReport> Doctor(const std::string& scratch_path,
                              const DoctorProgress& progress = nullptr);

  Db& db() { return *db_; }

 private:
  using Stamp = ClockStamp;
  struct Record {
    uint32_t entity = 0;
    std::string key;
    bool exists = false;
    FieldMap body;
    FlatMap<uint32_t, Stamp> stamps;
    uint32_t siblings = 0;
    int64_t rowid = 0;        // in `records`, when stored
    std::string stored_body;  // as stored: what its index entries were made from
  };
  struct Sibling {
    Stamp stamp;
    std::string value;
  };
  struct StreamInfo {
    StreamId id;
    uint64_t last_seq = 0;  // including ops of the open transaction
  };
  struct EncodingBlock {
    uint32_t stream = 0;
    uint64_t first_seq = 0, last_seq = 0;
    std::future<std::string> block;
  };
  struct PendingBlock {
    std::unique_ptr<google::protobuf::Arena> arena;  // owns batch and its ops
    v1::OpBatch* batch = nullptr;
    std::unordered_map<std::string, uint32_t> peer_index;
    std::vector<uint32_t> peer_streams;  // local stream id of each peer, in this block's scope
    uint64_t first_seq = 0;
    uint64_t max_hlc = 0;
    size_t raw_bytes = 0;
  };

  explicit Store(Options options);
  Status Migrate();
  Status LoadStreams();
  // The conflicts among the siblings rows that WHERE (an SQL clause, its parameters bound by
  // BIND) chooses, in (entity, key, field, id) order.
  Result<std::vector<Conflict>> ConflictsWhere(std::string_view where,
                                               const std::function<void(Stmt&)>& bind);
  Result<uint32_t> StreamFor(const std::string& incarnation, const std::string& scope);
  bool Newer(const Stamp& a, const Stamp& b) const;  // (hlc, incarnation) order

  Result<Record> LoadRecord(uint32_t entity, std::string_view key);
  // The records' rows of the state hash, into H (StateHash).
  Status HashRecords(Sha256& h);
  Status SaveRecord(const Record& rec);
  // What a record is stored as: body, clock and index values. Reads nothing: may run on any
  // thread.
  struct RecordRow {
    std::string body;
    std::string clock;
    IndexColumns index;
  };
  RecordRow EncodeRecord(const Record& rec) const;
  // The row of a record with this body and field stamps. `fields`: the record's fields, when a
  // stamped field may be absent from the body (a cleared field); nullptr: every one is in it.
  RecordRow EncodeRow(uint32_t entity, std::string body,
                      const FlatMap<uint32_t, Stamp>& field_stamps, uint32_t siblings,
                      const FieldMap* fields) const;
  // Updates a loaded record in place (its row id and index entries stay), or inserts a new one.
  // During a bulk write, a new record is queued and inserted with others (FlushBulkRows).
  Status InsertRecord(const Record& rec, RecordRow row);
  Status FlushBulkRows();
  Result<int64_t> NextRecordId();  // after the greatest row id in `records`
  // A record a bootstrap built, to insert with row id `id` (0: nothing to insert).
  struct BuiltRecord {
    Record rec;
    RecordRow row;
    int64_t id = 0;
    bool needs_tables = false;  // its merge reads or writes tables: done again on this thread
  };
  // Inserts built records, many per statement; their row ids increase: they are appended. With
  // with_keys (records in key order, the trigger records_keyed dropped), their keys too.
  // Their bodies are compressed first (with a new dictionary made of theirs when the store has
  // none and they are many).
  Status InsertRecords(std::vector<BuiltRecord>& built, bool with_keys = false);
  // Turns a record body into its stored form: compressed when the store has a dictionary.
  void CompressBody(std::string& body) const {
    if (compressing_) body = compressing_->Compress(body);
  }
  // A stored record body decoded (into `buffer` when compressed); errors name the record.
  Result<std::string_view> DecodeBody(std::string_view key, std::string_view stored,
                                      std::string& buffer);
  // Makes the store's record dictionary from these bodies, the latest last.
  Status MakeDictionary(const std::vector<std::string_view>& samples);
  // Dictionary `id`'s bytes, checked against their digest; nullopt when there is none.
  Result<std::optional<std::string>> LoadDictionaryBytes(uint32_t id);
  // Sets compressing_ to the store's latest dictionary; makes the first one when the store
  // holds enough records and has none.
  Status LoadDictionary();
  Result<std::vector<Sibling>> LoadSiblings(const Record& rec, uint32_t field);
  Status Materialize(uint32_t stream, uint64_t seq, const v1::Op& op,
                     const std::vector<uint32_t>& peer_streams);
  // With off_thread (a bootstrap's other threads), the merge touches no table and no changing
  // member; where it would, it returns NeedsTables() and the caller does it again on the
  // store's thread. Sound in a bootstrap only: there no table holds rows of a record before its
  // ops are merged.
  Status ApplyOp(Record& rec, uint32_t stream, uint64_t seq, const v1::Op& op,
                 const std::vector<uint32_t>& peer_streams, bool off_thread = false);
  // The fields an op sets over nothing (its `set`), as ApplyOp.
  Status ApplySet(Record& rec, const Stamp& stamp, std::string_view set,
                  const std::vector<uint32_t>& peer_streams, bool off_thread);
  // Builds a local op for one scope against `rec`, materializes it into rec and queues it. The
  // writes of UNSEEN fields name no dot (ScopedFields::unseen).
  Status AppendLocalOp(Record& rec, const std::string& scope, const FieldMap& requested,
                       v1::OpSource source, const std::vector<std::pair<uint32_t, Dot>>& resolves,
                       const std::vector<uint32_t>& unseen = {});
  // A write of one field; the context is given as parallel lists (empty: overwrote nothing).
  Status ApplyFieldWrite(Record& rec, const Stamp& stamp, uint32_t field, std::string_view value,
                         const google::protobuf::RepeatedField<uint32_t>* context_peer,
                         const google::protobuf::RepeatedField<uint64_t>* context_seq,
                         const std::vector<uint32_t>& peer_streams, bool off_thread);
  static Status NeedsTables() { return Status::Busy("the merge needs the tables"); }
  // An op of a bootstrap: its head, and where its encoding is in its block's payload.
  struct OpRef {
    uint32_t entity = 0;
    uint32_t stream = 0;
    uint64_t key_hash = 0;                     // which pass takes it
    uint64_t key_prefix = 0, key_prefix2 = 0;  // for sorting
    uint64_t hlc = 0;
    uint64_t seq = 0;
    uint32_t block = 0;                                           // index of its block in the pass
    uint32_t offset = 0, size = 0, key_offset = 0, key_size = 0;  // in the payload
  };
  // A block's ops as a bootstrap needs them.
  struct BootstrapBlock {
    std::string payload;  // decompressed: an encoded v1::OpBatch
    std::vector<OpRef> ops;
    std::vector<std::string> peers;
    size_t key_common = 0;  // the length of the prefix that all its ops' keys share
    std::string_view first_key() const {
      return ops.empty() ? std::string_view()
                         : std::string_view(payload).substr(ops[0].key_offset, ops[0].key_size);
    }
  };
  // Decompresses a block of `stream` and reads the head of each op (checking the payload's
  // layout and op count), without parsing the ops in full. Reads nothing: may run on any thread.
  Result<BootstrapBlock> DecodeForBootstrap(uint32_t stream, std::string_view block) const;
  void ForgetReceived();
  // The union of field sets written over nothing (an op's `set`, each with its op's stamp), as
  // the merge concludes it: the body, fragments in field order, and each field's stamp. False
  // when two sets hold one field (a merge decides; *overlap names it); an error names a
  // malformed set.
  struct FieldSet {
    std::string_view fields;
    Stamp stamp;
  };
  static Result<bool> JoinSets(const std::vector<FieldSet>& sets, std::string& body,
                               FlatMap<uint32_t, Stamp>& stamps, uint32_t* overlap = nullptr);
  // Builds the record of refs [from, to) of a bootstrap pass when its ops only set fields and
  // no two of them set the same field (most records): it is then their union, as the merge
  // would conclude, made without splitting bodies into fields. False: use the merge.
  Result<bool> BuildUnion(const std::vector<OpRef>& refs,
                          const std::vector<const std::string*>& payloads, size_t from, size_t to,
                          BuiltRecord& b) const;
  // Builds records of a bootstrap pass, record j from refs [starts[j], starts[j + 1]), as
  // off_thread as it can.
  Result<std::vector<BuiltRecord>> BuildRecords(const std::vector<OpRef>& refs,
                                                const std::vector<const std::string*>& payloads,
                                                const std::vector<std::vector<uint32_t>>& peers,
                                                std::span<const size_t> starts, bool off_thread);
  // Closes the open block of a stream; it is encoded (compressed, signed) on another thread when
  // in_background, and stored by StoreEncoded, in order, before the commit.
  Status FlushBlock(uint32_t stream, bool in_background);
  Status StoreEncoded(size_t keep);  // stores encoded blocks until at most `keep` are pending
  // The open block of a local stream, started if needed.
  PendingBlock& Pending(uint32_t stream);
  Status QueueOp(uint32_t stream, PendingBlock& pb, v1::Op* op);
  Status FinishWrite(bool commit);
  // Writes what the database file holds to disk, on another thread (none for a store in
  // memory), while a large write goes on: the sync of its commit then finds most of it written.
  // Only an early start of what the commit does anyway: SQLite has written nothing to the file
  // that may not be made durable (a rollback journal is synced before the pages it saves). It
  // syncs the data dir's file system (syncfs): it must not open and close the database file.
  std::thread FlushInBackground() const;
  Status CheckRecordIndex(DoctorReport& report);  // part of Doctor
  // Makes record_index and the folded names of records again from the records' bodies when the
  // store's were made by another indexer_version (meta "indexer_version"), in one transaction.
  Status RefreshIndex();
  // IndexedBy, with none for a damaged value: such an index is made again, as another indexer's.
  Result<std::optional<uint64_t>> IndexedByIfIntact();
  // When CheckRecordIndex finds that record_keys or record_index differ from what the records
  // give: what is missing and what is stray.
  Status FindKeyDifferences(DoctorReport& report);
  Status FindIndexDifferences(DoctorReport& report);
  // Rebuilds every materialized table from the op-log (records, siblings, superseded,
  // register_base, events), inside the current write transaction.
  Status MaterializeAll();
  // Ends a bootstrap inside the current write transaction (no-op when not bootstrapping).
  Status FinishBootstrap();
  // An exclusive lock on <db>-bootstrap, held while this process bootstraps the store.
  bool LockBootstrap();
  void UnlockBootstrap();
  Status ApplyBlockInTransaction(std::string_view block, const KeyLookup& keys,
                                 const WriteScopeCheck& may_write = nullptr);

  // constant after construction
  Options options_;
  std::string path_;
  // Decodes stored bodies, in C++ and as the SQL function record_body (declared before db_,
  // which calls it, so that it outlives the connection).
  RecordCodec codec_;
  std::unique_ptr<Db> db_;
  std::optional<Identity> identity_;
  Hlc hlc_;

  // Records read in the order they were written (a register re-imported in its order: each
  // resident a row or two after the last, each household a few) are read by row id, near the
  // last one read of their entity, rather than through record_keys: see LoadRecord.
  struct ReadRun {
    int64_t last = 0;  // row id of the last record read
    int streak = 0;    // of reads each within kRunWindow rows after the one before
  };
  static constexpr int64_t kRunWindow = 16;
  std::map<uint32_t, ReadRun> read_runs_;  // by entity

  // owned by the current write transaction
  bool writing_ = false;
  // The dictionary new record bodies are compressed with (held by codec_), if the store has one.
  const RecordDictionary* compressing_ = nullptr;
  bool bulk_ = false;
  // During a bulk import or a bootstrap: the index entries of the records written.
  std::unique_ptr<IndexBuilder> index_builder_;
  std::unique_ptr<SmallCache> bulk_cache_;
  // From BeginBootstrap to its end: the blocks it stores are not read again until the build.
  std::unique_ptr<SmallCache> bootstrap_cache_;
  static constexpr size_t kBulkRowsPerFlush = 1024;
  // A bulk write's new records, inserted many per statement (InsertRecords); their row ids are
  // given here, from bulk_next_id_.
  std::vector<BuiltRecord> bulk_rows_;
  int64_t bulk_next_id_ = 0;
  bool bootstrapping_ = false;  // read from the store at BeginWrite
  // The blocks a bootstrap received, decoded then and kept so that EndBootstrap does not decode
  // (nor even read) them again; up to options_.bootstrap_pass_bytes of payload. By (stream,
  // first seq, last seq): a store holds one block of a range, and those of a write that is
  // rolled back are forgotten.
  using BlockRange = std::tuple<uint32_t, uint64_t, uint64_t>;
  std::map<BlockRange, BootstrapBlock> received_;
  std::vector<BlockRange> received_in_write_;  // kept by the open write
  uint64_t received_bytes_ = 0;                // past the limit, none is kept
  int bootstrap_lock_ = -1;  // fd of the bootstrap lock, while this process holds it
  std::string author_;
  std::vector<StreamInfo> streams_;  // index = local stream id
  std::map<StreamId, uint32_t> stream_index_;
  std::map<uint32_t, PendingBlock> pending_;
  std::deque<EncodingBlock> encoding_;
  uint64_t pending_ops_ = 0;
  int64_t superseded_rows_ = 0;
  int64_t register_base_rows_ = 0;
  // Encodes the full blocks of a long write (created on first use); last, so that it ends, and
  // waits for its tasks, first.
  std::unique_ptr<Workers> encoder_;
};

}  // namespace bosai
