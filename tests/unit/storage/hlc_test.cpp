// Hybrid logical clock: monotonic under a stalled or backward wall clock, observes remote stamps.
#include "storage/hlc.h"

#include <gtest/gtest.h>

namespace bosai {
namespace {

TEST(Hlc, FollowsTheWallClock) {
  ManualClock clock(1'000'000);
  Hlc hlc(&clock);
  uint64_t a = hlc.Now();
  EXPECT_EQ(HlcMillis(a), 1'000'000);
  EXPECT_EQ(HlcCounter(a), 0u);
  clock.Advance(5);
  uint64_t b = hlc.Now();
  EXPECT_EQ(HlcMillis(b), 1'000'005);
  EXPECT_EQ(HlcCounter(b), 0u);
}

TEST(Hlc, CounterAdvancesWhenTheWallClockStallsOrGoesBack) {
  ManualClock clock(1'000'000);
  Hlc hlc(&clock);
  uint64_t a = hlc.Now();
  uint64_t b = hlc.Now();
  EXPECT_GT(b, a);
  EXPECT_EQ(HlcCounter(b), 1u);
  clock.Set(900'000);  // wall clock set back
  uint64_t c = hlc.Now();
  EXPECT_GT(c, b);
  EXPECT_EQ(HlcMillis(c), 1'000'000);
}

TEST(Hlc, PersistedHighWaterIsRespected) {
  ManualClock clock(1'000);
  Hlc hlc(&clock, HlcPack(5'000, 7));
  EXPECT_EQ(hlc.Now(), HlcPack(5'000, 8));
}

TEST(Hlc, ObserveMovesPastRemoteStamps) {
  ManualClock clock(1'000);
  Hlc hlc(&clock);
  hlc.Observe(HlcPack(2'000, 3));
  EXPECT_EQ(hlc.Now(), HlcPack(2'000, 4));
  hlc.Observe(HlcPack(1'500, 0));  // older: ignored
  EXPECT_EQ(hlc.Now(), HlcPack(2'000, 5));
}

TEST(Hlc, CounterOverflowStaysMonotonic) {
  ManualClock clock(1'000);
  Hlc hlc(&clock, HlcPack(1'000, 0xffff));
  uint64_t next = hlc.Now();
  EXPECT_GT(next, HlcPack(1'000, 0xffff));
}

}  // namespace
}  // namespace bosai
