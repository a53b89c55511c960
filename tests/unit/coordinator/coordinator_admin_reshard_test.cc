// CoordinatorCore's admin side when things go wrong, without sockets: a
// group that never answers Reshard, a Resharded of another epoch, a leader
// gone when told to reshard, a remove in the middle of a rebalance, admin
// requests during shutdown; and what the client socket's status leaves out.
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/coordinator/admin_core_fixture.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;
using testing::AdminCoreTestBase;
using testing::AdminStatus;
using testing::Bounds;
using testing::GroupOp;
using testing::OnGroup;
using testing::Rebalance;

class AdminReshardTest : public AdminCoreTestBase {
 protected:
  AdminReshardTest() : AdminCoreTestBase(Options()) {}
  static CoordinatorOptions Options() {
    CoordinatorOptions o;
    o.heartbeat_timeout = absl::Seconds(100);  // no group dies of silence here unless a test says so
    o.queue_timeout = absl::Seconds(100);
    o.drain_timeout = absl::Seconds(2);
    o.reshard_timeout = absl::Seconds(5);
    return o;
  }
  void Heartbeat(const std::string& leader, uint64_t group, uint64_t epoch, SteadyTime now) {
    proto::WorkerMessage hb;
    hb.set_version(proto::PROTOCOL_VERSION_1);
    hb.mutable_heartbeat()->set_group_id(group);
    hb.mutable_heartbeat()->set_epoch(epoch);
    FromWorker(leader, hb, now);
  }
  std::string ShutdownReason(const std::string& leader) {
    for (const testing::Sent& s : outbox_.groups) {
      if (s.to == leader && s.message.has_shutdown()) return s.message.shutdown().reason();
    }
    return "";
  }
};

TEST_F(AdminReshardTest, AGroupThatNeverAnswersReshardIsShutDownAtTheReshardTimeout) {
  const uint64_t a = AddShaped("A", 1, 2);
  const uint64_t b = AddShaped("B", 1, 2);
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4})), t0_).has_result());
  ASSERT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_RESHARDING);
  // Its heartbeat thread goes on beating (under the old epoch) while its
  // ranks are stuck: alive, but not answering.
  for (auto t = 1s; t < 5s; t += 1s) {
    Heartbeat("A", a, 1, t0_ + t);
    core_.Tick(t0_ + t);
  }
  core_.Tick(t0_ + 4999ms);
  EXPECT_EQ(GroupStatusOf(a, t0_ + 4999ms).state(), proto::GROUP_RESHARDING);
  EXPECT_FALSE(GotShutdown("A"));

  core_.Tick(t0_ + 5s);
  const proto::GroupStatus s = GroupStatusOf(a, t0_ + 5s);
  EXPECT_EQ(s.state(), proto::GROUP_DEAD);
  EXPECT_EQ(ShutdownReason("A"), "did not answer Reshard within 5000 ms");
  EXPECT_EQ(s.last_rebalance(), "abandoned: the group died (did not answer Reshard within 5000 ms)");
  EXPECT_EQ(s.rebalances_finished(), 1u);
  EXPECT_EQ(s.plan_generation(), 1u);
  // Its late answer is from a leader this coordinator no longer knows.
  Resharded("A", a, 2, true, "", 90, t0_ + 6s);
  EXPECT_EQ(GroupStatusOf(a, t0_ + 6s).state(), proto::GROUP_DEAD);
  FromClient("c", Request("r1", {1, 2}, 3), t0_ + 6s);
  EXPECT_EQ(Starts("B").size(), 1u);
  (void)b;
}

