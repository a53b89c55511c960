// CoordinatorCore's admin requests without sockets: drain and undrain,
// remove, plan preview and diff, and the live rebalance (drain, Reshard,
// Resharded ok or rolled back, the drain timeout), each checked against
// hand-computed plans, epochs and token streams.
#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/model_fingerprint.h"
#include "tests/unit/coordinator/admin_core_fixture.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;
using testing::AdminCoreTestBase;
using testing::AdminStatus;
using testing::Bounds;
using testing::GroupOp;
using testing::OnGroup;
using testing::PlanPreview;
using testing::Rebalance;
using testing::StageLayers;

using Layers = std::vector<std::pair<int64_t, int64_t>>;

class AdminCoreTest : public AdminCoreTestBase {
 protected:
  AdminCoreTest() : AdminCoreTestBase(Options()) {}
  static CoordinatorOptions Options() {
    CoordinatorOptions o;
    o.heartbeat_timeout = absl::Seconds(100);  // no group dies of silence here unless a test says so
    o.queue_timeout = absl::Seconds(100);
    o.drain_timeout = absl::Seconds(2);
    return o;
  }
};

TEST_F(AdminCoreTest, StatusShowsPlansGenerationsAndWhatHeartbeatsReport) {
  const uint64_t a = AddShaped("A", 1, 2);
  const proto::AdminReply reply = Admin(AdminStatus(), t0_);
  ASSERT_TRUE(reply.has_status()) << reply.DebugString();
  ASSERT_EQ(reply.status().groups_size(), 1);
  const proto::GroupStatus& g = reply.status().groups(0);
  EXPECT_EQ(g.state(), proto::GROUP_READY);
  EXPECT_EQ(g.plan_generation(), 1u);
  EXPECT_EQ(StageLayers(g.plan()), (Layers{{0, 2}, {2, 4}}));
  EXPECT_FALSE(g.admin_drained());

  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  proto::Heartbeat* h = hb.mutable_heartbeat();
  h->set_group_id(a);
  h->set_epoch(1);
  proto::StageTiming* st = h->add_stages();
  st->set_stage(1);
  st->set_steps(10);
  st->set_mean_step_seconds(0.25);
  st->set_layers(2);
  proto::RankMemory* rm = h->add_ranks();
  rm->set_rank(1);
  rm->set_resident_bytes(12345);
  FromWorker("A", hb, t0_ + 10ms);
  const proto::GroupStatus after = GroupStatusOf(a, t0_ + 10ms);
  ASSERT_EQ(after.stages_size(), 1);
  EXPECT_EQ(after.stages(0).mean_step_seconds(), 0.25);
  ASSERT_EQ(after.ranks_size(), 1);
  EXPECT_EQ(after.ranks(0).resident_bytes(), 12345);
  // A heartbeat of another epoch says nothing about this one.
  h->set_epoch(7);
  h->mutable_stages(0)->set_mean_step_seconds(9.0);
  FromWorker("A", hb, t0_ + 20ms);
  EXPECT_EQ(GroupStatusOf(a, t0_ + 20ms).stages(0).mean_step_seconds(), 0.25);
}

