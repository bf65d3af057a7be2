// Sync over TCP + TLS; see net.h.
#include "sync/net.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "sync/frame.h"
#include "sync/log.h"
#include "sync/session.h"
#include "sync/tcp_progress.h"

namespace bosai::sync {
namespace {

using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using spdlog::level::err;
using spdlog::level::info;
using spdlog::level::warn;

int64_t UnixMillis() { return SystemClock::Get()->NowMillis(); }

// Why a connection is closed when another session with the same peer is kept.
constexpr const char* kDuplicate = "duplicate session: the peer is synced over another connection";
constexpr const char* kRestart =
    "restarting: this node learned certificates its peer has not had (they go in Hello)";

// Why a TLS handshake failed (EC, of OpenSSL's category), and what to check: a peer that does not
// speak TLS at all (another service on the port, or plain HTTP) or, else, the trust.
std::string HandshakeFailure(const std::error_code& ec) {
  const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  const bool not_tls = reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
                       reason == SSL_R_HTTPS_PROXY_REQUEST ||
                       reason == SSL_R_PACKET_LENGTH_TOO_LONG;
  return fmt::format(
      "TLS handshake failed: {} ({})", ec.message(),
      not_tls ? "the peer does not speak TLS: it is not a bosai node; check the address and port"
              : "is the peer's certificate issued by a trusted root?");
}

// A listener's endpoint: an IP address (a host name is not resolved) and a port.
Result<tcp::endpoint> ListenEndpoint(const std::string& text) {
  BOSAI_ASSIGN_OR_RETURN(auto hp, ParseAddress(text));
  asio::error_code ec;
  auto address = asio::ip::make_address(hp.first, ec);
  if (ec) {
    // Digits, dots and colons alone: meant as an IP address, and mistyped.
    const bool numeric =
        hp.first.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos &&
        hp.first.find_first_of(".:") != std::string::npos;
    return Status::Invalid(fmt::format(
        "address '{}': {}a listener needs an IP address of this machine (such as 127.0.0.1, or "
        "0.0.0.0 for all){}",
        text, numeric ? fmt::format("{} is not an IP address: ", hp.first) : "",
        numeric ? "" : ", not a host name"));
  }
  return tcp::endpoint(address, hp.second);
}

// Opens, binds and listens on ENDPOINT (TEXT as configured).
Status Listen(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, const std::string& text) {
  asio::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) return Status::Ok();
  std::string message = fmt::format("cannot listen on {}: {}", text, ec.message());
  if (ec == asio::error::address_in_use) {
    return Status::Busy(message + " (another program, or a bosai daemon, listens there)");
  }
  if (ec.value() == EADDRNOTAVAIL) {
    return Status::Invalid(message + " (it is not an address of this machine)");
  }
  return Status::IoError(message);
}

}  // namespace

Result<std::pair<std::string, uint16_t>> ParseAddress(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::Invalid(fmt::format("address '{}': expected host:port", text));
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string port_text = text.substr(colon + 1);
  int port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      return Status::Invalid(fmt::format("address '{}': port must be a number", text));
    }
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return Status::Invalid(fmt::format("address '{}': port out of range", text));
  return std::make_pair(host, uint16_t(port));
}

Status CheckListenAddress(const std::string& text) { return ListenEndpoint(text).status(); }

Status ProbeListen(const std::string& text) {
  BOSAI_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ListenEndpoint(text));
  asio::io_context io;
  tcp::acceptor acceptor(io);
  return Listen(acceptor, endpoint, text);
}

Status ProbeResolve(const std::string& text) {
  BOSAI_ASSIGN_OR_RETURN(auto hp, ParseAddress(text));
  asio::io_context io;
  tcp::resolver resolver(io);
  asio::error_code ec;
  resolver.resolve(hp.first, std::to_string(hp.second), ec);
  if (ec) return Status::NotFound(fmt::format("cannot resolve {}: {}", hp.first, ec.message()));
  return Status::Ok();
}

// Frames a connection received and the store thread has not taken yet. The network thread
// posts a task to take them only when the queue was empty, so that frames that arrive while
// the store thread is busy are taken together (and their Blocks share one commit), in the
// order of everything else it posts.
struct ReceivedFrames {
  std::mutex mu;
  std::vector<Frame> frames;
  // Adds a frame; true when the queue was empty (a task must be posted to take it).
  bool Add(Frame frame) {
    std::lock_guard lock(mu);
    frames.push_back(std::move(frame));
    return frames.size() == 1;
  }
  std::vector<Frame> Take() {
    std::lock_guard lock(mu);
    return std::exchange(frames, {});
  }
};

// One TCP+TLS connection; lives on the network thread.
struct Conn : std::enable_shared_from_this<Conn> {
  Conn(SyncService::Impl& impl, uint64_t id, asio::io_context& io, asio::ssl::context& ctx,
       bool outbound, PeerAddress peer)
      : impl(impl), id(id), stream(io, ctx), timer(io), outbound(outbound), peer(std::move(peer)) {}