TEST_F(AdminReshardTest, AResharedOfAnotherEpochLeavesThePlanUnknownAndTheGroupDead) {
  for (uint64_t wrong_epoch : {uint64_t{1}, uint64_t{3}}) {
    SCOPED_TRACE(wrong_epoch);
    const std::string leader = "A" + std::to_string(wrong_epoch);
    const uint64_t a = AddShaped(leader, 1, 2);
    ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 3, 4})), t0_).has_result());
    ASSERT_EQ(Reshards(leader).size(), 1u);
    ASSERT_EQ(Reshards(leader)[0].epoch(), 2u);
    Resharded(leader, a, wrong_epoch, true, "", 90, t0_ + 10ms);
    const proto::GroupStatus s = GroupStatusOf(a, t0_ + 10ms);
    EXPECT_EQ(s.state(), proto::GROUP_DEAD);
    EXPECT_TRUE(GotShutdown(leader));
    EXPECT_TRUE(absl::StrContains(s.last_rebalance(),
                                  "answered Reshard for epoch " + std::to_string(wrong_epoch) +
                                      " while epoch 2 was awaited; its plan is unknown"))
        << s.last_rebalance();
    EXPECT_EQ(s.rebalances_finished(), 1u);
  }
}

TEST_F(AdminReshardTest, AnUnusableResharedKillsTheGroupAndItsQueuedWorkRunsElsewhere) {
  const uint64_t a = AddShaped("A", 1, 2);
  const uint64_t b = AddShaped("B", 1, 2);
  FromClient("c", Request("r1", {1, 300}, 6), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq = Starts("A")[0].seq();
  Update("A", a, 1, seq, {400, 401}, false, t0_ + 10ms);
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4}), 100), t0_ + 20ms).has_result());
  core_.Tick(t0_ + 120ms);  // the drain deadline: r1 continues on B
  ASSERT_EQ(Starts("B").size(), 1u);
  Resharded("A", a, 2, true, "", /*kv_blocks=*/0, t0_ + 130ms);
  const proto::GroupStatus s = GroupStatusOf(a, t0_ + 130ms);
  EXPECT_EQ(s.state(), proto::GROUP_DEAD);
  EXPECT_TRUE(GotShutdown("A"));
  EXPECT_TRUE(absl::StrContains(s.last_rebalance(), "Resharded with 0 KV blocks")) << s.last_rebalance();
  Update("B", b, 1, Starts("B")[0].seq(), {402, 403, 404, 405}, true, t0_ + 200ms);
  ASSERT_TRUE(Last("r1")->has_result());
  EXPECT_EQ(Streamed("r1"), (std::vector<int32_t>{400, 401, 402, 403, 404, 405}));
}

TEST_F(AdminReshardTest, ALeaderGoneWhenToldToReshardIsAnErrorNotAResult) {
  const uint64_t a = AddShaped("A", 1, 2);
  outbox_.gone.insert("A");  // the Reshard cannot be sent
  const proto::AdminReply reply = Admin(Rebalance(a, Bounds({0, 1, 4})), t0_);
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), proto::ERROR_UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(reply.error().message(), "died when told to reshard")) << reply.error().message();
  EXPECT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_DEAD);
}

TEST_F(AdminReshardTest, RemovingAGroupWhileARebalanceDrainsItAbandonsTheRebalance) {
  const uint64_t a = AddShaped("A", 1, 2);
  FromClient("c", Request("r1", {1, 300}, 6), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq = Starts("A")[0].seq();
  Update("A", a, 1, seq, {400}, false, t0_ + 10ms);
  const uint64_t b = AddShaped("B", 1, 2);
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4}), 60000), t0_ + 20ms).has_result());

  const proto::AdminReply reply = Admin(OnGroup(GroupOp::kRemove, a), t0_ + 30ms);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  proto::GroupStatus s = GroupStatusOf(a, t0_ + 30ms);
  EXPECT_EQ(s.last_rebalance(), "abandoned: the group was removed");
  EXPECT_EQ(s.rebalances_finished(), 1u);
  EXPECT_EQ(s.state(), proto::GROUP_DRAINING);
  // The remove's own drain (2 s), not the rebalance's minute.
  core_.Tick(t0_ + 2029ms);
  EXPECT_TRUE(Listed(a));
  core_.Tick(t0_ + 2030ms);
  EXPECT_FALSE(Listed(a));
  EXPECT_TRUE(GotShutdown("A"));
  EXPECT_TRUE(Reshards("A").empty());
  ASSERT_EQ(Starts("B").size(), 1u);
  Update("B", b, 1, Starts("B")[0].seq(), {401, 402, 403, 404, 405}, true, t0_ + 2100ms);
  ASSERT_TRUE(Last("r1")->has_result());
  EXPECT_EQ(Streamed("r1"), (std::vector<int32_t>{400, 401, 402, 403, 404, 405}));
}