TEST_F(AdminCoreTest, DrainStopsRoutingToTheGroupAndUndrainResumesIt) {
  const uint64_t a = AddShaped("A", 1, 1);
  const uint64_t b = AddShaped("B", 1, 1);
  FromClient("c", Request("r1", {1, 300}, 4), t0_);  // least outstanding, lower id: A
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq1 = Starts("A")[0].seq();

  proto::AdminReply reply = Admin(OnGroup(GroupOp::kDrain, a), t0_);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  proto::GroupStatus s = GroupStatusOf(a, t0_);
  EXPECT_EQ(s.state(), proto::GROUP_DRAINING);
  EXPECT_TRUE(s.admin_drained());
  // New requests go to B, even with A emptier.
  for (int i = 0; i < 3; ++i) FromClient("c", Request("n" + std::to_string(i), {1, 2}, 4), t0_);
  EXPECT_EQ(Starts("A").size(), 1u);
  EXPECT_EQ(Starts("B").size(), 3u);
  // A's running request still finishes there.
  Update("A", a, 1, seq1, {400, 401, 402, 403}, true, t0_ + 10ms);
  ASSERT_NE(Last("r1"), nullptr);
  ASSERT_TRUE(Last("r1")->has_result());
  EXPECT_EQ(Streamed("r1"), (std::vector<int32_t>{400, 401, 402, 403}));
  // Draining twice is no error.
  EXPECT_TRUE(Admin(OnGroup(GroupOp::kDrain, a), t0_).has_result());

  reply = Admin(OnGroup(GroupOp::kUndrain, a), t0_ + 20ms);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  s = GroupStatusOf(a, t0_ + 20ms);
  EXPECT_EQ(s.state(), proto::GROUP_READY);
  EXPECT_FALSE(s.admin_drained());
  FromClient("c", Request("r2", {1, 2}, 4), t0_ + 20ms);  // A is idle, B runs 3
  EXPECT_EQ(Starts("A").size(), 2u);
  (void)b;
}

TEST_F(AdminCoreTest, AQueuedRequestWaitsForAnUndrainedGroup) {
  const uint64_t a = AddShaped("A", 1, 1);
  ASSERT_TRUE(Admin(OnGroup(GroupOp::kDrain, a), t0_).has_result());
  FromClient("c", Request("r1", {1, 2}, 4), t0_);
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 1);
  EXPECT_TRUE(Starts("A").empty());
  ASSERT_TRUE(Admin(OnGroup(GroupOp::kUndrain, a), t0_ + 5ms).has_result());
  EXPECT_EQ(Starts("A").size(), 1u);  // dispatched by the undrain itself
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 0);
}

