// The leader's serving loop on a real group (ranks as threads over the
// loopback communicator) with an in-memory coordinator: sequences of mixed
// lengths and sampling arrive while others decode, and each one's tokens
// must equal the single-rank run of the same request (F32 model), also when
// a small KV budget forces preemptions. Cancels free every rank's blocks; a
// bad Start gets an error update and the group serves on.
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
namespace {

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
Served ServeOnGroup(const std::string& path, const GroupShape& shape, const SchedulerLimits& limits, int32_t eos,
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

proto::StartSequence MakeStart(uint64_t seq, std::vector<int32_t> tokens, int max_new, const SamplingParams& sp,
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

Expected Expect(const std::string& path, const proto::StartSequence& s, int32_t eos) {
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
std::vector<Request> MixedWorkload(int64_t vocab) {
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
std::vector<Request> GrowingWorkload(int64_t vocab, int first_arrival) {
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

void ExpectAllFreed(const Served& served) {
  EXPECT_EQ(served.scheduler_free_blocks, served.kv_blocks);
  for (size_t r = 0; r < served.rank_free_blocks.size(); ++r) {
    EXPECT_EQ(served.rank_free_blocks[r], served.kv_blocks) << "group rank " << r << " still holds KV blocks";
  }
}

struct Case {
  int tp, pp;
  int64_t kv_tokens;
  bool expect_preemptions;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "tp " << c.tp << " pp " << c.pp << ", " << c.kv_tokens << " KV positions";
}

class LeaderServiceShapes : public ::testing::TestWithParam<Case> {};

TEST_P(LeaderServiceShapes, EveryRequestMatchesTheSingleRankRun) {
  const Case c = GetParam();
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 700 + c.tp * 10 + c.pp);
  const std::string path = WriteModel(spec, absl::StrCat("serve_", c.tp, "x", c.pp));
  std::vector<Request> requests = MixedWorkload(spec.vocab_size);
  for (Request& r : GrowingWorkload(spec.vocab_size, requests.back().arrive_after + 1)) requests.push_back(r);
  // An EOS the model does produce: the third greedy token of the first
  // request, so stop_at_eos sequences really stop on it.
  const int32_t eos = RunSingleRank(path, std::vector<int32_t>(requests[0].start.tokens().begin(),
                                                               requests[0].start.tokens().end()),
                                    3)
                          .tokens[2];
  std::map<uint64_t, Expected> expected;
  for (const Request& r : requests) expected[r.start.seq()] = Expect(path, r.start, eos);

  SchedulerLimits limits;
  limits.max_sequences = 6;
  limits.max_batch_tokens = 40;
  limits.prefill_chunk = 16;
  FakeCoordinator coordinator(requests);
  const Served served = ServeOnGroup(path, {c.tp, c.pp, c.kv_tokens}, limits, eos, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  for (const absl::Status& s : served.rank_status) EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE(coordinator.idle_with_work());
  if (c.expect_preemptions) {
    EXPECT_GT(served.preemptions, 0) << "the KV budget was meant to force preemptions";
  } else {
    EXPECT_EQ(served.preemptions, 0);
  }
  int eos_finishes = 0;
  for (const Request& r : requests) {
    const uint64_t id = r.start.seq();
    SCOPED_TRACE(::testing::Message() << "sequence " << id);
    const Outcome& o = coordinator.outcomes().at(id);
    ASSERT_EQ(o.done, 1);
    EXPECT_EQ(o.last.error_code(), proto::ERROR_UNSPECIFIED) << o.last.error();
    EXPECT_EQ(o.tokens, expected[id].tokens);
    EXPECT_EQ(o.last.finish(), expected[id].finish);
    eos_finishes += o.last.finish() == proto::FINISH_EOS ? 1 : 0;
  }
  EXPECT_GE(eos_finishes, 1);
  ExpectAllFreed(served);
  const proto::Heartbeat& h = coordinator.heartbeat();
  EXPECT_EQ(h.group_id(), 5u);
  EXPECT_EQ(h.epoch(), 3u);
  EXPECT_EQ(h.running(), 0);
  EXPECT_EQ(h.waiting(), 0);
  EXPECT_EQ(h.kv_blocks_free(), served.kv_blocks);
  EXPECT_EQ(h.steps(), served.steps);
  EXPECT_EQ(h.preemptions(), served.preemptions);
}

// 1024 positions hold the whole workload; 96 (6 blocks) hold the longest
// sequence (70 + 8 - 1 positions) but not many at once.
INSTANTIATE_TEST_SUITE_P(Shapes, LeaderServiceShapes,
                         ::testing::Values(Case{1, 1, 1024, false}, Case{1, 1, 96, true}, Case{2, 1, 1024, false},
                                           Case{2, 1, 96, true}, Case{1, 2, 1024, false}, Case{1, 2, 96, true},
                                           Case{2, 2, 1024, false}, Case{2, 2, 96, true}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return absl::StrCat("Tp", info.param.tp, "Pp", info.param.pp,
                                               info.param.expect_preemptions ? "Preempting" : "Roomy");
                         });

TEST(LeaderServiceTest, CancelsFreeEveryRanksBlocks) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 811);
  const std::string path = WriteModel(spec, "serve_cancel");
  std::vector<Request> requests;
  for (int i = 0; i < 5; ++i) {
    Request r;
    r.start = MakeStart(10 + i, Prompt(spec.vocab_size, 20 + 7 * i, 90 + i), 30, {}, false);
    requests.push_back(r);
  }
  requests[1].cancel_after = 3;  // running, cancelled while a step of it may be in flight
  requests[3].cancel_after = 1;
  requests[4].cancel_after = 0;  // still waiting (max_sequences 2) when cancelled
  SchedulerLimits limits;
  limits.max_sequences = 2;
  FakeCoordinator coordinator(requests);
  const Served served = ServeOnGroup(path, {1, 2, 512}, limits, -1, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  EXPECT_FALSE(coordinator.idle_with_work());
  for (const Request& r : requests) {
    const uint64_t id = r.start.seq();
    SCOPED_TRACE(::testing::Message() << "sequence " << id);
    const Outcome& o = coordinator.outcomes().at(id);
    ASSERT_EQ(o.done, 1);
    const Expected want = Expect(path, r.start, -1);
    if (r.cancel_after < 0) {
      EXPECT_EQ(o.last.finish(), proto::FINISH_LENGTH);
      EXPECT_EQ(o.tokens, want.tokens);
      continue;
    }
    EXPECT_EQ(o.last.finish(), proto::FINISH_CANCELLED);
    // What came before the cancel is the reference's beginning; a token in
    // flight at the cancel is dropped.
    EXPECT_GE(static_cast<int>(o.tokens.size()), r.cancel_after);
    ASSERT_LE(o.tokens.size(), want.tokens.size());
    EXPECT_EQ(o.tokens, std::vector<int32_t>(want.tokens.begin(), want.tokens.begin() + o.tokens.size()));
  }
  EXPECT_TRUE(coordinator.outcomes().at(14).tokens.empty());
  ExpectAllFreed(served);
  EXPECT_EQ(coordinator.heartbeat().kv_blocks_free(), served.kv_blocks);
}

TEST(LeaderServiceTest, BadStartsAreAnsweredAndServingGoesOn) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 812);
  const std::string path = WriteModel(spec, "serve_bad");
  std::vector<Request> requests(5);
  requests[0].start = MakeStart(1, {3, 4, 512}, 4, {}, true);                          // token out of range
  requests[1].start = MakeStart(2, Prompt(spec.vocab_size, 250, 1), 8, {}, true);      // beyond the context
  requests[2].start = MakeStart(3, {5, 6}, 4, {-1.0f, 0, 1.0f, 0}, true);              // bad temperature
  requests[3].start = MakeStart(4, {}, 4, {}, true);                                   // no tokens
  requests[4].start = MakeStart(5, Prompt(spec.vocab_size, 12, 2), 10, {}, false);     // a good one
  FakeCoordinator coordinator(requests);
  const Served served = ServeOnGroup(path, {2, 1, 256}, SchedulerLimits{}, -1, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  const std::vector<std::string> why = {"outside the vocabulary", "exceed the model's context", "temperature",
                                        "no tokens"};
  for (uint64_t id = 1; id <= 4; ++id) {
    const Outcome& o = coordinator.outcomes().at(id);
    EXPECT_EQ(o.done, 1);
    EXPECT_TRUE(o.tokens.empty());
    EXPECT_EQ(o.last.error_code(), proto::ERROR_INVALID_ARGUMENT);
    EXPECT_NE(o.last.error().find(why[id - 1]), std::string::npos) << o.last.error();
  }
  const Outcome& good = coordinator.outcomes().at(5);
  EXPECT_EQ(good.done, 1);
  EXPECT_EQ(good.last.finish(), proto::FINISH_LENGTH);
  EXPECT_EQ(good.tokens, Expect(path, requests[4].start, -1).tokens);
  ExpectAllFreed(served);
}

// Answers Register from a script; anything else is unexpected here.
class RegistrarLink final : public LeaderLink {
 public:
  explicit RegistrarLink(std::function<std::optional<proto::CoordinatorMessage>(const proto::Register&)> answer)
      : answer_(std::move(answer)) {}
  absl::StatusOr<std::optional<proto::CoordinatorMessage>> Receive(absl::Duration wait) override {
    if (inbox_.empty()) {
      // Nothing will come: let the caller's clock run out (tests give it ms).
      absl::SleepFor(wait);
      return std::nullopt;
    }
    proto::CoordinatorMessage m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }
  absl::Status Send(const proto::WorkerMessage& m) override {
    EXPECT_TRUE(m.has_registration());
    EXPECT_EQ(m.version(), static_cast<uint32_t>(proto::PROTOCOL_VERSION_1));
    registrations_.push_back(m.registration());
    // A stray Start before the plan is ignored by RegisterGroup.
    proto::CoordinatorMessage stray;
    stray.mutable_start()->set_seq(1);
    inbox_.push_back(stray);
    if (auto a = answer_(m.registration())) inbox_.push_back(*a);
    return absl::OkStatus();
  }
  void SetHeartbeat(const proto::Heartbeat&) override {}
  const std::vector<proto::Register>& registrations() const { return registrations_; }

 private:
  std::function<std::optional<proto::CoordinatorMessage>(const proto::Register&)> answer_;
  std::deque<proto::CoordinatorMessage> inbox_;
  std::vector<proto::Register> registrations_;
};

TEST(RegisterGroupTest, AnswersAndTimeout) {
  proto::Register reg;
  reg.set_name("host:1");
  reg.set_tp(2);
  struct Case {
    const char* name;
    std::optional<proto::CoordinatorMessage> answer;
    absl::StatusCode code;
    const char* text;
  };
  proto::CoordinatorMessage plan;
  plan.mutable_plan()->set_group_id(4);
  plan.mutable_plan()->set_epoch(2);
  plan.mutable_plan()->mutable_plan()->set_kv_tokens(96);
  proto::CoordinatorMessage rejected;
  rejected.mutable_rejected()->set_code(proto::ERROR_INVALID_ARGUMENT);
  rejected.mutable_rejected()->set_message("model fingerprint abc is not the coordinator's def");
  proto::CoordinatorMessage shutdown;
  shutdown.mutable_shutdown()->set_reason("coordinator stopping");
  const Case cases[] = {
      {"plan", plan, absl::StatusCode::kOk, ""},
      {"rejected", rejected, absl::StatusCode::kFailedPrecondition,
       "the coordinator rejected this group: model fingerprint abc is not the coordinator's def"},
      {"shutdown", shutdown, absl::StatusCode::kCancelled, "coordinator stopping"},
      {"silence", std::nullopt, absl::StatusCode::kDeadlineExceeded, "no plan from the coordinator"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RegistrarLink link([&](const proto::Register&) { return c.answer; });
    auto got = RegisterGroup(link, reg, absl::Milliseconds(30));
    ASSERT_EQ(link.registrations().size(), 1u);
    EXPECT_EQ(link.registrations()[0].name(), "host:1");
    EXPECT_EQ(got.status().code(), c.code) << got.status();
    if (got.ok()) {
      EXPECT_EQ(got->group_id(), 4u);
      EXPECT_EQ(got->epoch(), 2u);
      EXPECT_EQ(got->plan().kv_tokens(), 96);
    } else {
      EXPECT_NE(got.status().message().find(c.text), std::string::npos) << got.status();
    }
  }
}

// The coordinator's plan replaces the leader's own partition: Register
// carries every rank's profile and the model's fingerprint, the plan's KV
// budget sizes every rank's cache, and the group then serves.
TEST(LeaderServiceTest, StartsWithTheCoordinatorsPlan) {
  const ModelSpec spec = Spec(DType::kF32, 3, 4, 2, 813);
  const std::string path = WriteModel(spec, "serve_planned");
  auto coordinator_model = LoadModel(path);
  ASSERT_TRUE(coordinator_model.ok());
  RegistrarLink registrar([&](const proto::Register& reg) -> std::optional<proto::CoordinatorMessage> {
    PartitionRequest req;
    req.model = DescribeModel((*coordinator_model)->config, (*coordinator_model)->weights);
    req.tp = reg.tp();
    req.pp = reg.pp();
    req.profiles.assign(reg.profiles().begin(), reg.profiles().end());
    req.kv_tokens = reg.kv_tokens();
    auto plan = Partition(req);
    EXPECT_TRUE(plan.ok()) << plan.status();
    proto::CoordinatorMessage m;
    m.mutable_plan()->set_group_id(5);
    m.mutable_plan()->set_epoch(3);
    *m.mutable_plan()->mutable_plan() = *plan;
    return m;
  });
  GroupOptions::PlanSource source = [&](const Model& model, std::vector<proto::DeviceProfile> profiles)
      -> absl::StatusOr<proto::ShardPlan> {
    proto::Register reg;
    reg.set_name("test");
    reg.mutable_model()->set_fingerprint(ModelFingerprint(model));
    reg.set_tp(2);
    reg.set_pp(2);
    for (auto& p : profiles) *reg.add_profiles() = std::move(p);
    reg.set_kv_tokens(300);
    auto a = RegisterGroup(registrar, reg, absl::Seconds(10));
    if (!a.ok()) return a.status();
    return a->plan();
  };
  Request r;
  r.start = MakeStart(1, Prompt(spec.vocab_size, 30, 7), 12, {0.9f, 0, 1.0f, 5}, false);
  FakeCoordinator coordinator({r});
  // The group's own partition would size the cache for 1024 positions.
  const Served served = ServeOnGroup(path, {2, 2, 1024}, SchedulerLimits{}, -1, coordinator, source);
  ASSERT_TRUE(served.status.ok()) << served.status;
  ASSERT_EQ(registrar.registrations().size(), 1u);
  const proto::Register& reg = registrar.registrations()[0];
  EXPECT_EQ(reg.profiles_size(), 4);
  EXPECT_EQ(reg.model().fingerprint(), ModelFingerprint(**coordinator_model));
  EXPECT_EQ(served.plan.kv_tokens(), 300);
  EXPECT_EQ(served.kv_blocks, 19) << "ceil(300 / 16)";
  EXPECT_EQ(coordinator.outcomes().at(1).tokens, Expect(path, r.start, -1).tokens);
}

TEST(LeaderServiceTest, ARejectedRegistrationStopsEveryRank) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 814);
  const std::string path = WriteModel(spec, "serve_rejected");
  RegistrarLink registrar([](const proto::Register&) {
    proto::CoordinatorMessage m;
    m.mutable_rejected()->set_message("this coordinator serves another model");
    return std::optional<proto::CoordinatorMessage>(m);
  });
  GroupOptions::PlanSource source = [&](const Model&,
                                        std::vector<proto::DeviceProfile>) -> absl::StatusOr<proto::ShardPlan> {
    auto a = RegisterGroup(registrar, proto::Register(), absl::Seconds(10));
    if (!a.ok()) return a.status();
    return a->plan();
  };
  FakeCoordinator unused({});
  const Served served = ServeOnGroup(path, {1, 2, 256}, SchedulerLimits{}, -1, unused, source);
  ASSERT_EQ(served.rank_status.size(), 2u);
  for (const absl::Status& s : served.rank_status) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("this coordinator serves another model"), std::string::npos) << s;
  }
}

// A coordinator playing a script: each entry goes out once `after_updates`
// update messages have come back, or (-1) once the service idles with every
// earlier entry sent, one entry an idle wait; Shutdown when the script is
// done and the service idles. Records what comes back.
class ScriptedCoordinator final : public LeaderLink {
 public:
  struct Entry {
    int after_updates = -1;
    proto::CoordinatorMessage message;
  };
  struct Update {
    uint64_t epoch = 0;
    proto::SequenceUpdate update;
  };

