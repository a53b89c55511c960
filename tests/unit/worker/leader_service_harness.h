// The leader service under test: a real group (ranks as threads over the
// loopback communicator) served by an in-memory coordinator, the requests
// it sends, and the single-rank expectation of each. Shared by
// leader_service_test.cc and leader_service_reshard_test.cc.
#pragma once

#include "worker/leader_service.h"

#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "comm/loopback.h"
#include "gtest/gtest.h"
#include "model/model_fingerprint.h"
#include "partition/cost_model.h"
#include "partition/partitioner.h"
#include "tests/unit/worker/group_harness.h"
#include "tests/unit/worker/single_rank_reference.h"
#include "tests/unit/worker/test_plans.h"
#include "worker/group_leader.h"
#include "worker/group_startup.h"

namespace tessera::testing {

struct Request {
  proto::StartSequence start;
  int arrive_after = 0;       // update messages the coordinator has seen before it sends this
  int cancel_after = -1;      // tokens received before the coordinator cancels it; -1: never
};

struct Outcome {
  std::vector<int32_t> tokens;
  int done = 0;
  proto::SequenceUpdate last;  // the update that ended it
};

// The coordinator's side, run on the leader's thread inside the link's
// calls: sends each request once enough update messages have come back (so
// sequences join while others decode), cancels where told, and says
// Shutdown once the service has nothing left to do and every sequence ended.
class FakeCoordinator final : public LeaderLink {
 public:
  explicit FakeCoordinator(std::vector<Request> requests) : requests_(std::move(requests)) { Deliver(); }