TEST_F(AdminCoreTest, RemoveMovesWhatStillRunsAsContinuationsAndShutsTheGroupDown) {
  const uint64_t a = AddShaped("A", 1, 1);
  FromClient("c", Request("r1", {1, 300}, 6), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq = Starts("A")[0].seq();
  Update("A", a, 1, seq, {400, 401}, false, t0_ + 10ms);
  const uint64_t b = AddShaped("B", 1, 1);

  const proto::AdminReply reply = Admin(OnGroup(GroupOp::kRemove, a), t0_ + 20ms);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  EXPECT_EQ(GroupStatusOf(a, t0_ + 20ms).state(), proto::GROUP_DRAINING);
  EXPECT_FALSE(GotShutdown("A"));
  // Still running there until the drain timeout (2 s): its tokens count.
  Update("A", a, 1, seq, {402}, false, t0_ + 1s);
  core_.Tick(t0_ + 1999ms);
  EXPECT_TRUE(Starts("B").empty());
  core_.Tick(t0_ + 2020ms);
  EXPECT_TRUE(GotShutdown("A"));
  EXPECT_FALSE(Listed(a));
  ASSERT_EQ(Starts("B").size(), 1u);
  const proto::StartSequence cont = Starts("B")[0];
  EXPECT_EQ(std::vector<int32_t>(cont.tokens().begin(), cont.tokens().end()),
            (std::vector<int32_t>{1, 300, 400, 401, 402}));
  EXPECT_EQ(cont.max_new_tokens(), 3);
  // A's late tokens are from a leader this coordinator no longer knows.
  Update("A", a, 1, seq, {403}, false, t0_ + 2100ms);
  Update("B", b, 1, cont.seq(), {403, 404, 405}, true, t0_ + 2200ms);
  ASSERT_TRUE(Last("r1")->has_result());
  const std::vector<int32_t> expected = {400, 401, 402, 403, 404, 405};
  EXPECT_EQ(Streamed("r1"), expected);
  EXPECT_EQ(std::vector<int32_t>(Last("r1")->result().tokens().begin(), Last("r1")->result().tokens().end()),
            expected);
}

TEST_F(AdminCoreTest, RemovingAnIdleGroupIsImmediate) {
  const uint64_t a = AddShaped("A", 1, 1);
  const proto::AdminReply reply = Admin(OnGroup(GroupOp::kRemove, a), t0_);
  ASSERT_TRUE(reply.has_result());
  EXPECT_TRUE(absl::StrContains(reply.result().message(), "removed")) << reply.result().message();
  EXPECT_TRUE(GotShutdown("A"));
  EXPECT_FALSE(Listed(a));
  EXPECT_EQ(Admin(OnGroup(GroupOp::kRemove, a), t0_).error().code(), proto::ERROR_NOT_FOUND);
}

TEST_F(AdminCoreTest, RebalanceWaitsForTheRunningThenReshardsUnderTheNextEpoch) {
  const uint64_t a = AddShaped("A", 1, 2);
  FromClient("c", Request("r1", {1, 300}, 3), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq = Starts("A")[0].seq();
  const uint64_t b = AddShaped("B", 1, 2);

  const proto::AdminReply reply = Admin(Rebalance(a, Bounds({0, 1, 4})), t0_ + 10ms);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  EXPECT_TRUE(absl::StrContains(reply.result().message(), "draining")) << reply.result().message();
  EXPECT_EQ(GroupStatusOf(a, t0_ + 10ms).state(), proto::GROUP_DRAINING);
  EXPECT_TRUE(absl::StartsWith(GroupStatusOf(a, t0_ + 10ms).last_rebalance(), "in progress"));
  EXPECT_FALSE(GroupStatusOf(a, t0_ + 10ms).admin_drained());  // not an admin drain
  // Meanwhile new requests go to B.
  FromClient("c", Request("r2", {1, 2}, 3), t0_ + 20ms);
  EXPECT_EQ(Starts("A").size(), 1u);
  EXPECT_EQ(Starts("B").size(), 1u);
  EXPECT_TRUE(Reshards("A").empty());
  // A second rebalance, or an undrain, while this one runs: refused.
  EXPECT_EQ(Admin(Rebalance(a, Bounds({0, 3, 4})), t0_ + 30ms).error().code(), proto::ERROR_UNAVAILABLE);
  EXPECT_EQ(Admin(OnGroup(GroupOp::kUndrain, a), t0_ + 30ms).error().code(), proto::ERROR_UNAVAILABLE);

  // r1 finishes: A is empty, Reshard goes out at once.
  Update("A", a, 1, seq, {400, 401, 402}, true, t0_ + 100ms);
  ASSERT_TRUE(Last("r1")->has_result());
  ASSERT_EQ(Reshards("A").size(), 1u);
  const proto::Reshard rs = Reshards("A")[0];
  EXPECT_EQ(rs.group_id(), a);
  EXPECT_EQ(rs.epoch(), 2u);
  EXPECT_EQ(StageLayers(rs.plan()), (Layers{{0, 1}, {1, 4}}));
  proto::GroupStatus s = GroupStatusOf(a, t0_ + 100ms);
  EXPECT_EQ(s.state(), proto::GROUP_RESHARDING);
  EXPECT_EQ(s.epoch(), 2u);
  EXPECT_EQ(StageLayers(s.plan()), (Layers{{0, 2}, {2, 4}}));  // the old one until Resharded

  // Heartbeats of the old epoch keep coming while the ranks load.
  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  hb.mutable_heartbeat()->set_group_id(a);
  hb.mutable_heartbeat()->set_epoch(1);
  hb.mutable_heartbeat()->set_kv_blocks_free(77);
  FromWorker("A", hb, t0_ + 150ms);
  EXPECT_EQ(GroupStatusOf(a, t0_ + 150ms).kv_blocks_free(), 77);

  Resharded("A", a, 2, true, "", 90, t0_ + 200ms);
  s = GroupStatusOf(a, t0_ + 200ms);
  EXPECT_EQ(s.state(), proto::GROUP_READY);
  EXPECT_EQ(s.plan_generation(), 2u);
  EXPECT_EQ(s.epoch(), 2u);
  EXPECT_EQ(StageLayers(s.plan()), (Layers{{0, 1}, {1, 4}}));
  EXPECT_EQ(s.kv_blocks_total(), 90);
  EXPECT_EQ(s.last_rebalance(), "switched to layers [0,1) [1,4) in 1.5 s, loaded 3.0 MiB, kept 5.0 MiB");
  EXPECT_EQ(s.rebalances_finished(), 1u);
  // Serving again under epoch 2; an update of epoch 1 is dropped.
  FromClient("c", Request("r3", {1, 2}, 3), t0_ + 300ms);  // B runs r2: A is emptier
  ASSERT_EQ(Starts("A").size(), 2u);
  const uint64_t seq3 = Starts("A")[1].seq();
  Update("A", a, 1, seq3, {500}, false, t0_ + 310ms);
  EXPECT_TRUE(Streamed("r3").empty());
  Update("A", a, 2, seq3, {501, 502, 503}, true, t0_ + 320ms);
  EXPECT_EQ(Streamed("r3"), (std::vector<int32_t>{501, 502, 503}));
  (void)b;
}

TEST_F(AdminCoreTest, ARebalanceAnIdleGroupGetsReshardsAtOnceAndAFailedOneRollsBack) {
  const uint64_t a = AddShaped("A", 1, 2);
  const proto::AdminReply reply = Admin(Rebalance(a, Bounds({0, 3, 4})), t0_);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  ASSERT_EQ(Reshards("A").size(), 1u);
  EXPECT_EQ(StageLayers(Reshards("A")[0].plan()), (Layers{{0, 3}, {3, 4}}));
  // A Resharded for another group is not the answer (nor a reason to act).
  Resharded("A", a + 5, 2, true, "", 90, t0_ + 10ms);
  EXPECT_EQ(GroupStatusOf(a, t0_ + 10ms).state(), proto::GROUP_RESHARDING);

  Resharded("A", a, 2, false, "rank 1: out of memory loading layer 2", 0, t0_ + 20ms);
  const proto::GroupStatus s = GroupStatusOf(a, t0_ + 20ms);
  EXPECT_EQ(s.state(), proto::GROUP_READY);
  EXPECT_EQ(s.plan_generation(), 1u);
  EXPECT_EQ(s.epoch(), 2u);  // it serves the old plan under the new epoch
  EXPECT_EQ(StageLayers(s.plan()), (Layers{{0, 2}, {2, 4}}));
  EXPECT_EQ(s.kv_blocks_total(), 100);
  EXPECT_EQ(s.last_rebalance(), "rolled back: rank 1: out of memory loading layer 2");
  EXPECT_EQ(s.rebalances_finished(), 1u);
  FromClient("c", Request("r1", {1, 2}, 3), t0_ + 30ms);
  ASSERT_EQ(Starts("A").size(), 1u);
  // Once none is awaited, a stray Resharded changes nothing.
  Resharded("A", a, 1, true, "", 90, t0_ + 40ms);
  EXPECT_EQ(GroupStatusOf(a, t0_ + 40ms).state(), proto::GROUP_READY);
  EXPECT_FALSE(GotShutdown("A"));
}

TEST_F(AdminCoreTest, AnAdminDrainedGroupStaysDrainedAfterARebalance) {
  const uint64_t a = AddShaped("A", 1, 2);
  ASSERT_TRUE(Admin(OnGroup(GroupOp::kDrain, a), t0_).has_result());
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4})), t0_).has_result());
  Resharded("A", a, 2, true, "", 100, t0_ + 10ms);
  const proto::GroupStatus s = GroupStatusOf(a, t0_ + 10ms);
  EXPECT_EQ(s.state(), proto::GROUP_DRAINING);
  EXPECT_EQ(s.plan_generation(), 2u);
}