  explicit ScriptedCoordinator(std::vector<Entry> script) : script_(std::move(script)) { Deliver(false); }

  absl::StatusOr<std::optional<proto::CoordinatorMessage>> Receive(absl::Duration wait) override {
    if (inbox_.empty() && wait > absl::ZeroDuration()) {
      Deliver(true);
      if (inbox_.empty()) {
        proto::CoordinatorMessage m;
        m.mutable_shutdown()->set_reason("script over");
        inbox_.push_back(m);
      }
    }
    if (inbox_.empty()) return std::nullopt;
    proto::CoordinatorMessage m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  absl::Status Send(const proto::WorkerMessage& m) override {
    if (m.has_resharded()) {
      resharded_.push_back(m.resharded());
      return absl::OkStatus();
    }
    EXPECT_TRUE(m.has_updates());
    EXPECT_EQ(m.updates().group_id(), 5u);
    ++update_messages_;
    for (const proto::SequenceUpdate& u : m.updates().updates()) {
      updates_[u.seq()].push_back(Update{m.updates().epoch(), u});
    }
    Deliver(false);
    return absl::OkStatus();
  }

  void SetHeartbeat(const proto::Heartbeat& h) override { heartbeats_.push_back(h); }

  const std::vector<proto::Resharded>& resharded() const { return resharded_; }
  const std::vector<proto::Heartbeat>& heartbeats() const { return heartbeats_; }
  std::vector<int32_t> Tokens(uint64_t seq) const {
    std::vector<int32_t> out;
    if (!updates_.contains(seq)) return out;
    for (const Update& u : updates_.at(seq)) out.insert(out.end(), u.update.tokens().begin(), u.update.tokens().end());
    return out;
  }
  std::vector<uint64_t> Epochs(uint64_t seq) const {
    std::vector<uint64_t> out;
    if (!updates_.contains(seq)) return out;
    for (const Update& u : updates_.at(seq)) out.push_back(u.epoch);
    return out;
  }
  // The update that ended `seq` (or its latest), nullptr if none came.
  const proto::SequenceUpdate* Last(uint64_t seq) const {
    if (!updates_.contains(seq) || updates_.at(seq).empty()) return nullptr;
    return &updates_.at(seq).back().update;
  }
  bool Done(uint64_t seq) const {
    return updates_.contains(seq) && !updates_.at(seq).empty() && updates_.at(seq).back().update.done() &&
           updates_.at(seq).back().update.error().empty();
  }

 private:
  void Deliver(bool idle) {
    while (next_ < script_.size()) {
      const Entry& e = script_[next_];
      const bool due = e.after_updates >= 0 ? update_messages_ >= e.after_updates : idle;
      if (!due) return;
      inbox_.push_back(e.message);
      ++next_;
      if (e.after_updates < 0) return;
    }
  }

  std::vector<Entry> script_;
  size_t next_ = 0;
  int update_messages_ = 0;
  std::deque<proto::CoordinatorMessage> inbox_;
  std::map<uint64_t, std::vector<Update>> updates_;
  std::vector<proto::Resharded> resharded_;
  std::vector<proto::Heartbeat> heartbeats_;
};

ScriptedCoordinator::Entry StartEntry(int after, const proto::StartSequence& start) {
  ScriptedCoordinator::Entry e;
  e.after_updates = after;
  *e.message.mutable_start() = start;
  return e;
}

ScriptedCoordinator::Entry CancelEntry(int after, uint64_t seq) {
  ScriptedCoordinator::Entry e;
  e.after_updates = after;
  e.message.mutable_cancel()->set_seq(seq);
  return e;
}

ScriptedCoordinator::Entry ReshardEntry(int after, uint64_t epoch, const proto::ShardPlan& plan,
                                        uint64_t group_id = 5) {
  ScriptedCoordinator::Entry e;
  e.after_updates = after;
  e.message.mutable_reshard()->set_group_id(group_id);
  e.message.mutable_reshard()->set_epoch(epoch);
  *e.message.mutable_reshard()->mutable_plan() = plan;
  return e;
}

// KV bytes of one rank: keys and values, f32, for its layers and KV width.
int64_t KvBytes(int64_t layers, int64_t kv_dim, int64_t blocks) { return 2 * layers * kv_dim * blocks * 16 * 4; }

// An idle group (tp 1, pp 2) switches from layers [0, 2) + [2, 4) to
// [0, 3) + [3, 4) and from 256 to 512 KV positions; sequences before and
// after match the single-rank run, the updates carry the old and then the
// new epoch, and the heartbeat the new stages.
TEST(LeaderServiceReshardTest, AnIdleGroupSwitchesPlans) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 821);
  const std::string path = WriteModel(spec, "serve_reshard_idle");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 3, 4}});
  const proto::StartSequence one = MakeStart(1, Prompt(spec.vocab_size, 9, 31), 10, {}, false);
  const proto::StartSequence two = MakeStart(2, Prompt(spec.vocab_size, 14, 32), 16, {0.8f, 0, 1.0f, 9}, false);
  ScriptedCoordinator coordinator({StartEntry(0, one), ReshardEntry(-1, 4, second), StartEntry(-1, two)});
  const Served served = ServeOnGroup(path, {1, 2, 256}, SchedulerLimits{}, -1, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  for (const absl::Status& s : served.rank_status) EXPECT_TRUE(s.ok()) << s;

  ASSERT_EQ(coordinator.resharded().size(), 1u);
  const proto::Resharded& r = coordinator.resharded()[0];
  EXPECT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.group_id(), 5u);
  EXPECT_EQ(r.epoch(), 4u);
  EXPECT_EQ(r.kv_blocks(), 32) << "512 positions in blocks of 16";
  EXPECT_EQ(r.block_size(), 16);
  EXPECT_GT(r.loaded_bytes(), 0);
  EXPECT_GT(r.kept_bytes(), 0);
  EXPECT_GE(r.seconds(), 0.0);
  EXPECT_EQ(served.epoch, 4u);
  for (const proto::ShardPlan& p : served.rank_plans) EXPECT_EQ(Layers(p), Layers(second));

  EXPECT_TRUE(coordinator.Done(1));
  EXPECT_TRUE(coordinator.Done(2));
  EXPECT_EQ(coordinator.Tokens(1), Expect(path, one, -1).tokens);
  EXPECT_EQ(coordinator.Tokens(2), Expect(path, two, -1).tokens);
  for (uint64_t e : coordinator.Epochs(1)) EXPECT_EQ(e, 3u);
  for (uint64_t e : coordinator.Epochs(2)) EXPECT_EQ(e, 4u);
  ExpectAllFreed(served);
  EXPECT_EQ(served.kv_blocks, 32);

  const proto::Heartbeat& h = coordinator.heartbeats().back();
  EXPECT_EQ(h.epoch(), 4u);
  ASSERT_EQ(h.stages_size(), 2);
  EXPECT_EQ(h.stages(0).layers(), 3);
  EXPECT_EQ(h.stages(1).layers(), 1);
  ASSERT_EQ(h.ranks_size(), 2);
  EXPECT_EQ(h.ranks(0).kv_bytes(), KvBytes(3, 64, 32));
  EXPECT_EQ(h.ranks(1).kv_bytes(), KvBytes(1, 64, 32));
}

