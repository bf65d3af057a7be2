// The fixed dictionary and signing key of the stored-forms fuzz target, and its seeds (shared
// with make_seeds, which writes the seed corpus).
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "bosai/v1/ops.pb.h"
#include "storage/block.h"
#include "storage/record_codec.h"
#include "tests/protobuf_clock.h"

namespace bosai::fuzz {

// A register-like resident body.
inline std::string ResidentBody(int i) {
  return fmt::format("\x0a\x11{:06}:{:010}\x12\x0c山下　明{}\x42\x28宮城県石巻市中里{}丁目{}番{}号",
                     42021, 4235551542 + i, i % 7, i % 9 + 1, i % 31 + 1, i % 5 + 1);
}

inline const RecordDictionary& FixedDictionary() {
  static const RecordDictionary dict = [] {
    std::vector<std::string> bodies;
    for (int i = 0; i < 64; ++i) bodies.push_back(ResidentBody(i));
    return RecordDictionary(1, MakeDictionaryBytes({bodies.begin(), bodies.end()}));
  }();
  return dict;
}

inline const SigningKey& FixedKey() {
  static const SigningKey key = [] {
    InitCrypto();
    return *SigningKey::FromSeed(std::string(32, '\x03'));
  }();
  return key;
}

// One seed per decoder, each led by the byte that chooses it: a block of register ops, a
// stored body compressed against the dictionary, and a clock in each of its two forms.
inline std::vector<std::string> StoredSeeds() {
  v1::OpBatch batch;
  batch.add_peers("042021-honcho#1");
  for (int i = 0; i < 40; ++i) {
    auto* op = batch.add_ops();
    op->set_entity(1);
    op->set_key(fmt::format("042021:{:011}", 22830154912 + i));
    op->set_hlc((uint64_t(1795779653166) << 16) + i);
    op->set_author("os:clerk");
    op->set_source(v1::OP_SOURCE_REGISTER);
    op->set_set(ResidentBody(i));
  }
  auto* edit = batch.add_ops();
  edit->set_entity(1);
  edit->set_key("042021:22830154912");
  auto* w = edit->add_writes();
  w->set_field(10);
  w->set_value(
      "\x52\x0c"
      "0225-22-1111");
  w->add_context_peer(0);
  w->add_context_seq(1);
  std::string block = EncodeBlock({"042021-honcho#1", "042021", 1, 41, 0}, batch, FixedKey());

  StoredClock clock{{{1, 41234, uint64_t(1795779653166) << 16, true},
                     {2, 41233, (uint64_t(1795779653166) << 16) + 1, true}},
                    {{9, 1}},
                    0};
  std::string compact;
  EncodeClock(clock, &compact);
  return {std::string(1, '\0') + block, "\x01" + FixedDictionary().Compress(ResidentBody(100)),
          "\x02" + compact, "\x02" + testing::ProtobufClock(clock)};
}

}  // namespace bosai::fuzz