  void Start();
  void Send(std::vector<std::string> frames);
  // Reports the error to the peer in an Error frame, then closes.
  void Fail(const std::string& message);
  void Close(const std::string& reason);

  SyncService::Impl& impl;
  const uint64_t id;
  asio::ssl::stream<tcp::socket> stream;
  asio::steady_timer timer;
  const bool outbound;
  PeerAddress peer;
  std::string key;  // status entry
  FrameDecoder decoder;
  std::shared_ptr<ReceivedFrames> received = std::make_shared<ReceivedFrames>();
  std::deque<std::string> queue;
  std::array<char, 64 * 1024> buffer;
  bool started = false;  // connected: Start() has run
  bool handshaken = false;
  bool writing = false;
  bool closing = false;  // close once the queue is written
  bool closed = false;
  bool reached_live = false;
  SteadyClock::time_point last_rx = SteadyClock::now();
  SteadyClock::time_point last_tx = SteadyClock::now();
  // When the peer's TCP last acknowledged more of what we were sending (Tick).
  SteadyClock::time_point last_acked = SteadyClock::now();
  TcpProgress progress;  // at the last Tick
  std::function<void(bool reached_live, const std::string& reason)> on_closed;

 private:
  void Read();
  void Write();
  void Tick();
};

struct SyncService::Impl {
  Impl(Store& store, TrustStore& trust, NetOptions options)
      : store(store),
        trust(trust),
        options(std::move(options)),
        ssl(asio::ssl::context::tls),
        poll_timer(store_io),
        status_timer(store_io),
        signals(store_io, SIGINT, SIGTERM),
        acceptor(net_io) {}

  // ---- store thread
  struct Hosted {
    std::unique_ptr<Session> session;
    NodeCertificate peer;
    std::weak_ptr<Conn> conn;
    std::string key;
    bool outbound = false;  // this node dialled
    bool live = false;
  };
  void OpenSession(uint64_t id, std::weak_ptr<Conn> conn, bool outbound, std::string key,
                   std::string pem, std::string expected);
  // Two nodes that list each other dial each other; one session per pair is kept. Returns
  // whether the new connection is the one to drop (an older one is closed otherwise).
  bool DropDuplicate(const std::string& peer_id, bool outbound);
  // Whether a session with this peer is open, in either direction.
  bool Connected(const std::string& peer_id);
  // Frames received together (see ReceivedFrames): their Blocks share one commit.
  void HandleFrames(uint64_t id, std::vector<Frame> received);
  void CloseSession(uint64_t id, const std::string& reason);
  // Ends the bootstrap too when it is the session that began it.
  void EraseSession(std::map<uint64_t, Hosted>::iterator it);
  void SendTo(const Hosted& h, Result<std::vector<std::string>> frames);
  void AfterProgress(uint64_t id, Hosted& h);
  void PollTick();
  void StatusTick();
  void WriteStatus(bool running = true);
  void Finish(Status status);

  // ---- network thread
  void Accept();
  void Dial(size_t peer, int attempt);

  // thread-safe status
  void UpdateStatus(const std::string& key, const std::function<void(PeerStatus&)>& f) {
    std::lock_guard lock(status_mu);
    PeerStatus& s = status[key];
    f(s);
  }

  Store& store;
  TrustStore& trust;
  NetOptions options;
  asio::io_context store_io;
  asio::io_context net_io;
  asio::ssl::context ssl;
  asio::steady_timer poll_timer;
  asio::steady_timer status_timer;
  asio::signal_set signals;
  tcp::acceptor acceptor;
  std::atomic<uint16_t> port{0};
  std::atomic<bool> stopping{false};
  std::map<uint64_t, Hosted> sessions;             // store thread
  std::map<uint64_t, std::weak_ptr<Conn>> conns;   // network thread
  uint64_t next_id = 1;                            // network thread
  std::mt19937_64 random{std::random_device{}()};  // network thread
  size_t inbound = 0;                              // network thread
  Status result;                                   // once mode
  bool finished = false;                           // store thread
  bool bootstrapping = false;                      // store thread
  uint64_t bootstrap_session = 0;                  // store thread: the session that began it
  void EndBootstrap();
  mutable std::mutex status_mu;
  std::map<std::string, PeerStatus> status;
  std::map<std::string, int> session_peers;  // open sessions per peer node id; status_mu
};

// ---------------------------------------------------------------- network thread: connections