// A Reshard while a sequence still runs is refused (the group serves on,
// under the new epoch, with the old plan); once it is idle the next one
// goes through.
TEST(LeaderServiceReshardTest, ABusyGroupRefusesAndServesOn) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 822);
  const std::string path = WriteModel(spec, "serve_reshard_busy");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 1, 4}});
  const proto::StartSequence one = MakeStart(1, Prompt(spec.vocab_size, 9, 33), 30, {}, false);
  ScriptedCoordinator coordinator({StartEntry(0, one), ReshardEntry(3, 4, second), ReshardEntry(-1, 5, second)});
  const Served served = ServeOnGroup(path, {1, 2, 256}, SchedulerLimits{}, -1, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  for (const absl::Status& s : served.rank_status) EXPECT_TRUE(s.ok()) << s;

  ASSERT_EQ(coordinator.resharded().size(), 2u);
  const proto::Resharded& refused = coordinator.resharded()[0];
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), "1 sequence(s) still running: drain the group before a reshard");
  EXPECT_EQ(refused.epoch(), 4u);
  EXPECT_EQ(refused.kv_blocks(), 16) << "the old cache";
  const proto::Resharded& done = coordinator.resharded()[1];
  EXPECT_TRUE(done.ok()) << done.message();
  EXPECT_EQ(done.epoch(), 5u);
  EXPECT_EQ(done.kv_blocks(), 32);

  EXPECT_TRUE(coordinator.Done(1));
  EXPECT_EQ(coordinator.Tokens(1), Expect(path, one, -1).tokens);
  const std::vector<uint64_t> epochs = coordinator.Epochs(1);
  ASSERT_FALSE(epochs.empty());
  EXPECT_EQ(epochs.front(), 3u);
  EXPECT_EQ(epochs.back(), 4u) << "serving went on under the refused Reshard's epoch";
  for (const proto::ShardPlan& p : served.rank_plans) EXPECT_EQ(Layers(p), Layers(second));
  EXPECT_EQ(served.epoch, 5u);
  ExpectAllFreed(served);
}

