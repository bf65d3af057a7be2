// Test tool: writes, or reads back, a record field with a number this version does not know, as
// a newer bosai would. Shows that an op from the future survives relay. Not shipped.
//   future_field DATA_DIR write KEY VALUE    field 1000 of resident KEY := VALUE
//   future_field DATA_DIR read KEY           prints field 1000 of resident KEY
#include <iostream>

#include "node/node.h"

using namespace bosai;

int main(int argc, char** argv) {
  constexpr uint32_t kFutureField = 1000;
  if (argc < 4) {
    std::cerr << "usage: future_field DATA_DIR write|read KEY [VALUE]\n";
    return 2;
  }
  auto node = node::Node::Open(argv[1]);
  if (!node.ok()) {
    std::cerr << node.status().message() << "\n";
    return 1;
  }
  Store& store = (*node)->store();
  std::string mode = argv[2], key = argv[3];
  if (mode == "write" && argc == 5) {
    std::string value = argv[4];
    std::string wire;  // length-delimited field kFutureField
    uint32_t tag = (kFutureField << 3) | 2;
    while (tag >= 0x80) {
      wire.push_back(char(tag | 0x80));
      tag >>= 7;
    }
    wire.push_back(char(tag));
    wire.push_back(char(value.size()));
    wire += value;
    FieldMap fields;
    fields[kFutureField] = wire;
    Status st = store.BeginWrite("user:future");
    if (st.ok()) st = store.Put((*node)->scope(), 1, key, fields);
    if (st.ok()) st = store.CommitWrite();
    if (!st.ok()) {
      std::cerr << st.message() << "\n";
      return 1;
    }
    return 0;
  }
  if (mode == "read") {
    auto rec = store.GetRecord(1, key);
    if (!rec.ok() || !*rec) return 1;
    auto it = (*rec)->body.find(kFutureField);
    if (it == (*rec)->body.end()) return 1;
    const std::string& wire = it->second;  // tag varint, length varint, value
    size_t at = 0;
    while (at < wire.size() && (uint8_t(wire[at]) & 0x80)) ++at;
    ++at;
    size_t len = at < wire.size() ? uint8_t(wire[at]) : 0;
    std::cout << wire.substr(at + 1, len) << "\n";
    return 0;
  }
  std::cerr << "unknown mode\n";
  return 2;
}