TEST_F(AdminReshardTest, RemovingAGroupWhileItReshardsShutsItDownAtOnce) {
  const uint64_t a = AddShaped("A", 1, 2);
  const uint64_t b = AddShaped("B", 1, 2);
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4})), t0_).has_result());
  ASSERT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_RESHARDING);
  const proto::AdminReply reply = Admin(OnGroup(GroupOp::kRemove, a), t0_ + 10ms);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  EXPECT_TRUE(absl::StrContains(reply.result().message(), "removed (nothing was running)"))
      << reply.result().message();
  EXPECT_FALSE(Listed(a));
  EXPECT_TRUE(GotShutdown("A"));
  // Its Resharded, still on the way, is from a leader no longer known.
  Resharded("A", a, 2, true, "", 90, t0_ + 20ms);
  EXPECT_FALSE(Listed(a));
  // Nothing is left of it: no timeout fires for it later.
  core_.Tick(t0_ + 10s);
  FromClient("c", Request("r1", {1, 2}, 3), t0_ + 10s);
  EXPECT_EQ(Starts("B").size(), 1u);
  (void)b;
}

TEST_F(AdminReshardTest, AdminRequestsDuringShutdownAreAnsweredUnavailable) {
  AddShaped("A", 1, 1);
  core_.Shutdown("stopping", t0_);
  const proto::AdminReply reply = Admin(AdminStatus(), t0_ + 1ms);
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), proto::ERROR_UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(reply.error().message(), "shutting down")) << reply.error().message();
}

TEST_F(AdminReshardTest, TheClientSocketsStatusLeavesOutPlansStagesAndRanks) {
  const uint64_t a = AddShaped("A", 2, 2);
  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  hb.mutable_heartbeat()->set_group_id(a);
  hb.mutable_heartbeat()->set_epoch(1);
  hb.mutable_heartbeat()->add_stages()->set_steps(3);
  hb.mutable_heartbeat()->add_ranks()->set_resident_bytes(1000);
  FromWorker("A", hb, t0_);

  proto::ClientRequest status;
  status.set_version(proto::PROTOCOL_VERSION_1);
  status.mutable_status();
  FromClient("c", status, t0_);
  ASSERT_FALSE(outbox_.clients.empty());
  ASSERT_TRUE(outbox_.clients.back().reply.has_status());
  const proto::ClusterStatus& s = outbox_.clients.back().reply.status();
  ASSERT_EQ(s.groups_size(), 1);
  EXPECT_FALSE(s.groups(0).has_plan());
  EXPECT_EQ(s.groups(0).stages_size(), 0);
  EXPECT_EQ(s.groups(0).ranks_size(), 0);
  EXPECT_EQ(s.groups(0).state(), proto::GROUP_READY);  // the rest is there
  EXPECT_EQ(s.groups(0).tp(), 2);
  // The admin socket's status keeps them.
  const proto::GroupStatus admin = GroupStatusOf(a, t0_);
  EXPECT_EQ(admin.plan().ranks_size(), 4);
  EXPECT_EQ(admin.stages_size(), 1);
  EXPECT_EQ(admin.ranks_size(), 1);
}

// Queued requests only a resharding group can hold.
class AdminQueueTest : public AdminReshardTest {
 protected:
  void SetUp() override {
    a_ = AddShaped("A", 1, 2, /*max_sequences=*/4, /*kv_blocks=*/100);
    b_ = AddShaped("B", 1, 2, /*max_sequences=*/1, /*kv_blocks=*/4);  // 64 positions, one sequence
    ASSERT_TRUE(Admin(Rebalance(a_, Bounds({0, 1, 4})), t0_).has_result());
    ASSERT_EQ(GroupStatusOf(a_, t0_).state(), proto::GROUP_RESHARDING);
  }
  void Big(const std::string& id, SteadyTime now) {
    FromClient("c", Request(id, std::vector<int32_t>(100, 300), 20), now);  // 119 positions: only A
  }
  std::vector<int32_t> FirstTokens(const std::string& leader) {
    std::vector<int32_t> out;
    for (const proto::StartSequence& s : Starts(leader)) out.push_back(s.tokens(0));
    return out;
  }
  uint64_t a_ = 0;
  uint64_t b_ = 0;
};