void Conn::Start() {
  started = true;
  auto self = shared_from_this();
  impl.UpdateStatus(key, [&](PeerStatus& s) { s.state = "handshake"; });
  timer.expires_after(impl.options.handshake_timeout);
  timer.async_wait([self](const asio::error_code& ec) {
    if (!ec && !self->handshaken) {
      self->Close(
          fmt::format("TLS handshake timed out: the peer sent no answer in {:.0f} s{}",
                      std::chrono::duration<double>(self->impl.options.handshake_timeout).count(),
                      self->outbound ? " (is the address a bosai node's sync listener?)" : ""));
    }
  });
  stream.async_handshake(
      outbound ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
      [self](const asio::error_code& ec) {
        if (self->closed) return;
        if (ec) {
          std::string why = ec.message();
          if (ec.category() == asio::error::get_ssl_category()) why = HandshakeFailure(ec);
          self->Close(why);
          return;
        }
        self->handshaken = true;
        self->timer.cancel();
        auto pem = PeerCertificatePem(self->stream.native_handle());
        if (!pem.ok()) {
          self->Close(pem.status().message());
          return;
        }
        self->impl.UpdateStatus(self->key, [&](PeerStatus& s) { s.state = "syncing"; });
        asio::post(self->impl.store_io,
                   [impl = &self->impl, id = self->id, weak = std::weak_ptr<Conn>(self),
                    outbound = self->outbound, key = self->key, pem = *pem,
                    expected = self->peer.id]() mutable {
                     impl->OpenSession(id, std::move(weak), outbound, std::move(key),
                                       std::move(pem), std::move(expected));
                   });
        self->last_rx = self->last_tx = self->last_acked = SteadyClock::now();
        self->Read();
        self->Tick();
      });
}

void Conn::Read() {
  auto self = shared_from_this();
  stream.async_read_some(asio::buffer(buffer), [self](const asio::error_code& ec, size_t n) {
    if (self->closed) return;
    if (ec) {
      self->Close(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                      ? "connection closed by the peer"
                      : ec.message());
      return;
    }
    self->last_rx = SteadyClock::now();
    uint64_t frames = 0;
    Status st = self->decoder.Feed(std::string_view(self->buffer.data(), n));
    while (st.ok()) {
      auto next = self->decoder.Next();
      if (!next.ok()) {
        st = next.status();
        break;
      }
      if (!*next) break;
      ++frames;
      if ((*next)->type == FrameType::kHeartbeat) continue;
      if (self->received->Add(std::move(**next))) {
        asio::post(self->impl.store_io,
                   [impl = &self->impl, id = self->id, received = self->received] {
                     impl->HandleFrames(id, received->Take());
                   });
      }
    }
    self->impl.UpdateStatus(self->key, [&](PeerStatus& s) {
      s.bytes_received += n;
      s.frames_received += frames;
      s.last_contact_ms = UnixMillis();
    });
    if (!st.ok()) {
      LogEvent(err, "sync.frame.bad", {{"peer", self->key}, {"error", st.message()}});
      self->Fail(st.message());
      return;
    }
    self->Read();
  });
}

void Conn::Send(std::vector<std::string> frames) {
  if (closed || closing) return;
  for (auto& f : frames) queue.push_back(std::move(f));
  Write();
}

void Conn::Write() {
  if (writing || closed) return;
  if (queue.empty()) {
    if (closing) Close("closed after reporting an error");
    return;
  }
  writing = true;
  auto self = shared_from_this();
  asio::async_write(stream, asio::buffer(queue.front()),
                    [self](const asio::error_code& ec, size_t n) {
                      self->writing = false;
                      if (self->closed) return;
                      if (ec) {
                        self->Close(ec.message());
                        return;
                      }
                      self->last_tx = SteadyClock::now();
                      self->impl.UpdateStatus(self->key, [&](PeerStatus& s) {
                        s.bytes_sent += n;
                        ++s.frames_sent;
                      });
                      self->queue.pop_front();
                      self->Write();
                    });
}

void Conn::Fail(const std::string& message) {
  if (closed || closing) return;
  impl.UpdateStatus(key, [&](PeerStatus& s) { s.last_error = message; });
  if (!handshaken) {
    Close(message);
    return;
  }
  auto frame = EncodeFrame(FrameType::kError, message.substr(0, 4096));
  if (frame.ok()) queue.push_back(std::move(*frame));
  closing = true;
  Write();
  // A peer that does not read must not keep us: close anyway after a moment.
  timer.expires_after(std::chrono::seconds(2));
  timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (!ec) self->Close("closed after reporting an error");
  });
}

