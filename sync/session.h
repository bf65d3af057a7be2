// One sync session with a peer, as a transport-free state machine (DESIGN §5): frames in,
// frames out. The same code runs over TCP+TLS, over a bundle file, and inside the seeded
// simulator (tests/sim). Not thread-safe: a session belongs to the thread that owns its store.
//
//   1. Both sides send Hello{protocol, incarnation, vector}.
//   2. Each side sends the signed blocks above the peer's vector, one block per Blocks frame,
//      at most `window` frames unacknowledged, then Blocks{caught_up} when it has sent all.
//   3. The receiver verifies and applies each block in one durable transaction, then answers
//      Ack{vector}; the sender advances only on Ack. A new session resumes from the vectors, so
//      an interruption repeats at most one window.
//   4. Once caught up, Poll() pushes blocks committed since (live mode).
// Blocks stamped further ahead than the maximum clock offset are held (sync/held.h), not applied.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "storage/store.h"
#include "sync/frame.h"

namespace bosai::sync {
namespace v1 {
class Hello;
}

inline constexpr uint32_t kProtocolVersion = 1;
// Bytes of a block's signature a Hello's tips carry.
inline constexpr size_t kTipSignatureBytes = 16;

class Session {
 public:
  struct Options {
    uint32_t window = 4;  // unacknowledged Blocks frames
    // Streams the peer may read; empty: all (the trust issue narrows this to granted scopes).
    std::function<bool(const StreamId&)> peer_may_read;
    KeyLookup keys;                    // origin public keys for verifying received blocks
    WriteScopeCheck origin_may_write;  // refuses blocks an origin was not entrusted to write
    // Sent in Hello: this node's certificate first, then those of the origins it relays.
    std::vector<std::string> certificates;
    // Called with what CheckNotPutBack found of a third node's stream that this node and the
    // peer hold in different forks (the session goes on without that stream).
    std::function<void(const std::string& message)> on_forked;
    // Called with the peer's Hello before anything else of it is used (admit its certificates,
    // check its incarnation against the authenticated peer). An error ends the session.
    std::function<Status(const std::string& incarnation,
                         const std::vector<std::string>& certificates)>
        on_hello;
    // Blocks stamped later than now + max_offset_ms are held, not applied (<= 0: never held).
    Clock* clock = SystemClock::Get();
    int64_t max_offset_ms = 0;
  };

  Session(Store& store, Options options);

  // Frames to send first (the Hello).
  Result<std::vector<std::string>> Start();
  // Handles one received frame; returns frames to send. An error ends the session: nothing of
  // the offending frame has been applied, and the message names the frame.
  Result<std::vector<std::string>> OnFrame(const Frame& frame);
  // Handles frames received together, in order, as OnFrame would one by one, except that
  // consecutive Blocks frames share one transaction: one durable commit, then an Ack for each.
  // On an error, the frames before the bad one are applied (and their frames to send dropped).
  Result<std::vector<std::string>> OnFrames(std::span<const Frame> frames);
  // Frames for blocks committed locally since the last call (live push after catching up).
  Result<std::vector<std::string>> Poll();

  // Both directions done: everything each side had when the session began has arrived.
  bool caught_up() const { return sent_caught_up_ && acked_all() && peer_caught_up_; }
  const std::string& peer_incarnation() const { return peer_incarnation_; }
  // What the peer is known to hold (its Hello, then its Acks).
  const VersionVector& peer_vector() const { return peer_vector_; }
  uint64_t blocks_sent() const { return blocks_sent_; }
  uint64_t blocks_received() const { return blocks_received_; }
  uint64_t ops_received() const { return ops_received_; }
  uint64_t blocks_held() const { return blocks_held_; }
  // Ops this node holds that the peer is not known to hold, in streams the peer may read.
  Result<uint64_t> Lag();
  // For a progress bar: ops the two sides lacked of each other when the Hellos crossed, and ops
  // exchanged since.
  uint64_t expected_ops() const { return expected_ops_; }
  uint64_t exchanged_ops() const { return ops_received_ + ops_sent_; }

 private:
  Status Pump(std::vector<std::string>& out);
  Status OnBlocks(std::span<const Frame> frames, std::vector<std::string>& out);
  // Finds a node that wrote again after it was put back from an older copy of its data dir (or
  // copied to another computer): the peer's last block of a stream in its Hello tips is not the
  // block this node holds under those numbers (MINE: what it holds). A fork of this node's streams
  // or of the peer's ends the session; one of a third node's (relayed to each side by other paths)
  // leaves that stream out of what this node sends. (Blocks received later under numbers held are
  // refused by Store::ApplyBlock.)
  Status CheckNotPutBack(const v1::Hello& hello, const VersionVector& mine);
  // Whether the session sends the blocks of a stream: the peer may read it, and it is not forked.
  bool Sends(const StreamId& stream) const;
  // The error that ends the session: names the frame's type and the peer.
  Status BadFrame(FrameType type, const std::string& why) const;
  bool acked_all() const { return in_flight_ == 0; }

  // constant after construction
  Store& store_;
  Options options_;

  bool started_ = false;
  bool hello_received_ = false;
  std::string peer_incarnation_;
  VersionVector peer_vector_;          // what the peer is known to hold (Hello, then Acks)
  std::map<StreamId, uint64_t> sent_;  // highest seq sent per stream in this session
  uint32_t in_flight_ = 0;
  bool sent_caught_up_ = false;
  bool peer_caught_up_ = false;
  uint64_t blocks_sent_ = 0;
  uint64_t blocks_received_ = 0;
  uint64_t ops_received_ = 0;
  uint64_t ops_sent_ = 0;
  uint64_t expected_ops_ = 0;
  uint64_t blocks_held_ = 0;
  std::set<StreamId> held_streams_;  // streams with a block held in this session
  std::set<StreamId> forked_;        // a third node's streams the two hold in different forks
};

// What a peer node last acknowledged holding, kept node-locally (table sync_peer_vectors) so
// that a bundle can be exported for it (`bosai sync export --for NODE`) and its lag shown.
Status SavePeerVector(Store& store, const std::string& node_id, const VersionVector& vv,
                      int64_t now_ms);
Result<std::optional<VersionVector>> LoadPeerVector(Store& store, const std::string& node_id);

}  // namespace bosai::sync
