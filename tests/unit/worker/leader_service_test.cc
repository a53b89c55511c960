// The leader's serving loop on a real group (ranks as threads over the
// loopback communicator) with an in-memory coordinator: sequences of mixed
// lengths and sampling arrive while others decode, and each one's tokens
// must equal the single-rank run of the same request (F32 model), also when
// a small KV budget forces preemptions. Cancels free every rank's blocks; a
// bad Start gets an error update and the group serves on.
#include "tests/unit/worker/leader_service_harness.h"

namespace tessera::testing {
namespace {

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
}  // namespace
}  // namespace tessera::testing