// Start, Cancel (of that start), Reshard and another Start arrive in one
// batch: the cancel leaves the group empty, so the reshard goes through
// before the second Start is admitted, which then runs under the new epoch
// on the new (larger) KV cache.
TEST(LeaderServiceReshardTest, AReshardBetweenMessagesOfOneBatch) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 825);
  const std::string path = WriteModel(spec, "serve_reshard_batch");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 3, 4}});
  const proto::StartSequence one = MakeStart(1, Prompt(spec.vocab_size, 9, 34), 10, {}, false);
  const proto::StartSequence two = MakeStart(2, Prompt(spec.vocab_size, 15, 35), 14, {0.7f, 0, 1.0f, 3}, false);
  ScriptedCoordinator coordinator(
      {StartEntry(0, one), CancelEntry(0, 1), ReshardEntry(0, 4, second), StartEntry(0, two)});
  const Served served = ServeOnGroup(path, {1, 2, 256}, SchedulerLimits{}, -1, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  for (const absl::Status& s : served.rank_status) EXPECT_TRUE(s.ok()) << s;

  ASSERT_EQ(coordinator.resharded().size(), 1u);
  const proto::Resharded& r = coordinator.resharded()[0];
  EXPECT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.epoch(), 4u);
  EXPECT_EQ(r.kv_blocks(), 32) << "512 positions in blocks of 16";
  for (const proto::ShardPlan& p : served.rank_plans) EXPECT_EQ(Layers(p), Layers(second));

  const proto::SequenceUpdate* cancelled = coordinator.Last(1);
  ASSERT_NE(cancelled, nullptr);
  EXPECT_TRUE(cancelled->done());
  EXPECT_EQ(cancelled->finish(), proto::FINISH_CANCELLED);
  EXPECT_TRUE(coordinator.Tokens(1).empty());

  EXPECT_TRUE(coordinator.Done(2));
  EXPECT_EQ(coordinator.Tokens(2), Expect(path, two, -1).tokens);
  const std::vector<uint64_t> epochs = coordinator.Epochs(2);
  ASSERT_FALSE(epochs.empty());
  for (uint64_t e : epochs) EXPECT_EQ(e, 4u);
  EXPECT_EQ(served.epoch, 4u);
  EXPECT_EQ(served.kv_blocks, 32);
  ExpectAllFreed(served);
  const proto::Heartbeat& h = coordinator.heartbeats().back();
  EXPECT_EQ(h.epoch(), 4u);
  EXPECT_EQ(h.kv_blocks_free(), 32);
}

