// Hybrid logical clock; see hlc.h.
#include "storage/hlc.h"

#include <chrono>

namespace bosai {

int64_t SystemClock::NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

SystemClock* SystemClock::Get() {
  static SystemClock clock;
  return &clock;
}

uint64_t Hlc::Now() {
  int64_t wall = clock_->NowMillis();
  if (wall > HlcMillis(last_)) {
    last_ = HlcPack(wall, 0);
  } else {
    // Counter overflow carries into the millisecond part: still monotonic.
    last_ += 1;
  }
  return last_;
}

void Hlc::Observe(uint64_t remote) {
  if (remote > last_) last_ = remote;
}

}  // namespace bosai