  absl::StatusOr<std::optional<proto::CoordinatorMessage>> Receive(absl::Duration wait) override {
    // A wait means the service is idle: nothing to run, nothing in flight.
    if (inbox_.empty() && wait > absl::ZeroDuration()) OnIdle();
    if (inbox_.empty()) return std::nullopt;
    proto::CoordinatorMessage m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  absl::Status Send(const proto::WorkerMessage& m) override {
    EXPECT_TRUE(m.has_updates());
    EXPECT_EQ(m.updates().group_id(), 5u);
    EXPECT_EQ(m.updates().epoch(), 3u);
    EXPECT_FALSE(m.updates().updates().empty());
    ++update_messages_;
    for (const proto::SequenceUpdate& u : m.updates().updates()) {
      Outcome& o = outcomes_[u.seq()];
      EXPECT_EQ(o.done, 0) << "sequence " << u.seq() << " updated after it ended";
      o.tokens.insert(o.tokens.end(), u.tokens().begin(), u.tokens().end());
      if (u.done()) {
        ++o.done;
        o.last = u;
      }
      auto it = cancel_at_.find(u.seq());
      if (!u.done() && it != cancel_at_.end() && static_cast<int>(o.tokens.size()) >= it->second) {
        proto::CoordinatorMessage c;
        c.mutable_cancel()->set_seq(u.seq());
        inbox_.push_back(c);
        cancel_at_.erase(it);
      }
    }
    Deliver();
    return absl::OkStatus();
  }

  void SetHeartbeat(const proto::Heartbeat& h) override { heartbeat_ = h; }

  const std::map<uint64_t, Outcome>& outcomes() const { return outcomes_; }
  const proto::Heartbeat& heartbeat() const { return heartbeat_; }
  bool idle_with_work() const { return idle_with_work_; }

 private:
  void Start(const Request& r) {
    proto::CoordinatorMessage m;
    *m.mutable_start() = r.start;
    inbox_.push_back(m);
    if (r.cancel_after == 0) {
      proto::CoordinatorMessage c;
      c.mutable_cancel()->set_seq(r.start.seq());
      inbox_.push_back(c);
    } else if (r.cancel_after > 0) {
      cancel_at_[r.start.seq()] = r.cancel_after;
    }
    ++sent_;
  }
  void Deliver() {
    while (sent_ < requests_.size() && requests_[sent_].arrive_after <= update_messages_) Start(requests_[sent_]);
  }
  void OnIdle() {
    if (sent_ < requests_.size()) {
      Start(requests_[sent_]);
      return;
    }
    for (const Request& r : requests_) {
      if (outcomes_[r.start.seq()].done != 1) idle_with_work_ = true;
    }
    proto::CoordinatorMessage m;
    m.mutable_shutdown()->set_reason("test over");
    inbox_.push_back(m);
  }

  std::vector<Request> requests_;
  size_t sent_ = 0;
  int update_messages_ = 0;
  std::deque<proto::CoordinatorMessage> inbox_;
  std::map<uint64_t, int> cancel_at_;
  std::map<uint64_t, Outcome> outcomes_;
  proto::Heartbeat heartbeat_;
  bool idle_with_work_ = false;
};

struct Served {
  absl::Status status;
  std::vector<absl::Status> rank_status;
  std::vector<int64_t> rank_free_blocks;  // each rank's KV cache after serving
  int64_t kv_blocks = 0;
  int64_t preemptions = 0;
  int64_t scheduler_free_blocks = 0;
  uint64_t steps = 0;
  uint64_t epoch = 0;                    // the service's at the end
  proto::ShardPlan plan;
  std::vector<proto::ShardPlan> rank_plans;  // each rank's at the end
};

struct GroupShape {
  int tp = 1, pp = 1;
  int64_t kv_tokens = 1024;
};

// Brings a group up on the loopback, serves `link` on its leader until
// Shutdown (reshards included, with `faults` on every rank), then stops the
// group. `adjust` may change the service's options.
inline Served ServeOnGroup(const std::string& path, const GroupShape& shape, const SchedulerLimits& limits, int32_t eos,
                    LeaderLink& link, GroupOptions::PlanSource plan_source = nullptr,
                    std::function<void(LeaderServiceOptions&)> adjust = nullptr, const ReshardFaults& faults = {}) {
  const int n = shape.tp * shape.pp;
  auto hub = LoopbackHub::Create(n);
  auto comms = hub->ConnectAll();
  Served served;
  served.rank_status.resize(static_cast<size_t>(n));
  served.rank_free_blocks.resize(static_cast<size_t>(n), -1);
  served.rank_plans.resize(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      Communicator& world = *comms[static_cast<size_t>(r)];
      const absl::Duration timeout = absl::Seconds(30);
      world.set_default_timeout(timeout);
      GroupOptions g;
      g.model_path = path;
      g.tp = shape.tp;
      g.pp = shape.pp;
      g.oversubscribed = true;
      g.kv_tokens = shape.kv_tokens;
      g.startup_timeout = timeout;
      if (r == 0) g.plan_source = plan_source;
      auto member = StartGroupMember(world, g);
      if (!member.ok()) {
        served.rank_status[static_cast<size_t>(r)] = member.status();
        if (r == 0) served.status = member.status();
        return;
      }
      GroupMember& m = **member;
      if (r == 0) served.plan = m.plan;
      m.comms.group->set_default_timeout(timeout);
      if (m.comms.tp) m.comms.tp->set_default_timeout(timeout);
      absl::Status status;
      if (!m.layout.leader()) {
        status = ServeFollower(m, timeout, faults);
      } else {
        GroupLeader leader(*m.runner, *m.comms.group);
        LeaderServiceOptions o = ServiceOptionsFor(m, limits, /*group_id=*/5, /*epoch=*/3);
        o.eos = eos;
        o.reshard = [&](const proto::ShardPlan& plan) { return ReshardMember(m, plan, timeout, faults); };
        if (adjust) adjust(o);
        LeaderService service(leader, link, o);
        status = service.Run();
        served.kv_blocks = service.scheduler().limits().kv_blocks;
        served.epoch = service.epoch();
        served.preemptions = service.preemptions();
        served.scheduler_free_blocks = service.scheduler().free_blocks();
        served.steps = service.steps();
        if (status.ok()) {
          status = leader.Stop();
        } else {
          for (int k = 0; k < n; ++k) hub->Kill(k);
        }
        served.status = status;
      }
      served.rank_status[static_cast<size_t>(r)] = status;
      served.rank_free_blocks[static_cast<size_t>(r)] = m.kv->free_blocks();
      served.rank_plans[static_cast<size_t>(r)] = m.plan;
    });
  }
  for (std::thread& t : threads) t.join();
  return served;
}