// A rank fails to load its part through the service's reshard callback:
// Resharded says so and names it, the epoch still advances, and the group
// serves on with the old plan, KV cache, scheduler and stage layers.
TEST(LeaderServiceReshardTest, ARollbackKeepsTheOldPlanUnderTheNewEpoch) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 826);
  const std::string path = WriteModel(spec, "serve_reshard_rollback");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 3, 4}});
  const proto::StartSequence one = MakeStart(1, Prompt(spec.vocab_size, 11, 36), 12, {}, false);
  const proto::StartSequence two = MakeStart(2, Prompt(spec.vocab_size, 7, 37), 15, {}, false);
  ScriptedCoordinator coordinator({StartEntry(0, one), ReshardEntry(-1, 4, second), StartEntry(-1, two)});
  const Served served = ServeOnGroup(path, {1, 2, 256}, SchedulerLimits{}, -1, coordinator, nullptr, nullptr,
                                     ReshardFaults{.fail_rank = 1});
  ASSERT_TRUE(served.status.ok()) << served.status;
  for (const absl::Status& s : served.rank_status) EXPECT_TRUE(s.ok()) << s;

  ASSERT_EQ(coordinator.resharded().size(), 1u);
  const proto::Resharded& r = coordinator.resharded()[0];
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message().find("rank 1 (stage 1, tp 0) could not load its new shard: injected load failure"),
            std::string::npos)
      << r.message();
  EXPECT_EQ(r.group_id(), 5u);
  EXPECT_EQ(r.epoch(), 4u);
  EXPECT_EQ(r.kv_blocks(), 16) << "the old cache: 256 positions";
  EXPECT_EQ(r.loaded_bytes(), 0);
  EXPECT_EQ(served.epoch, 4u);
  EXPECT_EQ(served.kv_blocks, 16);
  for (const proto::ShardPlan& p : served.rank_plans) EXPECT_EQ(Layers(p), Layers(served.plan));
  EXPECT_NE(Layers(served.plan), Layers(second));

  EXPECT_EQ(coordinator.Tokens(1), Expect(path, one, -1).tokens);
  EXPECT_EQ(coordinator.Tokens(2), Expect(path, two, -1).tokens);
  for (uint64_t e : coordinator.Epochs(1)) EXPECT_EQ(e, 3u);
  for (uint64_t e : coordinator.Epochs(2)) EXPECT_EQ(e, 4u);
  ExpectAllFreed(served);
  const proto::Heartbeat& h = coordinator.heartbeats().back();
  EXPECT_EQ(h.epoch(), 4u);
  EXPECT_EQ(h.kv_blocks_free(), 16);
  ASSERT_EQ(h.stages_size(), 2);
  for (int s = 0; s < 2; ++s) {
    const proto::Range& layers = served.plan.ranks(s).layers();
    EXPECT_EQ(h.stages(s).layers(), layers.end() - layers.begin()) << "stage " << s;
  }
}