TEST_F(AdminCoreTest, AGroupDrainedWhileLoadingComesUpDrained) {
  FromWorker("A", testing::Registration("A", 1, 1, int64_t{1} << 30, ModelFingerprint(testing::FourLayerModel())),
             t0_);
  const uint64_t a = outbox_.groups.back().message.plan().group_id();
  ASSERT_TRUE(Admin(OnGroup(GroupOp::kDrain, a), t0_).has_result());
  EXPECT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_PLANNING);
  Ready("A", a, 100, 16, 4, t0_);
  EXPECT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_DRAINING);
  FromClient("c", Request("r1", {1, 2}, 4), t0_);
  EXPECT_TRUE(Starts("A").empty());
}

TEST_F(AdminCoreTest, ARequestOnlyARebalancingGroupCanHoldWaitsForIt) {
  const uint64_t a = AddShaped("A", 1, 2, 4, /*kv_blocks=*/100);
  AddShaped("B", 1, 2, 4, /*kv_blocks=*/4);  // 64 positions
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4})), t0_).has_result());
  ASSERT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_RESHARDING);
  std::vector<int32_t> prompt(100, 300);
  FromClient("c", Request("big", prompt, 20), t0_ + 1ms);  // 119 positions: only A holds them
  EXPECT_EQ(Last("big"), nullptr) << "refused while A was away";
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 1);
  // What B can take passes it meanwhile.
  FromClient("c", Request("small", {1, 2}, 4), t0_ + 2ms);
  ASSERT_EQ(Starts("B").size(), 1u);
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 1);
  Resharded("A", a, 2, true, "", 100, t0_ + 10ms);
  ASSERT_EQ(Starts("A").size(), 1u);
  EXPECT_EQ(Starts("A")[0].tokens_size(), 100);
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 0);
}