void Conn::Close(const std::string& reason) {
  if (closed) return;
  closed = true;
  timer.cancel();
  asio::error_code ignored;
  stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream.lowest_layer().close(ignored);
  impl.conns.erase(id);
  if (!outbound && impl.inbound > 0) --impl.inbound;
  const bool duplicate = reason == kDuplicate;
  // A dropped duplicate shares its status entry with the session that is kept.
  bool shared = false;
  for (const auto& [other_id, weak] : impl.conns) {
    auto c = weak.lock();
    shared = shared || (c && !c->closed && c->key == key);
  }
  if (!duplicate && !shared) {
    impl.UpdateStatus(key, [&](PeerStatus& s) {
      s.state = "closed";
      if (reason != "connection closed by the peer" && reason.rfind("closed after", 0) != 0 &&
          reason != "stopping" && reason != kRestart) {
        s.last_error = reason;
      }
    });
  }
  bool normal = duplicate || reason == kRestart || reason == "stopping" ||
                reason == "connection closed by the peer";
  LogEvent(normal ? info : warn, "sync.connection.closed", {{"peer", key}, {"reason", reason}});
  asio::post(impl.store_io, [impl = &impl, id = id, reason] { impl->CloseSession(id, reason); });
  if (on_closed) on_closed(reached_live, reason);
}

void Conn::Tick() {
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->closed || self->closing) return;
    auto now = SteadyClock::now();
    const NetOptions& o = self->impl.options;
    // A peer taking in what we send is alive even when what it sends waits: on a slow link
    // with deep buffers its frames (heartbeats too) can queue behind our data for longer than
    // stall_s. Counted only while we send more than heartbeats (a peer that no longer reads
    // stops acknowledging once its window is full), not for heartbeats, which its kernel
    // acknowledges whatever its process does.
    if (auto now_progress = TcpProgressOf(self->stream.lowest_layer().native_handle())) {
      constexpr uint64_t kMoreThanHeartbeats = 4096;
      const bool sending =
          self->writing || !self->queue.empty() ||
          std::max(now_progress->outstanding, self->progress.outstanding) > kMoreThanHeartbeats;
      if (now_progress->acked > self->progress.acked && sending) self->last_acked = now;
      self->progress = *now_progress;
    }
    const auto heard = std::max(self->last_rx, self->last_acked);
    if (now - heard > o.stall) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - heard).count();
      LogEvent(warn, "sync.session.stalled",
               {{"peer", self->key}, {"silent_seconds", std::to_string(secs)}});
      self->Close(fmt::format("stalled: nothing received for {} s", secs));
      return;
    }
    if (now - self->last_tx > o.heartbeat && self->queue.empty()) {
      auto hb = EncodeFrame(FrameType::kHeartbeat, "");
      if (hb.ok()) self->Send({std::move(*hb)});
    }
    self->Tick();
  });
}

void SyncService::Impl::Accept() {
  acceptor.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
    if (stopping) return;
    if (!ec) {
      asio::error_code e2;
      auto remote = socket.remote_endpoint(e2);
      std::string address =
          e2 ? "?" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
      if (inbound >= options.max_inbound) {
        LogEvent(warn, "sync.inbound.refused", {{"address", address}, {"reason", "too many"}});
      } else {
        ++inbound;
        auto conn =
            std::make_shared<Conn>(*this, next_id++, net_io, ssl, false, PeerAddress{"", address});
        conn->stream.next_layer() = std::move(socket);
        conn->key = address;
        UpdateStatus(address, [&](PeerStatus& s) { s.address = address; });
        conns[conn->id] = conn;
        LogEvent(info, "sync.inbound", {{"address", address}});
        conn->Start();
      }
    } else {
      LogEvent(warn, "sync.accept.failed", {{"error", ec.message()}});
    }
    Accept();
  });
}