// Refused Reshards are answered with their own group id and epoch (the
// coordinator matches on them), and a newer epoch is adopted: one for
// another group, and one the worker cannot do (no reshard support).
TEST(LeaderServiceReshardTest, RefusalsAnswerWithTheReshardsIdAndEpoch) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 827);
  const std::string path = WriteModel(spec, "serve_reshard_refused");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 3, 4}});
  const proto::StartSequence one = MakeStart(1, Prompt(spec.vocab_size, 8, 38), 6, {}, false);
  const proto::StartSequence two = MakeStart(2, Prompt(spec.vocab_size, 5, 39), 6, {}, false);
  ScriptedCoordinator coordinator({ReshardEntry(0, 4, second, /*group_id=*/7), StartEntry(-1, one),
                                   ReshardEntry(-1, 6, second), StartEntry(-1, two)});
  const Served served = ServeOnGroup(path, {1, 2, 256}, SchedulerLimits{}, -1, coordinator, nullptr,
                                     [](LeaderServiceOptions& o) { o.reshard = nullptr; });
  ASSERT_TRUE(served.status.ok()) << served.status;

  ASSERT_EQ(coordinator.resharded().size(), 2u);
  const proto::Resharded& other = coordinator.resharded()[0];
  EXPECT_FALSE(other.ok());
  EXPECT_EQ(other.group_id(), 7u);
  EXPECT_EQ(other.epoch(), 4u);
  EXPECT_NE(other.message().find("does not fit group 5 at epoch 3"), std::string::npos) << other.message();
  EXPECT_EQ(other.kv_blocks(), 16);
  const proto::Resharded& unsupported = coordinator.resharded()[1];
  EXPECT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.group_id(), 5u);
  EXPECT_EQ(unsupported.epoch(), 6u);
  EXPECT_EQ(unsupported.message(), "this worker was started without reshard support");
  EXPECT_EQ(unsupported.kv_blocks(), 16);

  EXPECT_EQ(coordinator.Tokens(1), Expect(path, one, -1).tokens);
  EXPECT_EQ(coordinator.Tokens(2), Expect(path, two, -1).tokens);
  for (uint64_t e : coordinator.Epochs(1)) EXPECT_EQ(e, 4u);
  for (uint64_t e : coordinator.Epochs(2)) EXPECT_EQ(e, 6u);
  EXPECT_EQ(served.epoch, 6u);
  for (const proto::ShardPlan& p : served.rank_plans) EXPECT_EQ(Layers(p), Layers(served.plan));
}

