// libFuzzer target: the decoders of what a node stores and relays must never crash, read out of
// bounds or allocate past their limits, whatever the bytes: op-log blocks (from peers, bundles
// and relays; parsed before their signature is checked), stored record bodies and record clocks
// (read back from a database that may be damaged). What a decoder accepts encodes back to what
// decodes the same. The first byte chooses the decoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/fields.h"
#include "tests/fuzz/stored_seed.h"

namespace {

using namespace bosai;

void Block(std::string_view input) {
  auto header = ParseBlockHeader(input);
  if (!header.ok()) return;
  (void)VerifyBlock(input, fuzz::FixedKey().public_key());
  auto raw = DecompressBlockPayload(input);
  if (raw.ok() && raw->size() > kMaxBlockRawBytes) __builtin_trap();
  auto batch = DecodeBlockPayload(input);
  if (!batch.ok()) return;
  if (uint32_t(batch->ops_size()) != header->count) __builtin_trap();
  for (const auto& op : batch->ops()) {
    (void)SplitFields(op.set());
    for (const auto& w : op.writes()) (void)SplitFields(w.value());
  }
  std::string again = EncodeBlock(*header, *batch, fuzz::FixedKey());
  auto back = DecodeBlockPayload(again);
  if (!back.ok() || back->SerializeAsString() != batch->SerializeAsString()) __builtin_trap();
  if (!VerifyBlock(again, fuzz::FixedKey().public_key()).ok()) __builtin_trap();
}

void Body(std::string_view input) {
  RecordCodec codec([](uint32_t id) -> Result<std::optional<std::string>> {
    if (id != fuzz::FixedDictionary().id()) return std::optional<std::string>();
    return std::optional<std::string>(std::string(fuzz::FixedDictionary().data()));
  });
  std::string buffer;
  auto body = codec.Decode(input, buffer);
  // A store holds protobuf messages only: those must come back through the dictionary.
  if (!body.ok() || body->empty() || !SplitFields(*body).ok()) return;
  std::string stored = fuzz::FixedDictionary().Compress(*body);
  std::string again_buffer;
  auto again = codec.Decode(stored, again_buffer);
  if (!again.ok() || *again != *body) __builtin_trap();
}

void Clock(std::string_view input) {
  StoredClock clock;
  if (!DecodeClock(input, &clock).ok()) return;
  if (clock.stamps.empty()) __builtin_trap();
  for (const auto& [field, index] : clock.fields) {
    if (index >= clock.stamps.size()) __builtin_trap();
  }
  std::string stored;
  EncodeClock(clock, &stored);
  StoredClock back;
  if (!DecodeClock(stored, &back).ok() || back.fields != clock.fields ||
      back.siblings != clock.siblings || back.stamps.size() != clock.stamps.size()) {
    __builtin_trap();
  }
  for (size_t i = 0; i < clock.stamps.size(); ++i) {
    const ClockStamp& a = clock.stamps[i];
    const ClockStamp& b = back.stamps[i];
    if (a.stream != b.stream || a.seq != b.seq || a.hlc != b.hlc || a.reg != b.reg) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The seed block verifies under the fixed key: else re-encoded blocks could not be checked.
  static const bool seed_block_verifies = [] {
    std::string block = fuzz::StoredSeeds()[0].substr(1);
    if (!VerifyBlock(block, fuzz::FixedKey().public_key()).ok()) __builtin_trap();
    return true;
  }();
  (void)seed_block_verifies;
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      Block(input);
      break;
    case 1:
      Body(input);
      break;
    default:
      Clock(input);
      break;
  }
  return 0;
}
