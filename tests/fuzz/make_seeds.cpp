// Writes the seed corpora of the fuzz targets: a few valid frames of each kind, a valid compact
// node certificate, and a valid block, stored body and clocks.
#include <fstream>
#include <iostream>
#include <string>

#include "sync/frame.h"
#include "tests/fuzz/compact_seed.h"
#include "tests/fuzz/stored_seed.h"

int main(int argc, char** argv) {
  using namespace bosai::sync;
  if (argc != 2) {
    std::cerr << "usage: make_seeds DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  int n = 0;
  auto write = [&](const std::string& bytes) {
    std::ofstream(dir + "/seed-" + std::to_string(n++), std::ios::binary) << '\x07' << bytes;
  };
  write(*EncodeFrame(FrameType::kHello, "hello"));
  write(*EncodeFrame(FrameType::kAck, std::string(200, 'a')));
  write(*EncodeFrame(FrameType::kBlocks, std::string(3000, 'b')) +
        *EncodeFrame(FrameType::kHeartbeat, ""));
  write(*EncodeFrame(FrameType::kError, "bad block", false));
  // For the compact certificate target: a valid certificate under its fixed root.
  std::ofstream(dir + "/seed-compact", std::ios::binary) << bosai::fuzz::CompactSeed();
  // For the stored-forms target: each led by the byte that chooses its decoder.
  for (const std::string& seed : bosai::fuzz::StoredSeeds()) {
    std::ofstream(dir + "/seed-stored-" + std::to_string(n++), std::ios::binary) << seed;
  }
  return 0;
}
