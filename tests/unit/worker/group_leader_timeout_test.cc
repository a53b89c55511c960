// The leader's step timeout (GroupLeader::set_step_timeout) on a real tp 1 x
// pp 2 group over the loopback communicator: when the last stage's answer
// is late or never comes, Collect fails with DeadlineExceeded after about the
// step timeout, well before the communicator's own (long) default, and says
// which step and rank it waited for. An answer inside the bound is taken,
// and a follower idle for longer than any timeout still serves the next step.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "comm/loopback.h"
#include "gtest/gtest.h"
#include "tests/unit/worker/group_harness.h"
#include "worker/group_leader.h"
#include "worker/group_startup.h"

namespace tessera::testing {
namespace {

// Far above every bound the tests check, so a DeadlineExceeded within those
// bounds can only come from the step timeout.
constexpr absl::Duration kCommTimeout = absl::Seconds(20);

proto::GroupStep PrefillStep(int64_t seq) {
  proto::GroupStep step;
  proto::StepChunk* c = step.add_chunks();
  c->set_seq_id(seq);
  c->set_start_pos(0);
  for (int32_t t : {5, 17, 42, 8}) c->add_tokens(t);
  c->set_want_logits(true);
  return step;
}

// StageRunner::Serve's outcome as a Status (it may carry why it returned).
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
inline absl::Status StatusOf(const absl::Status& s) { return s; }

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Starts a tp 1 x pp 2 group: rank 1 serves on its own thread, rank 0's
// member is handed to `leader_body` (with the hub, for faults), which says
// whether it stopped the group. A group it did not stop is broken: every
// rank is killed so the follower's endless wait for work ends.
void WithPipelineGroup(const std::string& name, absl::Duration follower_timeout,
                       const std::function<bool(LoopbackHub&, GroupMember&)>& leader_body,
                       absl::Status* follower_status) {
  ModelSpec spec;
  spec.n_layers = 2;
  spec.seed = 71;
  const std::string path = WriteModel(spec, name);
  auto hub = LoopbackHub::Create(2);
  auto comms = hub->ConnectAll();
  GroupOptions g;
  g.model_path = path;
  g.tp = 1;
  g.pp = 2;
  g.probe = false;
  g.oversubscribed = true;
  g.startup_timeout = absl::Seconds(30);
  std::thread follower([&] {
    comms[1]->set_default_timeout(kCommTimeout);
    auto member = StartGroupMember(*comms[1], g);
    if (!member.ok()) {
      *follower_status = member.status();
      return;
    }
    (*member)->comms.group->set_default_timeout(follower_timeout);
    *follower_status = StatusOf((*member)->runner->Serve());
  });
  comms[0]->set_default_timeout(kCommTimeout);
  auto member = StartGroupMember(*comms[0], g);
  EXPECT_TRUE(member.ok()) << member.status();
  bool stopped = false;
  if (member.ok()) {
    (*member)->comms.group->set_default_timeout(kCommTimeout);
    stopped = leader_body(*hub, **member);
  }
  if (!stopped) {
    hub->Kill(0);
    hub->Kill(1);
  }
  follower.join();
}

TEST(GroupLeaderTimeout, LateAnswerBreaksTheGroupAfterTheStepTimeout) {
  absl::Status follower;
  WithPipelineGroup("step_timeout_late", kCommTimeout, [](LoopbackHub& hub, GroupMember& m) {
    GroupLeader leader(*m.runner, *m.comms.group);
    leader.set_step_timeout(absl::Milliseconds(300));
    hub.Delay(1, absl::Seconds(10));  // the last stage answers, far too late
    auto id = leader.Submit(PrefillStep(1));
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return false;
    const auto start = std::chrono::steady_clock::now();
    auto result = leader.Collect();
    const double waited = SecondsSince(start);
    EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
    EXPECT_GE(waited, 0.25);
    EXPECT_LT(waited, 5.0) << "bounded by the 300 ms step timeout, not the communicator's 20 s";
    const std::string message(result.status().message());
    EXPECT_TRUE(absl::StrContains(message, "step " + std::to_string(*id))) << message;
    EXPECT_TRUE(absl::StrContains(message, "group rank 1")) << message;
    return false;
  }, &follower);
}

TEST(GroupLeaderTimeout, SilentRankBreaksTheGroupAfterTheStepTimeout) {
  absl::Status follower;
  WithPipelineGroup("step_timeout_silent", kCommTimeout, [](LoopbackHub& hub, GroupMember& m) {
    GroupLeader leader(*m.runner, *m.comms.group);
    leader.set_step_timeout(absl::Milliseconds(200));
    hub.DropMessagesFrom(1);  // alive but never heard from again
    auto id = leader.Submit(PrefillStep(1));
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return false;
    const auto start = std::chrono::steady_clock::now();
    auto result = leader.Collect();
    const double waited = SecondsSince(start);
    EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
    EXPECT_LT(waited, 5.0);
    return false;
  }, &follower);
}

TEST(GroupLeaderTimeout, AnswerWithinTheBoundIsTaken) {
  absl::Status follower;
  WithPipelineGroup("step_timeout_in_time", kCommTimeout, [](LoopbackHub& hub, GroupMember& m) {
    GroupLeader leader(*m.runner, *m.comms.group);
    leader.set_step_timeout(absl::Seconds(10));
    hub.Delay(1, absl::Milliseconds(300));  // slow, not dead
    auto id = leader.Submit(PrefillStep(1));
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return false;
    auto result = leader.Collect();
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return false;
    EXPECT_EQ(result->step_id(), *id);
    EXPECT_TRUE(result->error().empty()) << result->error();
    EXPECT_EQ(result->tokens_size(), 1);
    if (result->tokens_size() > 0) {
      EXPECT_EQ(result->tokens(0).seq_id(), 1);
    }
    return false;
  }, &follower);
}

// A follower waits for its next step without limit: an idle group is not a
// dead one, even when idle for longer than every timeout it has.
TEST(GroupLeaderTimeout, IdleFollowerWaitsForTheNextStep) {
  absl::Status follower;
  WithPipelineGroup("step_timeout_idle", absl::Milliseconds(100), [](LoopbackHub&, GroupMember& m) {
    GroupLeader leader(*m.runner, *m.comms.group);
    leader.set_step_timeout(absl::Seconds(10));
    // Idle for several times the follower's 100 ms communicator timeout.
    absl::SleepFor(absl::Milliseconds(600));
    auto id = leader.Submit(PrefillStep(1));
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return false;
    auto result = leader.Collect();
    EXPECT_TRUE(result.ok()) << result.status();
    if (result.ok()) {
      EXPECT_EQ(result->step_id(), *id);
    }
    const absl::Status stop = leader.Stop();
    EXPECT_TRUE(stop.ok()) << stop;
    return stop.ok();
  }, &follower);
  EXPECT_TRUE(follower.ok()) << "the follower serves until the stop step: " << follower;
}

}  // namespace
}  // namespace tessera::testing
