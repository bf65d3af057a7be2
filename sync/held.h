// Blocks held back because they are stamped too far in the future (DESIGN §5, clocks). A node
// whose clock runs hours ahead would drag every other node's hybrid clock along with it; its
// blocks are kept aside, not applied, and alerted, until this node's clock catches up or an
// officer accepts that origin's skew (`bosai sync accept-skew INCARNATION`).
//
// Node-local tables in the store's database (not replicated, not in the state hash):
//   sync_held(incarnation, scope, first_seq, last_seq, max_hlc, block, held_at)
//   sync_skew_accepted(incarnation, accepted_at)
// Functions over a Store; they run on the thread that owns it.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "storage/store.h"

namespace bosai::sync {

inline constexpr int64_t kDefaultMaxOffsetMs = 60'000;

Status EnsureHeldSchema(Store& store);

// Whether a block stamped max_hlc must be held: beyond now + max_offset_ms and its origin's skew
// not accepted. max_offset_ms <= 0 disables holding.
Result<bool> MustHold(Store& store, const BlockHeader& header, int64_t now_ms,
                      int64_t max_offset_ms);

// Applies a received block, or holds it (after verifying its signature) when it is stamped too
// far ahead or an earlier block of its stream was held (`held_streams`, kept by the caller for
// one session or one bundle). Runs in the caller's write transaction. Sessions and bundle imports
// both receive blocks through this.
struct Received {
  BlockHeader header;
  bool held = false;
};
Result<Received> ApplyOrHold(Store& store, std::string_view block, const KeyLookup& keys,
                             const WriteScopeCheck& may_write, int64_t now_ms,
                             int64_t max_offset_ms, std::set<StreamId>& held_streams);

// Keeps a block aside (idempotent). Runs in the current write transaction if one is open.
Status Hold(Store& store, const BlockHeader& header, std::string_view block, int64_t now_ms);

struct HeldSummary {
  std::string incarnation;
  uint64_t blocks = 0;
  uint64_t ops = 0;
  int64_t ahead_ms = 0;  // how far the newest held stamp is ahead of now
};
Result<std::vector<HeldSummary>> ListHeld(Store& store, int64_t now_ms);

// Marks an origin's skew accepted; its held blocks are then released by ReleaseHeld.
Status AcceptSkew(Store& store, const std::string& incarnation, int64_t now_ms);

// Applies the held blocks that may now be applied (clock caught up, or skew accepted), in order,
// and drops those already held by other means. Returns the number of blocks applied.
Result<uint64_t> ReleaseHeld(Store& store, const KeyLookup& keys, const WriteScopeCheck& may_write,
                             int64_t now_ms, int64_t max_offset_ms);

}  // namespace bosai::sync