TEST_F(AdminQueueTest, WhatReadyGroupsCanTakePassesAWaitingHeadInOrder) {
  Big("big", t0_ + 1ms);
  FromClient("c", Request("s1", {11, 2}, 4), t0_ + 2ms);
  FromClient("c", Request("s2", {12, 2}, 4), t0_ + 3ms);
  FromClient("c", Request("s3", {13, 2}, 4), t0_ + 4ms);
  // s1 passes "big" to B; s2 waits for B's only slot and s3 behind it.
  EXPECT_EQ(FirstTokens("B"), (std::vector<int32_t>{11}));
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 3);
  Update("B", b_, 1, Starts("B")[0].seq(), {300, 301, 302, 303}, true, t0_ + 10ms);
  EXPECT_EQ(FirstTokens("B"), (std::vector<int32_t>{11, 12}));
  Update("B", b_, 1, Starts("B")[1].seq(), {300, 301, 302, 303}, true, t0_ + 20ms);
  EXPECT_EQ(FirstTokens("B"), (std::vector<int32_t>{11, 12, 13}));
  EXPECT_TRUE(Starts("A").empty());
  // "big" kept its place: first on A when it is back.
  Resharded("A", a_, 2, true, "", 100, t0_ + 30ms);
  ASSERT_EQ(Starts("A").size(), 1u);
  EXPECT_EQ(Starts("A")[0].tokens_size(), 100);
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 0);
}

TEST_F(AdminQueueTest, ARequestWaitingForASlotIsNotPassed) {
  FromClient("c", Request("s1", {11, 2}, 4), t0_ + 1ms);  // takes B's slot
  FromClient("c", Request("s2", {12, 2}, 4), t0_ + 2ms);  // waits for it
  Big("big", t0_ + 3ms);
  FromClient("c", Request("s3", {13, 2}, 4), t0_ + 4ms);
  EXPECT_EQ(FirstTokens("B"), (std::vector<int32_t>{11}));
  // s3 passes "big" but not s2: the next free slot is s2's.
  Update("B", b_, 1, Starts("B")[0].seq(), {300, 301, 302, 303}, true, t0_ + 10ms);
  EXPECT_EQ(FirstTokens("B"), (std::vector<int32_t>{11, 12}));
  Update("B", b_, 1, Starts("B")[1].seq(), {300, 301, 302, 303}, true, t0_ + 20ms);
  EXPECT_EQ(FirstTokens("B"), (std::vector<int32_t>{11, 12, 13}));
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 1);
}

TEST_F(AdminQueueTest, TheScanPastWaitingHeadsIsBounded) {
  const int kScan = CoordinatorCore::kDispatchScan;
  for (int i = 0; i + 1 < kScan; ++i) Big("big" + std::to_string(i), t0_ + 1ms);
  FromClient("c", Request("s1", {11, 2}, 4), t0_ + 2ms);  // behind kScan - 1 of them: found
  EXPECT_EQ(FirstTokens("B"), (std::vector<int32_t>{11}));
  Update("B", b_, 1, Starts("B")[0].seq(), {300, 301, 302, 303}, true, t0_ + 3ms);
  Big("last big", t0_ + 4ms);
  FromClient("c", Request("s2", {12, 2}, 4), t0_ + 5ms);  // behind kScan of them: not looked at
  EXPECT_EQ(Starts("B").size(), 1u);
  EXPECT_EQ(core_.Status(t0_).queue_depth(), kScan + 1);
}

}  // namespace
}  // namespace tessera