TEST_F(AdminCoreTest, AnAdminDrainedGroupAwayForARebalanceHoldsNoQueuedRequest) {
  const uint64_t a = AddShaped("A", 1, 2, 4, /*kv_blocks=*/100);
  AddShaped("B", 1, 2, 4, /*kv_blocks=*/4);  // 64 positions
  // "big" waits for A while it only loads a plan...
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4})), t0_).has_result());
  FromClient("c", Request("big", std::vector<int32_t>(100, 300), 20), t0_ + 1ms);
  EXPECT_EQ(Last("big"), nullptr);
  // ... but not once an admin drained it: it comes back only when undrained.
  ASSERT_TRUE(Admin(OnGroup(GroupOp::kDrain, a), t0_ + 2ms).has_result());
  ASSERT_NE(Last("big"), nullptr);
  EXPECT_EQ(Last("big")->error().code(), proto::ERROR_INVALID_ARGUMENT) << Last("big")->DebugString();
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 0);
}

TEST_F(AdminCoreTest, AtTheDrainTimeoutTheRestIsCancelledOnTheGroupAndContinuesElsewhere) {
  const uint64_t a = AddShaped("A", 1, 2);
  FromClient("c", Request("r1", {1, 300}, 6), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq = Starts("A")[0].seq();
  Update("A", a, 1, seq, {400, 401}, false, t0_ + 10ms);
  const uint64_t b = AddShaped("B", 1, 2);

  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4}), /*drain_timeout_ms=*/500), t0_ + 20ms).has_result());
  core_.Tick(t0_ + 519ms);
  EXPECT_TRUE(Reshards("A").empty());
  core_.Tick(t0_ + 520ms);
  EXPECT_EQ(CancelsTo("A"), std::vector<uint64_t>{seq});
  ASSERT_EQ(Reshards("A").size(), 1u);
  EXPECT_EQ(Reshards("A")[0].epoch(), 2u);
  ASSERT_EQ(Starts("B").size(), 1u);
  const proto::StartSequence cont = Starts("B")[0];
  EXPECT_EQ(std::vector<int32_t>(cont.tokens().begin(), cont.tokens().end()),
            (std::vector<int32_t>{1, 300, 400, 401}));
  EXPECT_EQ(cont.max_new_tokens(), 4);
  // What A still sends for the moved sequence (a token computed before the
  // cancel landed, then its done) is dropped.
  Update("A", a, 1, seq, {402}, false, t0_ + 530ms);
  Update("A", a, 1, seq, {}, true, t0_ + 531ms, proto::FINISH_CANCELLED);
  Update("B", b, 1, cont.seq(), {402, 403, 404, 405}, true, t0_ + 600ms);
  ASSERT_TRUE(Last("r1")->has_result());
  EXPECT_EQ(Last("r1")->result().finish_reason(), proto::FINISH_LENGTH);
  EXPECT_EQ(Streamed("r1"), (std::vector<int32_t>{400, 401, 402, 403, 404, 405}));
}

