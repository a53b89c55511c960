// The pipeline's sends (StageRunner::set_pipeline_send_timeout) on a real
// tp 1 x pp 2 group: with two steps in flight and a next stage that is busy
// with the first one for longer than the short peer timeout, the second
// step's send must not expire, since the stage is slow, not dead.
//
// The loopback's sends are buffered and never expire (comm/loopback.h), while
// an MPI send of a large message (a prefill's hidden states) completes only
// once the receiver takes it, and fails when that is later than its deadline.
// RendezvousSends brings that rule to the test: each message carries its
// send deadline, and a receiver taking it after the deadline fails the way
// the MPI sender would (DeadlineExceeded, the group is broken). The control
// test shows that this harness does catch a send held to the peer timeout.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "comm/loopback.h"
#include "gtest/gtest.h"
#include "tests/unit/worker/group_harness.h"
#include "worker/group_leader.h"
#include "worker/group_startup.h"
#include "worker/stage_runner.h"

namespace tessera::testing {
namespace {

// Far above every bound the tests check.
constexpr absl::Duration kCommTimeout = absl::Seconds(20);
// The short peer timeout every rank of the group gets while serving.
constexpr absl::Duration kPeerTimeout = absl::Milliseconds(100);
// How long the last stage is busy with each step it receives (a big prefill).
constexpr absl::Duration kBusy = absl::Milliseconds(300);

// Forwards to `inner`, adding to point-to-point messages the rendezvous rule
// described above. `busy_after_hidden`: after taking a step's hidden states,
// the rank sleeps this long before computing (a slow stage).
class RendezvousSends : public Communicator {
 public:
  RendezvousSends(Communicator& inner, absl::Duration busy_after_hidden)
      : inner_(inner), busy_after_hidden_(busy_after_hidden) {
    set_label(inner.label());
  }

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string name() const override { return inner_.name(); }

  absl::Status AllReduceSum(std::span<float> data, absl::Duration timeout) override {
    return inner_.AllReduceSum(data, Resolve(timeout));
  }
  absl::Status AllGather(std::span<const std::byte> send, std::span<std::byte> recv,
                         absl::Duration timeout) override {
    return inner_.AllGather(send, recv, Resolve(timeout));
  }
  absl::Status Broadcast(std::span<std::byte> data, int root, absl::Duration timeout) override {
    return inner_.Broadcast(data, root, Resolve(timeout));
  }
  absl::Status Barrier(absl::Duration timeout) override { return inner_.Barrier(Resolve(timeout)); }
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key, absl::Duration timeout) override {
    return inner_.Split(color, key, Resolve(timeout));
  }

  absl::Status Send(std::span<const std::byte> data, int dest, int tag, absl::Duration timeout) override {
    timeout = Resolve(timeout);
    const int64_t deadline = timeout == absl::InfiniteDuration()
                                 ? INT64_MAX
                                 : absl::ToUnixNanos(absl::Now() + timeout);
    std::vector<std::byte> framed(sizeof(deadline) + data.size());
    std::memcpy(framed.data(), &deadline, sizeof(deadline));
    if (!data.empty()) std::memcpy(framed.data() + sizeof(deadline), data.data(), data.size());
    return inner_.Send(framed, dest, tag, timeout);
  }
  absl::Status Recv(std::span<std::byte> data, int source, int tag, absl::Duration timeout) override {
    absl::StatusOr<std::vector<std::byte>> got = RecvAny(source, tag, timeout);
    if (!got.ok()) return got.status();
    if (got->size() != data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("recv: ", got->size(), " bytes, expected ", data.size()));
    }
    if (!data.empty()) std::memcpy(data.data(), got->data(), data.size());
    if (tag == kTagHidden) absl::SleepFor(busy_after_hidden_);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::byte>> RecvAny(int source, int tag, absl::Duration timeout) override {
    absl::StatusOr<std::vector<std::byte>> got = inner_.RecvAny(source, tag, Resolve(timeout));
    if (!got.ok()) return got.status();
    int64_t deadline = 0;
    if (got->size() < sizeof(deadline)) return absl::DataLossError("recv: message without its send deadline");
    std::memcpy(&deadline, got->data(), sizeof(deadline));
    const int64_t now = absl::ToUnixNanos(absl::Now());
    if (now > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("send with tag ", tag, " from rank ", source, " taken ",
                                                      absl::FormatDuration(absl::Nanoseconds(now - deadline)),
                                                      " after its deadline"));
    }
    got->erase(got->begin(), got->begin() + sizeof(deadline));
    return got;
  }

 private:
  Communicator& inner_;
  absl::Duration busy_after_hidden_;
};

proto::GroupStep PrefillStep(int64_t seq) {
  proto::GroupStep step;
  proto::StepChunk* c = step.add_chunks();
  c->set_seq_id(seq);
  c->set_start_pos(0);
  for (int32_t t : {5, 17, 42, 8}) c->add_tokens(t);
  c->set_want_logits(true);
  return step;
}