// The coordinator keeps the heartbeat's preemption count as an absolute
// value: a reshard (a new scheduler) must not set it back.
TEST(LeaderServiceReshardTest, PreemptionsNeverGoBackwards) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 828);
  const std::string path = WriteModel(spec, "serve_reshard_preemptions");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 96, {.layers = {0, 3, 4}});
  std::vector<ScriptedCoordinator::Entry> script;
  for (const Request& r : GrowingWorkload(spec.vocab_size, 0)) script.push_back(StartEntry(0, r.start));
  script.push_back(ReshardEntry(-1, 4, second));
  script.push_back(StartEntry(-1, MakeStart(9, Prompt(spec.vocab_size, 4, 40), 5, {}, false)));
  ScriptedCoordinator coordinator(script);
  SchedulerLimits limits;
  limits.max_sequences = 6;
  limits.max_batch_tokens = 40;
  limits.prefill_chunk = 16;
  // 96 positions: the six growing sequences cannot all stay.
  const Served served = ServeOnGroup(path, {1, 2, 96}, limits, -1, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  ASSERT_EQ(coordinator.resharded().size(), 1u);
  EXPECT_TRUE(coordinator.resharded()[0].ok()) << coordinator.resharded()[0].message();
  EXPECT_TRUE(coordinator.Done(9));

  int64_t before_reshard = 0, previous = 0;
  for (const proto::Heartbeat& h : coordinator.heartbeats()) {
    EXPECT_GE(h.preemptions(), previous) << "heartbeat at epoch " << h.epoch();
    previous = h.preemptions();
    if (h.epoch() == 3) before_reshard = h.preemptions();
  }
  EXPECT_GT(before_reshard, 0) << "the KV budget was meant to force preemptions";
  EXPECT_EQ(coordinator.heartbeats().back().epoch(), 4u);
  EXPECT_EQ(coordinator.heartbeats().back().preemptions(), served.preemptions);
  EXPECT_GE(served.preemptions, before_reshard);
}

