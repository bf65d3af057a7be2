// Sync session state machine; see session.h.
#include "sync/session.h"

#include <fmt/format.h>

#include "bosai/sync/v1/sync.pb.h"
#include "storage/block.h"
#include "sync/held.h"

namespace bosai::sync {
namespace {

void ToProto(const VersionVector& vv, google::protobuf::RepeatedPtrField<v1::VectorEntry>* out) {
  for (const auto& [id, seq] : vv) {
    auto* e = out->Add();
    e->set_incarnation(id.incarnation);
    e->set_scope(id.scope);
    e->set_seq(seq);
  }
}

// Merges a received vector into what we know of the peer (knowledge only grows).
void Merge(const google::protobuf::RepeatedPtrField<v1::VectorEntry>& in, VersionVector* vv) {
  for (const auto& e : in) {
    uint64_t& have = (*vv)[{e.incarnation(), e.scope()}];
    have = std::max(have, e.seq());
  }
}

Result<std::string> Encode(FrameType type, const google::protobuf::MessageLite& msg) {
  return EncodeFrame(type, msg.SerializeAsString());
}

}  // namespace

Session::Session(Store& store, Options options) : store_(store), options_(std::move(options)) {}

Result<std::vector<std::string>> Session::Start() {
  if (started_) return Status::Invalid("session already started");
  started_ = true;
  if (!store_.identity()) return Status::Invalid("this node has no identity");
  BOSAI_RETURN_IF_ERROR(EnsureHeldSchema(store_));
  v1::Hello hello;
  hello.set_protocol(kProtocolVersion);
  hello.set_incarnation(store_.identity()->incarnation());
  BOSAI_ASSIGN_OR_RETURN(VersionVector vv, store_.Vector());
  ToProto(vv, hello.mutable_vector());
  BOSAI_ASSIGN_OR_RETURN(std::vector<Store::Tip> tips, store_.Tips());
  for (const Store::Tip& t : tips) {
    auto* tip = hello.add_tips();
    tip->set_incarnation(t.stream.incarnation);
    tip->set_scope(t.stream.scope);
    tip->set_seq(t.seq);
    tip->set_signature(t.signature.substr(0, kTipSignatureBytes));
  }
  for (const auto& c : options_.certificates) hello.add_certificates(c);
  BOSAI_ASSIGN_OR_RETURN(std::string frame, Encode(FrameType::kHello, hello));
  return std::vector<std::string>{std::move(frame)};
}

Status Session::CheckNotPutBack(const v1::Hello& hello, const VersionVector& mine) {
  const std::string& self = store_.identity()->incarnation();
  for (const auto& tip : hello.tips()) {
    const StreamId stream{tip.incarnation(), tip.scope()};
    auto it = mine.find(stream);
    const uint64_t have = it == mine.end() ? 0 : it->second;
    if (have < tip.seq() || tip.seq() == 0) continue;
    // The peer's last block of the stream must be the one this node holds under its numbers.
    // (A node put back from an older copy that wrote nothing since holds a prefix of its own
    // stream, and gets the rest back; one that wrote again holds other blocks.)
    BOSAI_ASSIGN_OR_RETURN(bool same, store_.HoldsBlock(stream, tip.seq(), tip.signature()));
    if (same) continue;
    const bool mine_forked = tip.incarnation() == self;
    const std::string message =
        PutBackMessage(mine_forked ? "this node" : tip.incarnation(), mine_forked,
                       fmt::format("{} and this node hold different blocks of {} {} under seq {}",
                                   hello.incarnation(), tip.incarnation(), tip.scope(), tip.seq()));
    // This node's stream or the peer's: the session ends. Another origin's, relayed to them by
    // different paths: the two go on with the rest, and this node sends none of that stream.
    if (mine_forked || tip.incarnation() == hello.incarnation()) return Status::Invalid(message);
    forked_.insert(stream);
    if (options_.on_forked) options_.on_forked(message);
  }
  return Status::Ok();
}

Status Session::BadFrame(FrameType type, const std::string& why) const {
  return Status::Invalid(fmt::format("{} frame from {}: {}", FrameTypeName(type),
                                     peer_incarnation_.empty() ? "peer" : peer_incarnation_, why));
}

Result<std::vector<std::string>> Session::OnFrame(const Frame& frame) {
  std::vector<std::string> out;
  auto bad = [&](const std::string& why) { return BadFrame(frame.type, why); };
  if (frame.type == FrameType::kHeartbeat) return out;
  if (frame.type == FrameType::kError) return bad("peer reports: " + frame.body);
  if (frame.type != FrameType::kHello && !hello_received_) return bad("before Hello");
  switch (frame.type) {
    case FrameType::kHello: {
      v1::Hello hello;
      if (hello_received_) return bad("a second Hello");
      if (!hello.ParseFromString(frame.body)) return bad("does not parse");
      if (hello.protocol() != kProtocolVersion) {
        return bad(
            fmt::format("protocol {} (this node speaks {})", hello.protocol(), kProtocolVersion));
      }
      if (options_.on_hello) {
        std::vector<std::string> certs(hello.certificates().begin(), hello.certificates().end());
        Status st = options_.on_hello(hello.incarnation(), certs);
        if (!st.ok()) return bad(st.message());
      }
      BOSAI_ASSIGN_OR_RETURN(VersionVector mine, store_.Vector());
      if (Status st = CheckNotPutBack(hello, mine); !st.ok()) return bad(st.message());
      hello_received_ = true;
      peer_incarnation_ = hello.incarnation();
      Merge(hello.vector(), &peer_vector_);
      {
        for (const auto& [stream, seq] : peer_vector_) {
          auto it = mine.find(stream);
          uint64_t have = it == mine.end() ? 0 : it->second;
          if (seq > have) expected_ops_ += seq - have;
        }
        BOSAI_ASSIGN_OR_RETURN(uint64_t out_lag, Lag());
        expected_ops_ += out_lag;
      }
      BOSAI_RETURN_IF_ERROR(Pump(out));
      break;
    }
    case FrameType::kBlocks:
      BOSAI_RETURN_IF_ERROR(OnBlocks(std::span<const Frame>(&frame, 1), out));
      break;
    case FrameType::kAck: {
      v1::Ack ack;
      if (!ack.ParseFromString(frame.body)) return bad("does not parse");
      if (in_flight_ == 0) return bad("Ack with nothing in flight");
      --in_flight_;
      Merge(ack.vector(), &peer_vector_);
      BOSAI_RETURN_IF_ERROR(Pump(out));
      break;
    }
    case FrameType::kHeartbeat:
      break;
    case FrameType::kError:
      return bad("peer reports: " + frame.body);
  }
  return out;
}

Result<std::vector<std::string>> Session::OnFrames(std::span<const Frame> frames) {
  std::vector<std::string> out;
  for (size_t i = 0; i < frames.size();) {
    size_t end = i + 1;
    if (frames[i].type == FrameType::kBlocks && hello_received_) {
      while (end < frames.size() && frames[end].type == FrameType::kBlocks) ++end;
      BOSAI_RETURN_IF_ERROR(OnBlocks(frames.subspan(i, end - i), out));
    } else {
      BOSAI_ASSIGN_OR_RETURN(std::vector<std::string> more, OnFrame(frames[i]));
      for (auto& f : more) out.push_back(std::move(f));
    }
    i = end;
  }
  return out;
}

// Blocks frames in one transaction (group commit), then an Ack for each. When a frame is bad,
// the frames before it are applied again and committed, and nothing of it is applied.
Status Session::OnBlocks(std::span<const Frame> frames, std::vector<std::string>& out) {
  struct Applied {
    uint64_t blocks = 0, ops = 0, held = 0;
    bool ack = false;  // a frame with blocks (a caught_up frame gets no Ack)
  };
  std::vector<Applied> applied;
  int64_t now = options_.clock->NowMillis();
  // Applies frames[k] inside the open transaction.
  auto apply = [&](size_t k) -> Status {
    const Frame& frame = frames[k];
    auto bad = [&](const std::string& why) { return BadFrame(frame.type, why); };
    v1::Blocks blocks;
    if (!blocks.ParseFromString(frame.body)) return bad("does not parse");
    if (blocks.caught_up() && blocks.blocks_size() > 0) return bad("caught_up with blocks");
    Applied a;
    for (const auto& b : blocks.blocks()) {
      auto received = ApplyOrHold(store_, b, options_.keys, options_.origin_may_write, now,
                                  options_.max_offset_ms, held_streams_);
      if (!received.ok()) return bad(received.status().message());
      if (received->held) {
        ++a.held;
      } else {
        a.ops += received->header.count;
      }
    }
    a.blocks = uint64_t(blocks.blocks_size());
    a.ack = !blocks.caught_up();
    applied.push_back(a);
    return Status::Ok();
  };
  BOSAI_RETURN_IF_ERROR(store_.BeginWrite("sync:" + peer_incarnation_));
  Status failed;
  for (size_t k = 0; k < frames.size() && failed.ok(); ++k) failed = apply(k);
  if (!failed.ok()) {
    store_.AbortWrite();
    const size_t good = applied.size();
    applied.clear();
    if (good == 0) return failed;
    BOSAI_RETURN_IF_ERROR(store_.BeginWrite("sync:" + peer_incarnation_));
    for (size_t k = 0; k < good; ++k) {
      if (Status st = apply(k); !st.ok()) {
        store_.AbortWrite();
        return st;
      }
    }
  }
  BOSAI_RETURN_IF_ERROR(store_.CommitWrite());  // durable before the Acks
  std::string ack_frame;
  for (const Applied& a : applied) {
    blocks_received_ += a.blocks;
    ops_received_ += a.ops;
    blocks_held_ += a.held;
    if (!a.ack) {
      peer_caught_up_ = true;
      continue;
    }
    if (ack_frame.empty()) {
      v1::Ack ack;
      BOSAI_ASSIGN_OR_RETURN(VersionVector vv, store_.Vector());
      ToProto(vv, ack.mutable_vector());
      BOSAI_ASSIGN_OR_RETURN(ack_frame, Encode(FrameType::kAck, ack));
    }
    out.push_back(ack_frame);
  }
  return failed;
}

Result<std::vector<std::string>> Session::Poll() {
  std::vector<std::string> out;
  if (!hello_received_) return out;
  BOSAI_RETURN_IF_ERROR(Pump(out));
  return out;
}

bool Session::Sends(const StreamId& stream) const {
  return (!options_.peer_may_read || options_.peer_may_read(stream)) && !forked_.count(stream);
}

Result<uint64_t> Session::Lag() {
  BOSAI_ASSIGN_OR_RETURN(VersionVector mine, store_.Vector());
  uint64_t lag = 0;
  for (const auto& [stream, last] : mine) {
    if (!Sends(stream)) continue;
    auto pv = peer_vector_.find(stream);
    uint64_t have = pv == peer_vector_.end() ? 0 : pv->second;
    if (last > have) lag += last - have;
  }
  return lag;
}

// Fills the window with the next blocks the peer lacks, stream by stream.
Status Session::Pump(std::vector<std::string>& out) {
  BOSAI_ASSIGN_OR_RETURN(VersionVector mine, store_.Vector());
  for (const auto& [stream, last] : mine) {
    if (in_flight_ >= options_.window) return Status::Ok();
    if (!Sends(stream)) continue;
    auto pv = peer_vector_.find(stream);
    uint64_t cursor = std::max(pv == peer_vector_.end() ? 0 : pv->second, sent_[stream]);
    while (cursor < last && in_flight_ < options_.window) {
      BOSAI_ASSIGN_OR_RETURN(std::optional<std::string> block, store_.NextBlock(stream, cursor));
      if (!block) break;
      BOSAI_ASSIGN_OR_RETURN(BlockHeader h, ParseBlockHeader(*block));
      v1::Blocks msg;
      msg.add_blocks(std::move(*block));
      BOSAI_ASSIGN_OR_RETURN(std::string f, Encode(FrameType::kBlocks, msg));
      out.push_back(std::move(f));
      ++in_flight_;
      ++blocks_sent_;
      ops_sent_ += h.count;
      cursor = h.last_seq();
      sent_[stream] = cursor;
    }
  }
  if (in_flight_ == 0 && !sent_caught_up_) {
    v1::Blocks done;
    done.set_caught_up(true);
    BOSAI_ASSIGN_OR_RETURN(std::string f, Encode(FrameType::kBlocks, done));
    out.push_back(std::move(f));
    sent_caught_up_ = true;
  }
  return Status::Ok();
}

namespace {

Status EnsurePeerVectorSchema(Store& store) {
  return store.db().EnsureTables(
      {"sync_peer_vectors"},
      "CREATE TABLE IF NOT EXISTS sync_peer_vectors(node_id TEXT PRIMARY KEY,"
      " vector BLOB NOT NULL, updated_ms INTEGER NOT NULL)");
}

}  // namespace

Status SavePeerVector(Store& store, const std::string& node_id, const VersionVector& vv,
                      int64_t now_ms) {
  BOSAI_RETURN_IF_ERROR(EnsurePeerVectorSchema(store));
  v1::Ack msg;
  ToProto(vv, msg.mutable_vector());
  Stmt& q = store.db().Prepare(
      "INSERT OR REPLACE INTO sync_peer_vectors(node_id, vector, updated_ms) VALUES(?, ?, ?)");
  q.Bind(1, node_id).BindBlob(2, msg.SerializeAsString()).Bind(3, now_ms);
  return q.Run();
}

Result<std::optional<VersionVector>> LoadPeerVector(Store& store, const std::string& node_id) {
  BOSAI_RETURN_IF_ERROR(EnsurePeerVectorSchema(store));
  Stmt& q = store.db().Prepare("SELECT vector FROM sync_peer_vectors WHERE node_id = ?");
  q.Bind(1, node_id);
  std::optional<VersionVector> out;
  if (q.Step()) {
    v1::Ack msg;
    std::string_view blob = q.Blob(0);
    if (!msg.ParseFromArray(blob.data(), int(blob.size()))) {
      q.Reset();
      return Status::Corruption(fmt::format("stored vector of peer {} does not parse", node_id));
    }
    VersionVector vv;
    Merge(msg.vector(), &vv);
    out = std::move(vv);
  }
  BOSAI_RETURN_IF_ERROR(q.status());
  q.Reset();
  return out;
}

}  // namespace bosai::sync