inline proto::StartSequence MakeStart(uint64_t seq, std::vector<int32_t> tokens, int max_new, const SamplingParams& sp,
                               bool stop_at_eos) {
  proto::StartSequence s;
  s.set_seq(seq);
  s.mutable_tokens()->Add(tokens.begin(), tokens.end());
  s.set_max_new_tokens(max_new);
  s.mutable_sampling()->set_temperature(sp.temperature);
  s.mutable_sampling()->set_top_k(sp.top_k);
  s.mutable_sampling()->set_top_p(sp.top_p);
  s.mutable_sampling()->set_seed(sp.seed);
  s.set_stop_at_eos(stop_at_eos);
  return s;
}

// The single-rank run of a request, cut where the service stops: before the
// first EOS when stop_at_eos is set.
struct Expected {
  std::vector<int32_t> tokens;
  proto::FinishReason finish = proto::FINISH_LENGTH;
};

inline Expected Expect(const std::string& path, const proto::StartSequence& s, int32_t eos) {
  const std::vector<int32_t> prompt(s.tokens().begin(), s.tokens().end());
  // The client API's top_p 0 is "no nucleus cut", the Sampler's 1.
  const float top_p = s.sampling().top_p() == 0.0f ? 1.0f : s.sampling().top_p();
  const SamplingParams sp{s.sampling().temperature(), s.sampling().top_k(), top_p, s.sampling().seed()};
  const Reference ref = RunSingleRank(path, prompt, s.max_new_tokens(), sp);
  Expected e;
  for (int32_t t : ref.tokens) {
    if (s.stop_at_eos() && t == eos) {
      e.finish = proto::FINISH_EOS;
      break;
    }
    e.tokens.push_back(t);
  }
  return e;
}

// A mixed workload: prompts of 1 to 70 tokens (several prefill chunks),
// 1 to 24 new tokens, greedy and sampled, with and without stop_at_eos;
// four at once, then one more after every couple of update messages.
inline std::vector<Request> MixedWorkload(int64_t vocab) {
  struct Shape {
    int prompt, max_new;
    SamplingParams sampling;
    bool stop_at_eos;
  };
  const Shape shapes[] = {
      {9, 20, {}, true},
      {40, 12, {0.8f, 0, 1.0f, 11}, true},
      {1, 16, {}, false},
      {70, 8, {1.0f, 20, 0.9f, 12}, true},
      {23, 24, {0.7f, 0, 0.95f, 13}, false},
      {3, 1, {}, true},
      {55, 18, {}, true},
      {17, 10, {1.2f, 5, 1.0f, 14}, true},
      {33, 22, {}, false},
      {5, 14, {0.9f, 0, 0.8f, 15}, true},
      {64, 6, {}, true},
      {12, 19, {0.6f, 40, 0.0f, 16}, true},  // top_p 0: the client API's "no cut"
  };
  std::vector<Request> out;
  int i = 0;
  for (const Shape& s : shapes) {
    Request r;
    r.start = MakeStart(100 + i, Prompt(vocab, s.prompt, 50 + i), s.max_new, s.sampling, s.stop_at_eos);
    r.arrive_after = i < 4 ? 0 : 2 * (i - 3);
    out.push_back(r);
    ++i;
  }
  return out;
}

// Short prompts that grow long: admitted together (a block each), they
// outgrow a small cache while decoding, which is where preemption happens.
inline std::vector<Request> GrowingWorkload(int64_t vocab, int first_arrival) {
  std::vector<Request> out;
  for (int i = 0; i < 6; ++i) {
    Request r;
    const SamplingParams sp = i % 2 == 0 ? SamplingParams{} : SamplingParams{0.8f, 30, 0.95f, 20u + i};
    r.start = MakeStart(200 + i, Prompt(vocab, 2 + i, 70 + i), 30 + 2 * i, sp, i % 3 != 0);
    r.arrive_after = first_arrival + i;
    out.push_back(r);
  }
  return out;
}

inline void ExpectAllFreed(const Served& served) {
  EXPECT_EQ(served.scheduler_free_blocks, served.kv_blocks);
  for (size_t r = 0; r < served.rank_free_blocks.size(); ++r) {
    EXPECT_EQ(served.rank_free_blocks[r], served.kv_blocks) << "group rank " << r << " still holds KV blocks";
  }
}

}  // namespace tessera::testing