// With a report on every step, the heartbeat says per stage how many steps
// ran and how long the slowest tensor rank took, and every rank's memory.
TEST(LeaderServiceReportTest, HeartbeatsCarryStageTimesAndRankMemory) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 823);
  const std::string path = WriteModel(spec, "serve_reports");
  std::vector<Request> requests;
  for (int i = 0; i < 3; ++i) {
    Request r;
    r.start = MakeStart(10 + i, Prompt(spec.vocab_size, 6 + 5 * i, 40 + i), 8, {}, false);
    requests.push_back(r);
  }
  FakeCoordinator coordinator(requests);
  const Served served = ServeOnGroup(path, {2, 2, 256}, SchedulerLimits{}, -1, coordinator, nullptr,
                                     [](LeaderServiceOptions& o) { o.report_period = absl::ZeroDuration(); });
  ASSERT_TRUE(served.status.ok()) << served.status;
  const proto::Heartbeat& h = coordinator.heartbeat();
  ASSERT_EQ(h.stages_size(), 2);
  for (int s = 0; s < 2; ++s) {
    SCOPED_TRACE(::testing::Message() << "stage " << s);
    const proto::RankShard& rs = served.plan.ranks(s * 2);
    EXPECT_EQ(h.stages(s).stage(), s);
    EXPECT_EQ(h.stages(s).layers(), rs.layers().end() - rs.layers().begin());
    EXPECT_GT(h.stages(s).steps(), 0u);
    EXPECT_LE(h.stages(s).steps(), served.steps);
    EXPECT_GT(h.stages(s).mean_step_seconds(), 0.0);
  }
  ASSERT_EQ(h.ranks_size(), 4);
  for (int r = 0; r < 4; ++r) {
    SCOPED_TRACE(::testing::Message() << "rank " << r);
    const proto::RankShard& rs = served.plan.ranks(r);
    EXPECT_EQ(h.ranks(r).rank(), r);
    EXPECT_GT(h.ranks(r).resident_bytes(), 0);
    EXPECT_GT(h.ranks(r).weight_bytes(), 0);
    // tp 2 over 2 KV heads: one KV head (32 wide) a rank; 256 positions.
    EXPECT_EQ(h.ranks(r).kv_bytes(), KvBytes(rs.layers().end() - rs.layers().begin(), 32, 16));
  }
}

// A group that never gets work still reports its ranks' memory.
TEST(LeaderServiceReportTest, AnIdleGroupReportsToo) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 824);
  const std::string path = WriteModel(spec, "serve_idle_report");
  ScriptedCoordinator coordinator({});
  const Served served = ServeOnGroup(path, {2, 1, 256}, SchedulerLimits{}, -1, coordinator);
  ASSERT_TRUE(served.status.ok()) << served.status;
  EXPECT_EQ(served.steps, 0u);
  ASSERT_FALSE(coordinator.heartbeats().empty());
  const proto::Heartbeat& h = coordinator.heartbeats().back();
  ASSERT_EQ(h.stages_size(), 1);
  EXPECT_EQ(h.stages(0).steps(), 0u);
  EXPECT_EQ(h.stages(0).layers(), 2);
  ASSERT_EQ(h.ranks_size(), 2);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(h.ranks(r).rank(), r);
    EXPECT_GT(h.ranks(r).weight_bytes(), 0);
    EXPECT_EQ(h.ranks(r).kv_bytes(), KvBytes(2, 32, 16));
  }
}

}  // namespace
}  // namespace tessera::testing