void SyncService::Impl::Dial(size_t index, int attempt) {
  if (stopping) return;
  const PeerAddress peer = options.peers[index];
  std::string key = peer.id.empty() ? peer.address : peer.id;
  if (!peer.id.empty() && Connected(peer.id)) {
    // The peer dialled us and that session is kept (DropDuplicate): look again later.
    auto timer = std::make_shared<asio::steady_timer>(net_io, options.backoff_max);
    timer->async_wait([this, index, timer](const asio::error_code& ec) {
      if (!ec) Dial(index, 0);
    });
    return;
  }
  UpdateStatus(key, [&](PeerStatus& s) {
    s.peer = key;
    s.address = peer.address;
    s.outbound = true;
    s.state = "connecting";
  });
  auto conn = std::make_shared<Conn>(*this, next_id++, net_io, ssl, true, peer);
  conn->key = key;
  conns[conn->id] = conn;
  conn->on_closed = [this, index, attempt, key](bool reached_live, const std::string& reason) {
    if (stopping) return;
    if (options.once) {
      asio::post(store_io, [this, reason] {
        if (!finished) Finish(Status::IoError(reason));
      });
      return;
    }
    int next = reached_live ? 0 : attempt + 1;
    auto base = std::min<int64_t>(options.backoff_max.count(), options.backoff_min.count()
                                                                   << std::min(next, 16));
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    auto delay = std::chrono::milliseconds(int64_t(double(base) * jitter(random)));
    UpdateStatus(key, [&](PeerStatus& s) { s.state = "backoff"; });
    auto timer = std::make_shared<asio::steady_timer>(net_io, delay);
    timer->async_wait([this, index, next, timer](const asio::error_code& ec) {
      if (!ec) Dial(index, next);
    });
  };
  auto parsed = ParseAddress(peer.address);
  if (!parsed.ok()) {
    conn->Close(parsed.status().message());
    return;
  }
  // An attempt that gets no answer (a dead link drops its packets without a word) is given up
  // after stall_s, as a silent session is: left to the kernel, its next try after the link is
  // back could come a minute later. Start() sets the timer anew.
  conn->timer.expires_after(options.stall);
  conn->timer.async_wait([conn, secs = options.stall.count() / 1000](const asio::error_code& ec) {
    if (!ec && !conn->started) {
      conn->Close(
          fmt::format("cannot connect to {}: no answer for {} s", conn->peer.address, secs));
    }
  });
  auto resolver = std::make_shared<tcp::resolver>(net_io);
  resolver->async_resolve(
      parsed->first, std::to_string(parsed->second),
      [conn, resolver](const asio::error_code& ec, tcp::resolver::results_type results) {
        if (conn->closed) return;
        if (ec) {
          conn->Close(fmt::format("cannot resolve {}: {}", conn->peer.address, ec.message()));
          return;
        }
        asio::async_connect(conn->stream.next_layer(), results,
                            [conn](const asio::error_code& ec2, const tcp::endpoint&) {
                              if (conn->closed) return;
                              if (ec2) {
                                conn->Close(fmt::format("cannot connect to {}: {}",
                                                        conn->peer.address, ec2.message()));
                                return;
                              }
                              conn->stream.next_layer().set_option(tcp::no_delay(true));
                              conn->Start();
                            });
      });
}

// ---------------------------------------------------------------- store thread: sessions

bool SyncService::Impl::Connected(const std::string& peer_id) {
  std::lock_guard lock(status_mu);
  auto it = session_peers.find(peer_id);
  return it != session_peers.end() && it->second > 0;
}

bool SyncService::Impl::DropDuplicate(const std::string& peer_id, bool outbound) {
  // Both sides decide alike: keep the session dialled by the node with the smaller id; between
  // two dialled by the same node, keep the newer (the older is likely half-dead).
  const std::string& self_id = trust.self().node_id;
  const std::string& preferred = std::min(self_id, peer_id);
  auto dialer = [&](bool out) -> const std::string& { return out ? self_id : peer_id; };
  for (auto& [other_id, other] : sessions) {
    if (other.peer.node_id != peer_id) continue;
    if (dialer(outbound) != preferred && dialer(other.outbound) == preferred) return true;
    LogEvent(info, "sync.session.duplicate",
             {{"peer", peer_id}, {"keeping", outbound ? "outbound" : "inbound"}});
    asio::post(net_io, [weak = other.conn] {
      if (auto c = weak.lock()) c->Close(kDuplicate);
    });
  }
  return false;
}

void SyncService::Impl::SendTo(const Hosted& h, Result<std::vector<std::string>> frames) {
  if (!frames.ok() || frames->empty()) return;
  asio::post(net_io, [weak = h.conn, frames = std::move(*frames)]() mutable {
    if (auto c = weak.lock()) c->Send(std::move(frames));
  });
}

