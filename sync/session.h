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
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "storage/store.h"
#include "sync/frame.h"

namespace bosai::sync {

inline constexpr uint32_t kProtocolVersion = 1;

class Session {
 public:
  struct Options {
    uint32_t window = 4;  // unacknowledged Blocks frames
    // Streams the peer may read; empty: all (the trust issue narrows this to granted scopes).
    std::function<bool(const StreamId&)> peer_may_read;
    KeyLookup keys;                    // origin public keys for verifying received blocks
    WriteScopeCheck origin_may_write;  // refuses blocks an origin was not entrusted to write
  };

  Session(Store& store, Options options);

  // Frames to send first (the Hello).
  Result<std::vector<std::string>> Start();
  // Handles one received frame; returns frames to send. An error ends the session: nothing of
  // the offending frame has been applied, and the message names the frame.
  Result<std::vector<std::string>> OnFrame(const Frame& frame);
  // Frames for blocks committed locally since the last call (live push after catching up).
  Result<std::vector<std::string>> Poll();

  // Both directions done: everything each side had when the session began has arrived.
  bool caught_up() const { return sent_caught_up_ && acked_all() && peer_caught_up_; }
  const std::string& peer_incarnation() const { return peer_incarnation_; }
  uint64_t blocks_sent() const { return blocks_sent_; }
  uint64_t blocks_received() const { return blocks_received_; }

 private:
  Status Pump(std::vector<std::string>& out);
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
};

}  // namespace bosai::sync
