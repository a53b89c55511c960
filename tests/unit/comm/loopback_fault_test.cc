// Loopback fault injection: killed peers, lost and delayed messages, and the
// broken state after a timeout.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/comm/loopback_harness.h"

namespace tessera {
namespace {

using testing::LoopbackRanks;

constexpr absl::Duration kTimeout = absl::Milliseconds(200);
constexpr double kMaxSeconds = 2.0;  // timeout plus a generous margin

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool Mentions(const absl::Status& s, const std::string& text) {
  return s.message().find(text) != std::string_view::npos;
}

// One call of an operation on a communicator, for every operation.
struct Op {
  std::string name;  // as it appears in error messages
  std::function<absl::Status(Communicator&)> call;
};

std::vector<Op> AllOps(int peer) {
  return {
      {"all-reduce",
       [](Communicator& c) {
         std::vector<float> v(16, 1.0f);
         return c.AllReduceSum(std::span<float>(v), kTimeout);
       }},
      {"all-gather",
       [](Communicator& c) {
         std::vector<std::byte> send(4), recv(4 * c.size());
         return c.AllGather(std::span<const std::byte>(send), std::span<std::byte>(recv), kTimeout);
       }},
      {"broadcast",
       [peer](Communicator& c) {
         std::vector<std::byte> v(8);
         return c.Broadcast(std::span<std::byte>(v), peer, kTimeout);  // the dead rank is the root
       }},
      {"barrier", [](Communicator& c) { return c.Barrier(kTimeout); }},
      {"split", [](Communicator& c) { return c.Split(0, c.rank(), kTimeout).status(); }},
      {"recv",
       [peer](Communicator& c) {
         std::vector<std::byte> v(8);
         return c.Recv(std::span<std::byte>(v), peer, 1, kTimeout);
       }},
      {"recv",  // RecvAny
       [peer](Communicator& c) { return c.RecvAny(peer, 1, kTimeout).status(); }},
      {"send",
       [peer](Communicator& c) {
         std::vector<std::byte> v(8);
         return c.Send(std::span<const std::byte>(v), peer, 1, kTimeout);
       }},
  };
}

TEST(LoopbackFaults, EveryOpNeedingAKilledPeerTimesOutThenTheCommunicatorIsBroken) {
  constexpr int kDead = 2;
  for (const Op& op : AllOps(kDead)) {
    SCOPED_TRACE(op.name);
    LoopbackRanks ranks(3);
    ranks.hub->Kill(kDead);
    ranks.Run([&](Communicator& c) {
      const auto start = std::chrono::steady_clock::now();
      absl::Status s = op.call(c);
      const double took = Since(start);
      if (c.rank() == kDead) {
        EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
        EXPECT_TRUE(Mentions(s, "killed")) << s;
        EXPECT_LT(took, kMaxSeconds);
        return;
      }
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
      EXPECT_TRUE(Mentions(s, op.name)) << s;
      EXPECT_TRUE(Mentions(s, "rank 2")) << s;
      EXPECT_TRUE(Mentions(s, "200 ms")) << s;
      EXPECT_GE(took, 0.19);
      EXPECT_LT(took, kMaxSeconds);
      // Broken: the next call, of any kind, fails at once.
      const auto again = std::chrono::steady_clock::now();
      absl::Status later = c.Barrier(absl::Seconds(5));
      EXPECT_EQ(later.code(), absl::StatusCode::kUnavailable) << later;
      EXPECT_TRUE(Mentions(later, "broken")) << later;
      EXPECT_LT(Since(again), 0.1);
    });
  }
}

TEST(LoopbackFaults, TimeoutNamesEveryMissingRank) {
  LoopbackRanks ranks(4);
  ranks.hub->Kill(1);
  ranks.hub->Kill(3);
  ranks.Run([&](Communicator& c) {
    if (c.rank() % 2 == 1) return;
    absl::Status s = c.Barrier(kTimeout);
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
    EXPECT_TRUE(Mentions(s, "barrier on loopback world " + std::to_string(c.rank()) + "/4: no answer from ranks 1, 3"))
        << s;
  });
}

TEST(LoopbackFaults, BroadcastRootFailsWhenAReceiverIsDeadOthersGetTheData) {
  LoopbackRanks ranks(3);
  ranks.hub->Kill(2);
  ranks.Run([&](Communicator& c) {
    if (c.rank() == 2) return;
    std::vector<int32_t> v(4, c.rank() == 0 ? 7 : 0);
    absl::Status s = c.Broadcast(AsWritableBytes(std::span<int32_t>(v)), 0, kTimeout);
    if (c.rank() == 0) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
      EXPECT_TRUE(Mentions(s, "rank 2")) << s;
    } else {
      EXPECT_TRUE(s.ok()) << s;
      EXPECT_EQ(v[0], 7);
    }
  });
}

TEST(LoopbackFaults, KillWakesTheKilledRanksWaitingCall) {
  LoopbackRanks ranks(2);
  std::atomic<bool> waiting{false};
  ranks.Run([&](Communicator& c) {
    if (c.rank() == 0) {
      while (!waiting.load()) absl::SleepFor(absl::Milliseconds(1));
      absl::SleepFor(absl::Milliseconds(20));
      ranks.hub->Kill(1);
      return;
    }
    waiting = true;
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = c.RecvAny(0, 0, absl::InfiniteDuration()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_LT(Since(start), kMaxSeconds);
    // A killed rank stays dead: every later call fails at once.
    std::vector<float> v(2);
    EXPECT_EQ(c.AllReduceSum(std::span<float>(v), absl::InfiniteDuration()).code(), absl::StatusCode::kUnavailable);
  });
}

TEST(LoopbackFaults, SubCommunicatorsOfAKilledRankAreDead) {
  LoopbackRanks ranks(6);
  std::atomic<int> split_done{0};
  ranks.Run([&](Communicator& world) {
    const int color = world.rank() / 3;  // {0,1,2} and {3,4,5}
    absl::StatusOr<std::unique_ptr<Communicator>> sub = world.Split(color, 0);
    ASSERT_TRUE(sub.ok()) << sub.status();
    // Kill world rank 4 once every rank has its sub-communicator.
    if (++split_done == 6) ranks.hub->Kill(4);
    while (split_done.load() < 6) absl::SleepFor(absl::Milliseconds(1));
    absl::SleepFor(absl::Milliseconds(5));
    std::vector<float> v = {1.0f};
    absl::Status s = (*sub)->AllReduceSum(std::span<float>(v), kTimeout);
    if (color == 0) {
      EXPECT_TRUE(s.ok()) << s;
      EXPECT_EQ(v[0], 3.0f);
    } else if (world.rank() == 4) {
      EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
      EXPECT_TRUE(Mentions(s, "loopback world.1")) << s;
      EXPECT_TRUE(Mentions(s, "no answer from rank 1")) << s;  // world rank 4 is rank 1 of the group
    }
  });
}

TEST(LoopbackFaults, DroppedMessagesNeverArrive) {
  LoopbackRanks ranks(2);
  ranks.hub->DropMessagesFrom(1);
  ranks.Run([&](Communicator& c) {
    const int32_t v = 5;
    if (c.rank() == 1) {
      EXPECT_TRUE(c.Send(AsBytes(std::span<const int32_t>(&v, 1)), 0, 0).ok());  // the sender cannot tell
      return;
    }
    int32_t got = 0;
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = c.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), 1, 0, kTimeout);
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
    EXPECT_TRUE(Mentions(s, "recv on loopback world 0/2: no answer from rank 1 within 200 ms")) << s;
    EXPECT_LT(Since(start), kMaxSeconds);
  });
}

