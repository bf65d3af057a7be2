// The sync daemon's network side (DESIGN §5): sessions over TCP + TLS 1.3 with mutual
// authentication, a listener, dialled peers with jittered exponential backoff, heartbeats, a
// watchdog for stalled sessions, live push of new commits, and a status file for `sync status`.
//
// Threads (DESIGN §2): the thread that calls Run() owns the store and runs every Session (the
// transport-free state machine of sync/session.h); a second thread runs Asio for sockets, TLS and
// timers. Frames cross between them by posting; no SQLite handle crosses threads, and nothing
// blocking runs on the network thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/store.h"
#include "sync/held.h"
#include "sync/trust_store.h"

namespace bosai::sync {

struct PeerAddress {
  std::string id;       // the node id its certificate must carry; empty: any trusted node
  std::string address;  // host:port
};

struct NetOptions {
  std::string listen;              // host:port to accept sessions on; empty: no listener
  std::vector<PeerAddress> peers;  // dialled and redialled
  // One session with the single peer: Run() returns once both sides are caught up (Ok) or the
  // session fails (the error). No listener, no redial. For `bosai sync now`.
  bool once = false;
  uint32_t window = 4;
  int64_t max_offset_ms = kDefaultMaxOffsetMs;
  std::chrono::milliseconds heartbeat{5000};  // sent when nothing else was sent this long
  // Watchdog: a session that receives nothing this long while its peer acknowledges none of what
  // it sends (TCP_INFO), or a connection attempt unanswered.
  std::chrono::milliseconds stall{30000};
  std::chrono::milliseconds poll{250};           // how often new local commits are looked for
  std::chrono::milliseconds backoff_min{500};    // first redial delay
  std::chrono::milliseconds backoff_max{30000};  // cap of the doubling delay
  std::chrono::milliseconds handshake_timeout{10000};
  size_t max_inbound = 64;
  std::string status_path;  // JSON written every second while running; empty: none
  // Once mode: fraction of the ops to exchange that have been exchanged.
  std::function<void(double)> progress;
};

struct PeerStatus {
  std::string peer;     // node id, once authenticated; else the address
  std::string address;  // dialled address, or the remote endpoint of an inbound session
  bool outbound = false;
  std::string state;            // connecting, handshake, syncing, live, backoff, closed
  int64_t last_contact_ms = 0;  // Unix ms of the last frame received
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t lag_ops = 0;  // ops this node holds that the peer is not known to hold
  uint64_t blocks_sent = 0;
  uint64_t blocks_received = 0;
  uint64_t ops_received = 0;
  uint64_t blocks_held = 0;
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  std::string last_error;  // since the last session with the peer caught up
  // Streams of a third node the two hold in different forks, which this node does not send the
  // peer: what Session::CheckNotPutBack found, one message each.
  std::vector<std::string> forked;
};

class SyncService {
 public:
  // The store and trust are used only by the thread that calls Run().
  SyncService(Store& store, TrustStore& trust, NetOptions options);
  ~SyncService();
  SyncService(const SyncService&) = delete;
  SyncService& operator=(const SyncService&) = delete;

  // Serves until Stop(), SIGINT or SIGTERM (or, in once mode, the end of the session).
  Status Run();
  // Thread-safe.
  void Stop();
  // Thread-safe snapshot.
  std::vector<PeerStatus> Peers() const;
  // The port the listener is bound to (after Run() has started; 0 if none).
  uint16_t listening_port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// "host:port" or "[v6]:port".
Result<std::pair<std::string, uint16_t>> ParseAddress(const std::string& text);
// A listener's address as the daemon binds it: an IP address (not a host name) and a port.
Status CheckListenAddress(const std::string& text);
// Whether a listener could be bound there now (bound and closed at once): Busy when the port is
// taken, Invalid when the address is not this machine's.
Status ProbeListen(const std::string& text);
// Whether a peer's host ("host:port") can be looked up now, as the daemon does before each
// attempt: NotFound, naming the host and the resolver's reason, when it cannot. An IP address
// needs no lookup; a host name waits on the system's resolver.
Status ProbeResolve(const std::string& text);

}  // namespace bosai::sync
