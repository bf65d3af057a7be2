// Test tool: a misbehaving peer. It authenticates with a real node's data dir (its key and
// certificate), then breaks the protocol in one chosen way, and prints what the other side
// answered. Not shipped.
//
//   rogue_peer DATA_DIR HOST:PORT garbage            random bytes instead of frames
//   rogue_peer DATA_DIR HOST:PORT truncated          a Hello, then half a frame, then hangs up
//   rogue_peer DATA_DIR HOST:PORT forge INCARNATION  a block claiming another origin, signed by us
//   rogue_peer DATA_DIR HOST:PORT scope SCOPE        our own block in a scope we may not write
//   rogue_peer DATA_DIR HOST:PORT ahead MS           our own block stamped MS into the future
//   rogue_peer DATA_DIR HOST:PORT silent             a Hello, then silence (never acks, never
//                                                    beats) until the peer's watchdog hangs up
// Exit 0 when the exchange happened as scripted (the test then checks the peer's reaction).
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <iostream>
#include <random>

#include "bosai/sync/v1/sync.pb.h"
#include "node/node.h"
#include "sync/frame.h"

using namespace bosai;
using tcp = asio::ip::tcp;

namespace {

[[noreturn]] void Die(const std::string& why) {
  std::cerr << "rogue_peer: " << why << "\n";
  std::exit(2);
}

std::string FrameOf(sync::FrameType type, const std::string& body) {
  auto f = sync::EncodeFrame(type, body);
  if (!f.ok()) Die(f.status().message());
  return *f;
}

// Reads frames until the peer closes; prints Error frames; returns the peer's Hello if seen.
struct Reader {
  asio::ssl::stream<tcp::socket>& s;
  sync::FrameDecoder decoder;
  std::optional<sync::Frame> Next() {
    for (;;) {
      auto f = decoder.Next();
      if (!f.ok()) Die(f.status().message());
      if (*f) return std::move(**f);
      char buf[65536];
      asio::error_code ec;
      size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) return std::nullopt;
      if (!decoder.Feed(std::string_view(buf, n)).ok()) Die("bad frame from the peer");
    }
  }
  void Drain() {
    while (auto f = Next()) {
      if (f->type == sync::FrameType::kError) std::cout << "peer error: " << f->body << "\n";
    }
    std::cout << "peer closed the session\n";
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) Die("usage: rogue_peer DATA_DIR HOST:PORT MODE [ARG]");
  std::string mode = argv[3];
  std::string arg = argc > 4 ? argv[4] : "";
  auto node = node::Node::Open(argv[1]);
  if (!node.ok()) Die(node.status().message());
  auto trust = (*node)->trust();
  if (!trust.ok()) Die(trust.status().message());
  const Identity& me = *(*node)->store().identity();

  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls);
  Status st = sync::ConfigureTls(ctx.native_handle(), me.key, (*trust)->own_certificate(),
                                 (*trust)->root_certificates());
  if (!st.ok()) Die(st.message());
  std::string address = argv[2];
  size_t colon = address.rfind(':');
  tcp::resolver resolver(io);
  asio::ssl::stream<tcp::socket> s(io, ctx);
  asio::connect(s.next_layer(),
                resolver.resolve(address.substr(0, colon), address.substr(colon + 1)));
  s.handshake(asio::ssl::stream_base::client);
  Reader reader{s, {}};

  if (mode == "garbage") {
    std::mt19937 rng(7);
    std::string junk(4096, '\0');
    for (char& c : junk) c = char(rng());
    junk[0] = 0x7f;  // a length far over the limit
    asio::write(s, asio::buffer(junk));
    reader.Drain();
    return 0;
  }

  bosai::sync::v1::Hello hello;
  hello.set_protocol(1);
  hello.set_incarnation(me.incarnation());
  hello.add_certificates((*trust)->own_certificate());
  std::string hello_frame = FrameOf(sync::FrameType::kHello, hello.SerializeAsString());
  if (mode == "truncated") {
    asio::write(s, asio::buffer(hello_frame));
    std::string half = FrameOf(sync::FrameType::kBlocks, std::string(3000, 'x'));
    half.resize(half.size() / 2);
    asio::write(s, asio::buffer(half));
    asio::error_code ec;
    s.lowest_layer().close(ec);
    std::cout << "hung up mid-frame\n";
    return 0;
  }
  asio::write(s, asio::buffer(hello_frame));
  if (mode == "silent") {
    reader.Drain();  // reads what comes, sends nothing
    return 0;
  }
  auto peer_hello_frame = reader.Next();
  if (!peer_hello_frame || peer_hello_frame->type != sync::FrameType::kHello) {
    Die("no Hello from the peer");
  }
  bosai::sync::v1::Hello peer;
  if (!peer.ParseFromString(peer_hello_frame->body)) Die("peer Hello does not parse");

  BlockHeader h;
  h.origin = me.incarnation();
  h.scope = (*node)->municipality();
  uint64_t hlc_ms = uint64_t(SystemClock::Get()->NowMillis());
  if (mode == "forge") {
    h.origin = arg;
  } else if (mode == "scope") {
    h.scope = arg;
  } else if (mode == "ahead") {
    hlc_ms += std::stoull(arg);
  } else {
    Die("unknown mode " + mode);
  }
  h.first_seq = 1;
  for (const auto& e : peer.vector()) {
    if (e.incarnation() == h.origin && e.scope() == h.scope) h.first_seq = e.seq() + 1;
  }
  v1::OpBatch batch;
  batch.add_peers(h.origin);
  v1::Op* op = batch.add_ops();
  op->set_entity(1);
  op->set_key((*node)->municipality() + ":999999999990");
  op->set_hlc(HlcPack(int64_t(hlc_ms), 0));
  op->set_author("user:rogue");
  auto* w = op->add_writes();
  w->set_field(2);  // Resident.name
  std::string name = "偽造";
  w->set_value(std::string(1, char((2 << 3) | 2)) + char(name.size()) + name);
  h.count = 1;
  h.max_hlc = op->hlc();
  bosai::sync::v1::Blocks blocks;
  blocks.add_blocks(EncodeBlock(h, batch, me.key));
  asio::write(s, asio::buffer(FrameOf(sync::FrameType::kBlocks, blocks.SerializeAsString())));
  reader.Drain();
  return 0;
}