TEST(LoopbackFaults, DroppingACountLosesOnlyThoseMessages) {
  LoopbackRanks ranks(2);
  ranks.hub->DropMessagesFrom(0, 2);
  Communicator& a = *ranks.comms[0];
  Communicator& b = *ranks.comms[1];
  for (int32_t i = 0; i < 4; ++i) ASSERT_TRUE(a.Send(AsBytes(std::span<const int32_t>(&i, 1)), 1, 0).ok());
  for (int32_t want : {2, 3}) {
    int32_t got = -1;
    ASSERT_TRUE(b.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), 0, 0, kTimeout).ok());
    EXPECT_EQ(got, want);
  }
}

TEST(LoopbackFaults, DelayedMessagesArriveLateAndInOrder) {
  LoopbackRanks ranks(2);
  Communicator& a = *ranks.comms[0];
  Communicator& b = *ranks.comms[1];
  ranks.hub->Delay(0, absl::Milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  for (int32_t i = 0; i < 3; ++i) ASSERT_TRUE(a.Send(AsBytes(std::span<const int32_t>(&i, 1)), 1, 0).ok());
  // Undelayed messages sent later must not overtake the delayed ones.
  ranks.hub->Heal(0);
  for (int32_t i = 3; i < 6; ++i) ASSERT_TRUE(a.Send(AsBytes(std::span<const int32_t>(&i, 1)), 1, 0).ok());
  for (int32_t want = 0; want < 6; ++want) {
    int32_t got = -1;
    ASSERT_TRUE(b.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), 0, 0, absl::Seconds(2)).ok());
    EXPECT_EQ(got, want);
  }
  EXPECT_GE(Since(start), 0.095);
}

TEST(LoopbackFaults, CollectivesSucceedWithADelayedRankAndTimeOutWhenTooSlow) {
  LoopbackRanks ranks(3);
  ranks.hub->Delay(1, absl::Milliseconds(50));
  ranks.Run([&](Communicator& c) {
    for (int round = 0; round < 3; ++round) {
      std::vector<float> v = {static_cast<float>(c.rank() + round)};
      ASSERT_TRUE(c.AllReduceSum(std::span<float>(v), absl::Seconds(2)).ok());
      EXPECT_EQ(v[0], 3.0f + 3.0f * static_cast<float>(round));
    }
  });
  ranks.hub->Delay(1, absl::Milliseconds(500));
  ranks.Run([&](Communicator& c) {
    absl::Status s = c.Barrier(kTimeout);
    if (c.rank() == 1) {
      EXPECT_TRUE(s.ok()) << s;  // its peers answer in time
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
      EXPECT_TRUE(Mentions(s, "no answer from rank 1")) << s;
    }
  });
}

}  // namespace
}  // namespace tessera