// A runner like the member's own, over `group` instead.
std::unique_ptr<StageRunner> RunnerOver(GroupMember& m, Communicator& group) {
  std::vector<VocabSlice> vocab;
  for (int t = 0; t < m.layout.tp; ++t) {
    const proto::RankShard& rs = m.plan.ranks(m.layout.answer_rank() + t);
    vocab.push_back(VocabSlice{rs.vocab().begin(), rs.vocab().end()});
  }
  return std::make_unique<StageRunner>(m.layout, group, m.comms.tp.get(), *m.executor, std::move(vocab),
                                       m.shard->weight_bytes);
}

struct Outcome {
  absl::Status first, second;  // the leader's Collect of each step
  absl::Status follower;       // how the last stage's Serve ended
};

// A tp 1 x pp 2 group, every rank with the short peer timeout as the worker
// sets it while serving: the leader submits two steps, then collects both;
// the last stage is busy kBusy with each. `configure` sets up each rank's
// runner the way the test wants; the leader stops the group when both
// answers came, and kills every rank otherwise.
Outcome TwoStepsInFlight(const std::string& name, absl::Duration step_timeout,
                         const std::function<void(StageRunner&)>& configure) {
  ModelSpec spec;
  spec.n_layers = 2;
  spec.seed = 73;
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
  Outcome out;
  std::atomic<bool> ready{false};  // the follower serves, or failed to start
  std::thread follower([&] {
    comms[1]->set_default_timeout(kCommTimeout);
    auto member = StartGroupMember(*comms[1], g);
    if (!member.ok()) {
      out.follower = member.status();
      ready = true;
      return;
    }
    RendezvousSends group(*(*member)->comms.group, kBusy);
    group.set_default_timeout(kPeerTimeout);
    auto runner = RunnerOver(**member, group);
    configure(*runner);
    ready = true;
    out.follower = runner->Serve().status();
  });
  comms[0]->set_default_timeout(kCommTimeout);
  auto member = StartGroupMember(*comms[0], g);
  EXPECT_TRUE(member.ok()) << member.status();
  bool stopped = false;
  if (member.ok()) {
    RendezvousSends group(*(*member)->comms.group, absl::ZeroDuration());
    group.set_default_timeout(kPeerTimeout);
    auto runner = RunnerOver(**member, group);
    configure(*runner);
    GroupLeader leader(*runner, group);
    leader.set_step_timeout(step_timeout);
    // The first step is taken at once only if the last stage already waits
    // for it; otherwise its startup would count against the send.
    while (!ready) absl::SleepFor(absl::Milliseconds(1));
    auto first = leader.Submit(PrefillStep(1));
    auto second = leader.Submit(PrefillStep(2));
    EXPECT_TRUE(first.ok()) << first.status();
    EXPECT_TRUE(second.ok()) << second.status();
    if (first.ok() && second.ok()) {
      auto a = leader.Collect();
      out.first = a.status();
      if (a.ok()) {
        EXPECT_EQ(a->step_id(), *first);
        auto b = leader.Collect();
        out.second = b.status();
        if (b.ok()) {
          EXPECT_EQ(b->step_id(), *second);
          stopped = leader.Stop().ok();
        }
      }
    }
  }
  if (!stopped) {
    hub->Kill(0);
    hub->Kill(1);
  }
  follower.join();
  return out;
}

TEST(PipelineSendTimeout, IsTheStepTimeoutPerStage) {
  EXPECT_EQ(PipelineSendTimeout(absl::Seconds(10), 2), absl::Seconds(20));
  EXPECT_EQ(PipelineSendTimeout(absl::Seconds(10), 1), absl::Seconds(10));
}

// Two steps in flight, the last stage busy 300 ms with the first: the second
// step's send waits that long, three times the 100 ms peer timeout, and
// both steps are answered.
TEST(PipelineSendTimeout, SlowNextStageDoesNotBreakTheSendsBehindIt) {
  const absl::Duration step_timeout = absl::Seconds(10);
  const Outcome out = TwoStepsInFlight("pipeline_send_slow", step_timeout, [&](StageRunner& r) {
    r.set_pipeline_send_timeout(PipelineSendTimeout(step_timeout, r.layout().pp));
  });
  EXPECT_TRUE(out.first.ok()) << out.first;
  EXPECT_TRUE(out.second.ok()) << out.second;
  EXPECT_TRUE(out.follower.ok()) << "the follower serves until the stop step: " << out.follower;
}

// The control: the same run with the pipeline's sends held to the peer
// timeout (the runner's default) breaks the group at the second step, so the
// harness above does catch such sends.
TEST(PipelineSendTimeout, SendsHeldToThePeerTimeoutBreakTheGroup) {
  const Outcome out = TwoStepsInFlight("pipeline_send_control", absl::Seconds(1), [](StageRunner&) {});
  EXPECT_TRUE(out.first.ok()) << out.first;
  EXPECT_FALSE(out.second.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(out.follower)) << out.follower;
  EXPECT_TRUE(absl::StrContains(out.follower.message(), absl::StrCat("tag ", kTagStep))) << out.follower;
}

}  // namespace
}  // namespace tessera::testing