void SyncService::Impl::OpenSession(uint64_t id, std::weak_ptr<Conn> conn, bool outbound,
                                    std::string key, std::string pem, std::string expected) {
  auto fail = [&](const std::string& message) {
    LogEvent(err, "sync.peer.refused", {{"peer", key}, {"error", message}});
    asio::post(net_io, [conn, message] {
      if (auto c = conn.lock()) c->Fail(message);
    });
    if (options.once && !finished) Finish(Status::PermissionDenied(message));
  };
  auto cert = trust.Admit(pem);
  if (!cert.ok()) return fail(cert.status().message());
  if (!expected.empty() && cert->node_id != expected) {
    return fail(
        fmt::format("the peer at {} is {}, not the configured {}", key, cert->node_id, expected));
  }
  if (cert->node_id == trust.self().node_id) return fail("a node cannot sync with itself");
  std::string peer_id = cert->node_id;
  if (DropDuplicate(peer_id, outbound)) {
    asio::post(net_io, [conn] {
      if (auto c = conn.lock()) c->Close(kDuplicate);
    });
    return;
  }
  std::string address = key;
  // From now on the status entry is the peer's node id, whatever address it came from.
  asio::post(net_io, [this, conn, peer_id] {
    auto c = conn.lock();
    if (!c || c->key == peer_id) return;
    std::lock_guard lock(status_mu);
    PeerStatus moved = status[c->key];
    status.erase(c->key);
    PeerStatus& s = status[peer_id];
    s.peer = peer_id;
    s.address = moved.address;
    s.outbound = moved.outbound;
    s.state = moved.state;
    s.bytes_sent += moved.bytes_sent;
    s.bytes_received += moved.bytes_received;
    s.frames_sent += moved.frames_sent;
    s.frames_received += moved.frames_received;
    s.last_contact_ms = std::max(s.last_contact_ms, moved.last_contact_ms);
    c->key = peer_id;
  });
  key = peer_id;
  Hosted h;
  h.peer = *cert;
  h.conn = conn;
  h.key = key;
  h.outbound = outbound;
  Session::Options so;
  so.window = options.window;
  so.keys = trust.keys();
  so.origin_may_write = trust.may_write();
  // By the peer's certificate and the read grants it showed (in Hello), looked up each time.
  so.peer_may_read = [this, peer_id](const StreamId& s) {
    const NodeCertificate* c = trust.Find(peer_id);
    return c && TrustStore::MayRead(*c, s);
  };
  // With those another process recorded meanwhile (a bundle, a lost node's backup taken in):
  // the peer verifies by them what this node relays.
  if (auto learned = trust.LoadLearned(); !learned.ok()) {
    LogEvent(warn, "sync.trust.reload_failed", {{"error", learned.status().message()}});
  }
  so.certificates = trust.CertificatesFor(*cert);
  so.on_forked = [this, peer_id](const std::string& message) {
    LogEvent(err, "sync.stream.forked", {{"peer", peer_id}, {"error", message}});
    UpdateStatus(peer_id, [&](PeerStatus& s) {
      if (std::find(s.forked.begin(), s.forked.end(), message) == s.forked.end()) {
        s.forked.push_back(message);
      }
    });
  };
  so.on_hello = [this, peer_id](const std::string& incarnation,
                                const std::vector<std::string>& certs) -> Status {
    if (NodeOfIncarnation(incarnation) != peer_id) {
      return Status::PermissionDenied(fmt::format(
          "Hello names incarnation {} but the TLS certificate is {}'s", incarnation, peer_id));
    }
    for (const auto& c : certs) {
      auto admitted = trust.Admit(c);
      if (!admitted.ok()) {
        LogEvent(warn, "sync.certificate.refused",
                 {{"peer", peer_id}, {"error", admitted.status().message()}});
      }
    }
    return Status::Ok();
  };
  so.max_offset_ms = options.max_offset_ms;
  h.session = std::make_unique<Session>(store, std::move(so));
  if (sessions.empty() && !bootstrapping) {
    // A new node's first sync: store the blocks, build the records once at the end (Store docs).
    auto begun = store.BeginBootstrap();
    bootstrapping = begun.ok() && *begun;
    if (bootstrapping) {
      bootstrap_session = id;
      LogEvent(info, "sync.bootstrap.begin", {{"peer", peer_id}});
    }
  }
  auto frames = h.session->Start();
  if (!frames.ok()) return fail(frames.status().message());
  LogEvent(info, "sync.session.start", {{"peer", peer_id}, {"address", address}});
  auto [it, inserted] = sessions.emplace(id, std::move(h));
  {
    std::lock_guard lock(status_mu);
    ++session_peers[peer_id];
  }
  SendTo(it->second, std::move(frames));
}

void SyncService::Impl::EraseSession(std::map<uint64_t, Hosted>::iterator it) {
  {
    std::lock_guard lock(status_mu);
    if (--session_peers[it->second.peer.node_id] <= 0) session_peers.erase(it->second.peer.node_id);
  }
  const bool ends_bootstrap = it->first == bootstrap_session;
  sessions.erase(it);
  if (ends_bootstrap) EndBootstrap();
}

void SyncService::Impl::HandleFrames(uint64_t id, std::vector<Frame> received) {
  auto it = sessions.find(id);
  if (it == sessions.end() || received.empty()) return;
  Hosted& h = it->second;
  auto frames = h.session->OnFrames(received);
  if (!frames.ok()) {
    std::string message = frames.status().message();
    LogEvent(err, "sync.session.error", {{"peer", h.peer.node_id}, {"error", message}});
    asio::post(net_io, [weak = h.conn, message] {
      if (auto c = weak.lock()) c->Fail(message);
    });
    UpdateStatus(h.key, [&](PeerStatus& s) { s.last_error = message; });
    if (options.once && !finished) Finish(frames.status());
    EraseSession(it);
    return;
  }
  SendTo(h, std::move(frames));
  AfterProgress(id, h);
}

