// Held blocks; see held.h.
#include "sync/held.h"

#include <fmt/format.h>

namespace bosai::sync {

Status EnsureHeldSchema(Store& store) {
  return store.db().Exec(
      "CREATE TABLE IF NOT EXISTS sync_held("
      "  incarnation TEXT NOT NULL, scope TEXT NOT NULL, first_seq INTEGER NOT NULL,"
      "  last_seq INTEGER NOT NULL, max_hlc INTEGER NOT NULL, block BLOB NOT NULL,"
      "  held_at INTEGER NOT NULL, PRIMARY KEY(incarnation, scope, first_seq));"
      "CREATE TABLE IF NOT EXISTS sync_skew_accepted("
      "  incarnation TEXT PRIMARY KEY, accepted_at INTEGER NOT NULL);");
}

Result<bool> MustHold(Store& store, const BlockHeader& header, int64_t now_ms,
                      int64_t max_offset_ms) {
  if (max_offset_ms <= 0 || HlcMillis(header.max_hlc) <= now_ms + max_offset_ms) return false;
  Stmt& q = store.db().Prepare("SELECT 1 FROM sync_skew_accepted WHERE incarnation = ?");
  q.Bind(1, header.origin);
  bool accepted = q.Step();
  BOSAI_RETURN_IF_ERROR(q.status());
  q.Reset();
  return !accepted;
}

Status Hold(Store& store, const BlockHeader& header, std::string_view block, int64_t now_ms) {
  Stmt& q = store.db().Prepare(
      "INSERT OR IGNORE INTO sync_held(incarnation, scope, first_seq, last_seq, max_hlc, block,"
      " held_at) VALUES(?, ?, ?, ?, ?, ?, ?)");
  q.Bind(1, header.origin)
      .Bind(2, header.scope)
      .Bind(3, int64_t(header.first_seq))
      .Bind(4, int64_t(header.last_seq()))
      .Bind(5, int64_t(header.max_hlc))
      .BindBlob(6, block)
      .Bind(7, now_ms);
  return q.Run();
}

Result<std::vector<HeldSummary>> ListHeld(Store& store, int64_t now_ms) {
  std::vector<HeldSummary> out;
  Stmt& q = store.db().Prepare(
      "SELECT incarnation, count(*), sum(last_seq - first_seq + 1), max(max_hlc) FROM sync_held"
      " GROUP BY incarnation ORDER BY incarnation");
  while (q.Step()) {
    out.push_back({std::string(q.Text(0)), uint64_t(q.Int(1)), uint64_t(q.Int(2)),
                   HlcMillis(uint64_t(q.Int(3))) - now_ms});
  }
  BOSAI_RETURN_IF_ERROR(q.status());
  q.Reset();
  return out;
}

Status AcceptSkew(Store& store, const std::string& incarnation, int64_t now_ms) {
  Stmt& q = store.db().Prepare(
      "INSERT OR REPLACE INTO sync_skew_accepted(incarnation, accepted_at) VALUES(?, ?)");
  q.Bind(1, incarnation).Bind(2, now_ms);
  return q.Run();
}

Result<uint64_t> ReleaseHeld(Store& store, const KeyLookup& keys, const WriteScopeCheck& may_write,
                             int64_t now_ms, int64_t max_offset_ms) {
  struct Held {
    BlockHeader header;
    std::string block;
  };
  std::vector<Held> held;
  {
    Stmt& q = store.db().Prepare(
        "SELECT incarnation, scope, first_seq, last_seq, max_hlc, block FROM sync_held"
        " ORDER BY incarnation, scope, first_seq");
    while (q.Step()) {
      Held h;
      h.header.origin = q.Text(0);
      h.header.scope = q.Text(1);
      h.header.first_seq = uint64_t(q.Int(2));
      h.header.count = uint32_t(q.Int(3) - q.Int(2) + 1);
      h.header.max_hlc = uint64_t(q.Int(4));
      h.block = q.Blob(5);
      held.push_back(std::move(h));
    }
    BOSAI_RETURN_IF_ERROR(q.status());
    q.Reset();
  }
  if (held.empty()) return uint64_t{0};
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, store.Vector());
  uint64_t applied = 0;
  BOSAI_RETURN_IF_ERROR(store.BeginWrite("sync:held"));
  for (const Held& h : held) {
    StreamId stream{h.header.origin, h.header.scope};
    uint64_t& have = vv[stream];
    Status st;
    if (h.header.last_seq() > have && h.header.first_seq <= have + 1) {
      auto hold = MustHold(store, h.header, now_ms, max_offset_ms);
      if (!hold.ok()) st = hold.status();
      if (st.ok() && *hold) continue;  // still ahead; later blocks of the stream wait too
      if (st.ok()) st = store.ApplyBlock(h.block, keys, may_write);
      if (st.ok()) {
        have = h.header.last_seq();
        ++applied;
      }
    } else if (h.header.last_seq() > have) {
      continue;  // a gap before it: wait for the blocks in between
    }
    if (st.ok()) {
      Stmt& d = store.db().Prepare(
          "DELETE FROM sync_held WHERE incarnation = ? AND scope = ? AND first_seq = ?");
      d.Bind(1, h.header.origin).Bind(2, h.header.scope).Bind(3, int64_t(h.header.first_seq));
      st = d.Run();
    }
    if (!st.ok()) {
      store.AbortWrite();
      return Status::Invalid(fmt::format("held block {}:{}@{}: {}", h.header.origin, h.header.scope,
                                         h.header.first_seq, st.message()));
    }
  }
  BOSAI_RETURN_IF_ERROR(store.CommitWrite());
  return applied;
}

}  // namespace bosai::sync
