// Held blocks; see held.h.
#include "sync/held.h"

#include <fmt/format.h>

namespace bosai::sync {

Status EnsureHeldSchema(Store& store) {
  return store.db().EnsureTables(
      {"sync_held", "sync_skew_accepted"},
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

Result<Received> ApplyOrHold(Store& store, std::string_view block, const KeyLookup& keys,
                             const WriteScopeCheck& may_write, int64_t now_ms,
                             int64_t max_offset_ms, std::set<StreamId>& held_streams) {
  Received r;
  BOSAI_ASSIGN_OR_RETURN(r.header, ParseBlockHeader(block));
  StreamId stream{r.header.origin, r.header.scope};
  BOSAI_ASSIGN_OR_RETURN(bool ahead, MustHold(store, r.header, now_ms, max_offset_ms));
  if (!ahead && !held_streams.count(stream)) {
    BOSAI_RETURN_IF_ERROR(store.ApplyBlock(block, keys, may_write));
    return r;
  }
  // Verified before it is kept: a held block must be one its origin really signed.
  BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> key, store.PublicKey(r.header.origin));
  if (!key && keys) key = keys(r.header.origin);
  if (!key) return Status::Invalid(fmt::format("unknown origin {}", r.header.origin));
  BOSAI_RETURN_IF_ERROR(VerifyBlock(block, *key));
  BOSAI_RETURN_IF_ERROR(Hold(store, r.header, block, now_ms));
  held_streams.insert(stream);
  r.held = true;
  return r;
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
  // Decide from the headers alone (the daemon calls this every poll): no block is read and no
  // write transaction is taken unless some held block can go.
  struct Action {
    BlockHeader header;
    bool apply = false;  // else: already held by other means, just forget it
  };
  std::vector<BlockHeader> held;
  {
    Stmt& q = store.db().Prepare(
        "SELECT incarnation, scope, first_seq, last_seq, max_hlc FROM sync_held"
        " ORDER BY incarnation, scope, first_seq");
    while (q.Step()) {
      BlockHeader h;
      h.origin = q.Text(0);
      h.scope = q.Text(1);
      h.first_seq = uint64_t(q.Int(2));
      h.count = uint32_t(q.Int(3) - q.Int(2) + 1);
      h.max_hlc = uint64_t(q.Int(4));
      held.push_back(std::move(h));
    }
    BOSAI_RETURN_IF_ERROR(q.status());
    q.Reset();
  }
  if (held.empty()) return uint64_t{0};
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, store.Vector());
  std::vector<Action> actions;
  for (const BlockHeader& h : held) {
    uint64_t& have = vv[{h.origin, h.scope}];
    if (h.last_seq() <= have) {
      actions.push_back({h, false});
    } else if (h.first_seq <= have + 1) {
      BOSAI_ASSIGN_OR_RETURN(bool still_ahead, MustHold(store, h, now_ms, max_offset_ms));
      if (still_ahead) continue;  // later blocks of the stream wait too (they would leave a gap)
      actions.push_back({h, true});
      have = h.last_seq();
    }
    // else: a gap before it; wait for the blocks in between
  }
  if (actions.empty()) return uint64_t{0};

  uint64_t applied = 0;
  BOSAI_RETURN_IF_ERROR(store.BeginWrite("sync:held"));
  for (const Action& a : actions) {
    const BlockHeader& h = a.header;
    Status st;
    if (a.apply) {
      Stmt& q = store.db().Prepare(
          "SELECT block FROM sync_held WHERE incarnation = ? AND scope = ? AND first_seq = ?");
      q.Bind(1, h.origin).Bind(2, h.scope).Bind(3, int64_t(h.first_seq));
      std::string block = q.Step() ? std::string(q.Blob(0)) : std::string();
      st = q.status();
      q.Reset();
      if (st.ok()) st = store.ApplyBlock(block, keys, may_write);
      if (st.ok()) ++applied;
    }
    if (st.ok()) {
      Stmt& d = store.db().Prepare(
          "DELETE FROM sync_held WHERE incarnation = ? AND scope = ? AND first_seq = ?");
      d.Bind(1, h.origin).Bind(2, h.scope).Bind(3, int64_t(h.first_seq));
      st = d.Run();
    }
    if (!st.ok()) {
      store.AbortWrite();
      return Status::Invalid(
          fmt::format("held block {}:{}@{}: {}", h.origin, h.scope, h.first_seq, st.message()));
    }
  }
  BOSAI_RETURN_IF_ERROR(store.CommitWrite());
  return applied;
}

}  // namespace bosai::sync
