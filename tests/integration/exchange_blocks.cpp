// Test tool: copies every op-log block that one data dir's database holds and another lacks,
// the way sync will, trusting the origin keys the source database recorded. Not shipped.
#include <iostream>

#include "storage/store.h"

int main(int argc, char** argv) {
  using namespace bosai;
  if (argc != 3) {
    std::cerr << "usage: exchange_blocks FROM.db TO.db\n";
    return 2;
  }
  auto from = Store::Open(argv[1], {});
  auto to = Store::Open(argv[2], {});
  if (!from.ok() || !to.ok()) {
    std::cerr << "cannot open: " << (from.ok() ? to.status() : from.status()).message() << "\n";
    return 1;
  }
  KeyLookup keys = [&](const std::string& inc) -> std::optional<std::string> {
    auto k = (*from)->PublicKey(inc);
    return k.ok() ? *k : std::nullopt;
  };
  auto vv = (*to)->Vector();
  std::vector<std::string> blocks;
  Status st = (*from)->ReadBlocks(*vv, nullptr, [&](std::string_view b) {
    blocks.emplace_back(b);
    return Status::Ok();
  });
  for (const auto& b : blocks) {
    if (st.ok()) st = (*to)->ApplyBlock(b, keys);
  }
  if (!st.ok()) {
    std::cerr << st.message() << "\n";
    return 1;
  }
  return 0;
}