void SyncService::Impl::AfterProgress(uint64_t id, Hosted& h) {
  Session& s = *h.session;
  if (options.progress && s.expected_ops() > 0) {
    options.progress(std::min(1.0, double(s.exchanged_ops()) / double(s.expected_ops())));
  }
  UpdateStatus(h.key, [&](PeerStatus& st) {
    st.blocks_sent = s.blocks_sent();
    st.blocks_received = s.blocks_received();
    st.ops_received = s.ops_received();
    st.blocks_held = s.blocks_held();
    if (s.caught_up()) st.state = "live";
    // Caught up again: an error before (a dial refused while the peer was down) is over; the
    // log keeps it.
    if (s.caught_up() && !h.live) st.last_error.clear();
  });
  if (s.caught_up() && !h.live) {
    h.live = true;
    if (id == bootstrap_session) EndBootstrap();
    LogEvent(info, "sync.session.caught_up",
             {{"peer", h.peer.node_id},
              {"blocks_sent", std::to_string(s.blocks_sent())},
              {"blocks_received", std::to_string(s.blocks_received())},
              {"blocks_held", std::to_string(s.blocks_held())}});
    asio::post(net_io, [weak = h.conn] {
      if (auto c = weak.lock()) c->reached_live = true;
    });
    if (s.blocks_held() > 0) {
      LogEvent(warn, "sync.clock.held",
               {{"peer", h.peer.node_id},
                {"blocks", std::to_string(s.blocks_held())},
                {"hint",
                 "blocks stamped beyond the maximum clock offset are held; see `bosai "
                 "sync status`, `bosai sync accept-skew INCARNATION`"}});
    }
    (void)SavePeerVector(store, h.peer.node_id, s.peer_vector(), UnixMillis());
    if (options.once && !finished) Finish(Status::Ok());
  }
}

void SyncService::Impl::CloseSession(uint64_t id, const std::string& reason) {
  auto it = sessions.find(id);
  if (it == sessions.end()) return;
  const Hosted& h = it->second;
  Status saved = SavePeerVector(store, h.peer.node_id, h.session->peer_vector(), UnixMillis());
  if (!saved.ok()) {
    LogEvent(warn, "sync.peer_vector.not_saved",
             {{"peer", h.peer.node_id}, {"error", saved.message()}});
  }
  LogEvent(info, "sync.session.end", {{"peer", h.peer.node_id}, {"reason", reason}});
  EraseSession(it);
}

void SyncService::Impl::EndBootstrap() {
  if (!bootstrapping) return;
  bootstrapping = false;
  auto t0 = std::chrono::steady_clock::now();
  Status st = store.EndBootstrap();
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  LogEvent(st.ok() ? info : err, "sync.bootstrap.end",
           {{"status", st.ok() ? "ok" : st.message()}, {"ms", std::to_string(ms.count())}});
}

void SyncService::Impl::PollTick() {
  if (stopping) return;
  // Held blocks whose time has come (or whose origin's skew was accepted meanwhile).
  auto released =
      ReleaseHeld(store, trust.keys(), trust.may_write(), UnixMillis(), options.max_offset_ms);
  if (!released.ok()) {
    LogEvent(err, "sync.held.release_failed", {{"error", released.status().message()}});
  } else if (*released > 0) {
    LogEvent(info, "sync.held.released", {{"blocks", std::to_string(*released)}});
  }
  // A node revoked meanwhile (`bosai keys revoke` in another process) loses its sessions.
  if (trust.LoadRevoked().ok()) {
    for (auto& [id, h] : sessions) {
      if (!trust.revoked(h.peer.node_id)) continue;
      std::string message = fmt::format("node {} is revoked", h.peer.node_id);
      LogEvent(warn, "sync.peer.revoked", {{"peer", h.peer.node_id}});
      asio::post(net_io, [weak = h.conn, message] {
        if (auto c = weak.lock()) c->Fail(message);
      });
    }
  }
  // Certificates another process recorded: a live session's peer has not had them (they go in
  // Hello), and would refuse the blocks they sign. Such sessions start again.
  if (auto learned = trust.LoadLearned(); learned.ok() && *learned > 0) {
    LogEvent(info, "sync.trust.learned", {{"certificates", std::to_string(*learned)}});
    for (auto& [id, h] : sessions) {
      if (!h.live) continue;
      asio::post(net_io, [weak = h.conn] {
        if (auto c = weak.lock()) c->Close(kRestart);
      });
      h.live = false;  // (no more pushes on it)
    }
  }
  // Live push: blocks committed since, by this process or another one on the same data dir.
  for (auto& [id, h] : sessions) {
    if (!h.live) continue;
    auto frames = h.session->Poll();
    if (!frames.ok()) {
      LogEvent(err, "sync.session.error",
               {{"peer", h.peer.node_id}, {"error", frames.status().message()}});
      continue;
    }
    SendTo(h, std::move(frames));
  }
  poll_timer.expires_after(options.poll);
  poll_timer.async_wait([this](const asio::error_code& ec) {
    if (!ec) PollTick();
  });
}

void SyncService::Impl::StatusTick() {
  for (auto& [id, h] : sessions) {
    auto lag = h.session->Lag();
    if (lag.ok()) UpdateStatus(h.key, [&](PeerStatus& s) { s.lag_ops = *lag; });
  }
  WriteStatus();
  status_timer.expires_after(std::chrono::seconds(1));
  status_timer.async_wait([this](const asio::error_code& ec) {
    if (!ec) StatusTick();
  });
}