TEST_F(AdminCoreTest, AGroupThatDiesWhileReshardingIsHandledAsAnyDeadGroup) {
  const uint64_t a = AddShaped("A", 1, 2);
  ASSERT_TRUE(Admin(Rebalance(a, Bounds({0, 1, 4})), t0_).has_result());
  ASSERT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_RESHARDING);
  core_.Tick(t0_ + 101s);  // silent past the heartbeat timeout
  const proto::GroupStatus s = GroupStatusOf(a, t0_ + 101s);
  EXPECT_EQ(s.state(), proto::GROUP_DEAD);
  EXPECT_TRUE(absl::StartsWith(s.last_rebalance(), "abandoned")) << s.last_rebalance();
  EXPECT_EQ(Admin(Rebalance(a, Bounds({0, 1, 4})), t0_ + 101s).error().code(), proto::ERROR_NOT_FOUND);
}

TEST_F(AdminCoreTest, PlanPreviewAndDiffDescribeTheProposedPlan) {
  const uint64_t a = AddShaped("A", 1, 2);
  proto::AdminReply reply = Admin(PlanPreview(a, Bounds({0, 1, 4})), t0_);
  ASSERT_TRUE(reply.has_plan()) << reply.DebugString();
  EXPECT_EQ(reply.plan().group_id(), a);
  EXPECT_EQ(StageLayers(reply.plan().current()), (Layers{{0, 2}, {2, 4}}));
  EXPECT_EQ(StageLayers(reply.plan().proposed()), (Layers{{0, 1}, {1, 4}}));
  EXPECT_FALSE(reply.plan().table().empty());
  EXPECT_TRUE(reply.plan().diff().empty());
  // Stage 1 newly holds layer 1: at least that layer's weights load anew.
  EXPECT_GT(reply.plan().moved_bytes(), 0);
  reply = Admin(PlanPreview(a, Bounds({0, 1, 4}), /*diff=*/true), t0_);
  ASSERT_TRUE(reply.has_plan()) << reply.DebugString();
  EXPECT_FALSE(reply.plan().diff().empty());
  // Nothing changed: preview is no rebalance.
  EXPECT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_READY);
  EXPECT_TRUE(Reshards("A").empty());
  // The plan it already serves: nothing to do.
  reply = Admin(Rebalance(a, Bounds({0, 2, 4})), t0_);
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  EXPECT_TRUE(absl::StrContains(reply.result().message(), "nothing to change"));
  EXPECT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_READY);
}

