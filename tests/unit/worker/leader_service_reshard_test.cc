// The leader service across a live reshard (idle, busy, between messages of
// one batch, rolled back, refused) and its rank reports in heartbeats, on
// real loopback groups against the single-rank run.
#include "tests/unit/worker/leader_service_harness.h"

namespace tessera::testing {
namespace {

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