void SyncService::Impl::WriteStatus(bool running) {
  if (options.status_path.empty()) return;
  nlohmann::json peers = nlohmann::json::array();
  {
    std::lock_guard lock(status_mu);
    for (const auto& [key, s] : status) {
      peers.push_back({{"peer", s.peer.empty() ? key : s.peer},
                       {"address", s.address},
                       {"direction", s.outbound ? "out" : "in"},
                       {"state", s.state},
                       {"last_contact_ms", s.last_contact_ms},
                       {"lag_ops", s.lag_ops},
                       {"bytes_sent", s.bytes_sent},
                       {"bytes_received", s.bytes_received},
                       {"blocks_sent", s.blocks_sent},
                       {"blocks_received", s.blocks_received},
                       {"blocks_held", s.blocks_held},
                       {"last_error", s.last_error},
                       {"forked", s.forked}});
    }
  }
  nlohmann::json doc = {{"node", trust.self().node_id},
                        {"pid", ::getpid()},
                        {"running", running},
                        {"listen", options.listen},
                        {"port", port.load()},
                        {"updated_ms", UnixMillis()},
                        {"peers", peers}};
  std::string tmp = options.status_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << doc.dump(2) << "\n";
    if (!out) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, options.status_path, ec);
}

void SyncService::Impl::Finish(Status status) {
  finished = true;
  result = std::move(status);
  stopping = true;
  asio::post(net_io, [this] {
    for (auto& [id, weak] : std::map<uint64_t, std::weak_ptr<Conn>>(conns)) {
      if (auto c = weak.lock()) c->Close("stopping");
    }
    asio::error_code ignored;
    acceptor.close(ignored);
    net_io.stop();
    // The store thread may still hold work (the signal set's reactor registration): stop it
    // once the connections are closed.
    asio::post(store_io, [this] { store_io.stop(); });
  });
  poll_timer.cancel();
  status_timer.cancel();
  signals.cancel();
}

// ---------------------------------------------------------------- service

SyncService::SyncService(Store& store, TrustStore& trust, NetOptions options)
    : impl_(std::make_unique<Impl>(store, trust, std::move(options))) {}

SyncService::~SyncService() = default;

Status SyncService::Run() {
  Impl& m = *impl_;
  const NetOptions& o = m.options;
  if (o.once && (o.peers.size() != 1 || !o.listen.empty())) {
    return Status::Invalid("once mode needs exactly one peer and no listener");
  }
  BOSAI_RETURN_IF_ERROR(ConfigureTls(m.ssl.native_handle(), m.store.identity()->key,
                                     m.trust.own_certificate(), m.trust.root_certificates()));
  BOSAI_RETURN_IF_ERROR(EnsureHeldSchema(m.store));
  if (!o.listen.empty()) {
    BOSAI_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ListenEndpoint(o.listen));
    BOSAI_RETURN_IF_ERROR(Listen(m.acceptor, endpoint, o.listen));
    m.port = m.acceptor.local_endpoint().port();
    LogEvent(info, "sync.listen", {{"address", o.listen}, {"port", std::to_string(m.port.load())}});
    m.Accept();
  }
  for (size_t i = 0; i < o.peers.size(); ++i) {
    asio::post(m.net_io, [&m, i] { m.Dial(i, 0); });
  }
  m.signals.async_wait([this](const asio::error_code& ec, int signal) {
    if (ec) return;
    LogEvent(info, "sync.stop", {{"signal", std::to_string(signal)}});
    Stop();
  });
  auto work = asio::make_work_guard(m.net_io);
  std::thread net([&m] { m.net_io.run(); });
  m.PollTick();
  m.StatusTick();
  m.store_io.run();
  work.reset();
  m.net_io.stop();
  net.join();
  // Every session handler ran to completion on this thread: no transaction is half done.
  for (const auto& [id, h] : m.sessions) {
    (void)SavePeerVector(m.store, h.peer.node_id, h.session->peer_vector(), UnixMillis());
  }
  m.sessions.clear();
  m.EndBootstrap();
  m.WriteStatus(false);
  return o.once ? m.result : Status::Ok();
}

void SyncService::Stop() {
  asio::post(impl_->store_io, [m = impl_.get()] {
    if (m->finished) return;
    // `sync now` interrupted: not caught up, whatever was applied so far stays applied.
    m->Finish(m->options.once ? Status::IoError("interrupted before both sides were caught up")
                              : Status::Ok());
  });
}

std::vector<PeerStatus> SyncService::Peers() const {
  std::lock_guard lock(impl_->status_mu);
  std::vector<PeerStatus> out;
  for (const auto& [key, s] : impl_->status) out.push_back(s);
  return out;
}

uint16_t SyncService::listening_port() const { return impl_->port; }

}  // namespace bosai::sync
