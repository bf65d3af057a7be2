// Hybrid logical clock (Kulkarni et al. 2014): 48-bit wall milliseconds + 16-bit counter in one
// uint64, so stamps compare as integers. The Clock interface is the seam that lets tests and the
// simulator control time. Not thread-safe: an Hlc belongs to the writer that stamps ops.
#pragma once

#include <cstdint>

namespace bosai {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMillis() = 0;  // wall clock, Unix milliseconds
};

class SystemClock : public Clock {
 public:
  int64_t NowMillis() override;
  static SystemClock* Get();
};

// A clock a test sets by hand.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t ms) : ms_(ms) {}
  int64_t NowMillis() override { return ms_; }
  void Set(int64_t ms) { ms_ = ms; }
  void Advance(int64_t ms) { ms_ += ms; }

 private:
  int64_t ms_;
};

inline uint64_t HlcPack(int64_t millis, uint32_t counter) {
  return (static_cast<uint64_t>(millis) << 16) | (counter & 0xffff);
}
inline int64_t HlcMillis(uint64_t hlc) { return static_cast<int64_t>(hlc >> 16); }
inline uint32_t HlcCounter(uint64_t hlc) { return static_cast<uint32_t>(hlc & 0xffff); }

class Hlc {
 public:
  explicit Hlc(Clock* clock, uint64_t high_water = 0) : clock_(clock), last_(high_water) {}

  // A stamp greater than every stamp issued or observed so far. When the wall clock is behind
  // the high-water mark the counter advances (Store::ClockLagMillis says by how much).
  uint64_t Now();
  // Takes a remote stamp into account so that later local stamps are greater.
  void Observe(uint64_t remote);

  uint64_t high_water() const { return last_; }

 private:
  Clock* clock_;
  uint64_t last_;
};

}  // namespace bosai