TEST_F(AdminCoreTest, BadSpecsAndUnknownGroupsAreRefused) {
  const uint64_t a = AddShaped("A", 1, 2);
  proto::PlanSpec auto_and_bounds = Bounds({0, 1, 4});
  auto_and_bounds.set_auto_balance(true);
  proto::PlanSpec auto_only;
  auto_only.set_auto_balance(true);
  proto::PlanSpec shares;
  shares.add_tp_shares(0.5);
  shares.add_tp_shares(0.5);  // tp is 1
  struct Case {
    const char* name;
    proto::PlanSpec spec;
  };
  const std::vector<Case> cases = {
      {"empty spec", proto::PlanSpec()},
      {"auto with bounds", auto_and_bounds},
      {"auto before any timings", auto_only},
      {"bounds of the wrong count", Bounds({0, 4})},
      {"bounds past the layers", Bounds({0, 2, 5})},
      {"bounds not increasing", Bounds({0, 3, 2})},
      {"shares of the wrong count", shares},
  };
  for (const Case& c : cases) {
    for (const proto::AdminRequest& r : {Rebalance(a, c.spec), PlanPreview(a, c.spec), PlanPreview(a, c.spec, true)}) {
      const proto::AdminReply reply = Admin(r, t0_);
      ASSERT_TRUE(reply.has_error()) << c.name << ": " << reply.DebugString();
      EXPECT_EQ(reply.error().code(), proto::ERROR_INVALID_ARGUMENT) << c.name;
      EXPECT_FALSE(reply.error().message().empty()) << c.name;
    }
  }
  EXPECT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_READY);
  EXPECT_TRUE(Reshards("A").empty());
  // Drain timeouts below 0 or above a day (where the deadline could
  // overflow) are refused.
  for (int64_t ms : {int64_t{-1}, int64_t{24} * 3600 * 1000 + 1, std::numeric_limits<int64_t>::max(),
                     std::numeric_limits<int64_t>::min()}) {
    const proto::AdminReply reply = Admin(Rebalance(a, Bounds({0, 1, 4}), ms), t0_);
    EXPECT_EQ(reply.error().code(), proto::ERROR_INVALID_ARGUMENT) << ms;
    EXPECT_TRUE(absl::StrContains(reply.error().message(), "drain_timeout_ms")) << reply.error().message();
  }
  EXPECT_EQ(GroupStatusOf(a, t0_).state(), proto::GROUP_READY);
  for (const proto::AdminRequest& r : {Rebalance(99, Bounds({0, 1, 4})), PlanPreview(99, Bounds({0, 1, 4})),
                                       OnGroup(GroupOp::kDrain, 99), OnGroup(GroupOp::kUndrain, 99),
                                       OnGroup(GroupOp::kRemove, 99)}) {
    EXPECT_EQ(Admin(r, t0_).error().code(), proto::ERROR_NOT_FOUND) << r.DebugString();
  }
}

TEST_F(AdminCoreTest, MalformedAdminMessagesGetAnAdminErrorAndServingGoesOn) {
  const uint64_t a = AddShaped("A", 1, 1);
  proto::AdminRequest wrong_version = AdminStatus();
  wrong_version.set_version(5);
  proto::AdminRequest empty;
  empty.set_version(proto::PROTOCOL_VERSION_1);
  const std::string garbage(12, '\xff');
  const std::string wrong = wrong_version.SerializeAsString();
  const std::string none = empty.SerializeAsString();
  struct Case {
    const char* name;
    std::vector<std::string_view> frames;
    proto::ErrorCode code;
  };
  const std::vector<Case> cases = {
      {"garbage", {"adm", garbage}, proto::ERROR_MALFORMED},
      {"no payload", {"adm"}, proto::ERROR_MALFORMED},
      {"three frames", {"adm", "a", "b", "c"}, proto::ERROR_MALFORMED},
      {"wrong version", {"adm", wrong}, proto::ERROR_UNSUPPORTED_VERSION},
      {"empty oneof", {"adm", none}, proto::ERROR_MALFORMED},
      {"empty payload", {"adm", ""}, proto::ERROR_MALFORMED},
  };
  for (const Case& c : cases) {
    const proto::AdminReply reply = AdminFrames(c.frames, t0_);
    ASSERT_TRUE(reply.has_error()) << c.name;
    EXPECT_EQ(reply.error().code(), c.code) << c.name;
    EXPECT_FALSE(reply.error().message().empty()) << c.name;
  }
  FromClient("c", Request("r1", {1, 2}, 2), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  Update("A", a, 1, Starts("A")[0].seq(), {300, 301}, true, t0_ + 1ms);
  ASSERT_TRUE(Last("r1")->has_result());
  EXPECT_TRUE(Admin(AdminStatus(), t0_).has_status());
}

}  // namespace
}  // namespace tessera
