// Rank reports: on a real group (ranks as threads over the loopback
// communicator) every rank's report comes back with a step that asks for
// them, refused or not; and the pure pieces: how a step's reports become
// the heartbeat's stage timings and rank memory, and which bytes a new
// shard shares with an old one (Uncovered, for the reshard's counts).
#include "worker/rank_report.h"

#include <thread>
#include <vector>

#include "comm/loopback.h"
#include "gtest/gtest.h"
#include "tests/unit/worker/group_harness.h"
#include "tests/unit/worker/single_rank_reference.h"
#include "worker/group_leader.h"
#include "worker/shard.h"

namespace tessera::testing {
namespace {

std::vector<std::pair<uintptr_t, uintptr_t>> Pairs(const std::vector<ByteSpan>& spans) {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  for (const ByteSpan& s : spans) out.emplace_back(s.begin, s.end);
  return out;
}

TEST(UncoveredTest, SubtractsEveryCoveringSpan) {
  struct Case {
    const char* name;
    std::vector<ByteSpan> spans, cover;
    std::vector<std::pair<uintptr_t, uintptr_t>> want;
  };
  const Case cases[] = {
      {"no cover", {{10, 20}}, {}, {{10, 20}}},
      {"disjoint", {{10, 20}}, {{0, 10}, {20, 30}}, {{10, 20}}},
      {"inside", {{10, 20}}, {{5, 25}}, {}},
      {"a hole", {{10, 40}}, {{20, 30}}, {{10, 20}, {30, 40}}},
      {"overlapping, unsorted cover", {{10, 40}}, {{25, 35}, {15, 28}}, {{10, 15}, {35, 40}}},
      {"the ends", {{10, 40}}, {{0, 12}, {38, 50}}, {{12, 38}}},
      {"several spans", {{0, 10}, {100, 110}}, {{5, 105}}, {{0, 5}, {105, 110}}},
      {"touching covers", {{0, 30}}, {{0, 10}, {10, 20}}, {{20, 30}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Pairs(Uncovered(c.spans, c.cover)), c.want);
  }
  EXPECT_EQ(TotalBytes({{0, 10}, {20, 25}}), 15);
}

proto::RankReport Report(int rank, int stage, uint64_t steps, double seconds, int64_t weights) {
  proto::RankReport r;
  r.set_rank(rank);
  r.set_stage(stage);
  r.set_steps(steps);
  r.set_compute_seconds(seconds);
  r.set_resident_bytes(1000 + rank);
  r.set_weight_bytes(weights);
  r.set_kv_bytes(10 * rank);
  return r;
}

TEST(HeartbeatReportsTest, SlowestTensorRankPerStageAndEveryRanksMemory) {
  // tp 2 x pp 2, reports in the order the pipeline appends them. Stage 0's
  // slower rank takes 0.3 s over 10 steps; stage 1's 1.0 s over 5.
  const std::vector<proto::RankReport> reports = {
      Report(0, 0, 10, 2.0, 500), Report(1, 0, 10, 3.0, 400), Report(2, 1, 5, 5.0, 300), Report(3, 1, 5, 4.0, 200)};
  const std::vector<int64_t> layers = {3, 1};
  proto::Heartbeat h;
  h.add_stages()->set_stage(7);  // replaced, not added to
  FillHeartbeatReports(reports, layers, &h);
  ASSERT_EQ(h.stages_size(), 2);
  EXPECT_EQ(h.stages(0).stage(), 0);
  EXPECT_EQ(h.stages(0).steps(), 10u);
  EXPECT_DOUBLE_EQ(h.stages(0).mean_step_seconds(), 0.3);
  EXPECT_EQ(h.stages(0).layers(), 3);
  EXPECT_EQ(h.stages(1).steps(), 5u);
  EXPECT_DOUBLE_EQ(h.stages(1).mean_step_seconds(), 1.0);
  EXPECT_EQ(h.stages(1).layers(), 1);
  ASSERT_EQ(h.ranks_size(), 4);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(h.ranks(r).rank(), r);
    EXPECT_EQ(h.ranks(r).resident_bytes(), 1000 + r);
    EXPECT_EQ(h.ranks(r).weight_bytes(), 500 - 100 * r);
    EXPECT_EQ(h.ranks(r).kv_bytes(), 10 * r);
  }
}

TEST(HeartbeatReportsTest, AStageWithoutStepsReportsZero) {
  proto::Heartbeat h;
  const std::vector<int64_t> layers = {2};
  FillHeartbeatReports(std::vector<proto::RankReport>{Report(1, 0, 0, 0.0, 5), Report(0, 0, 0, 0.0, 5)}, layers, &h);
  ASSERT_EQ(h.stages_size(), 1);
  EXPECT_EQ(h.stages(0).steps(), 0u);
  EXPECT_EQ(h.stages(0).mean_step_seconds(), 0.0);
  ASSERT_EQ(h.ranks_size(), 2);
  EXPECT_EQ(h.ranks(0).rank(), 0) << "in rank order";
}

proto::GroupStep PrefillStep(int64_t seq, std::vector<int32_t> tokens) {
  proto::GroupStep step;
  proto::StepChunk* c = step.add_chunks();
  c->set_seq_id(seq);
  c->set_start_pos(0);
  c->mutable_tokens()->Add(tokens.begin(), tokens.end());
  c->set_want_logits(true);
  return step;
}

// tp 2 x pp 2: a step that asks for reports brings back all four ranks',
// counting the steps each computed; a step the group refuses (a token
// outside the vocabulary) brings them back too; a step that does not ask
// brings none.
TEST(RankReportGroupTest, EveryRanksReportComesBackRefusedOrNot) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 931);
  const std::string path = WriteModel(spec, "rank_reports");
  constexpr int kRanks = 4;
  auto hub = LoopbackHub::Create(kRanks);
  auto comms = hub->ConnectAll();
  std::vector<absl::Status> status(kRanks);
  std::vector<proto::StepResult> results;
  std::vector<int64_t> weight_bytes(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      comms[r]->set_default_timeout(absl::Seconds(30));
      GroupOptions g;
      g.model_path = path;
      g.tp = 2;
      g.pp = 2;
      g.oversubscribed = true;
      g.kv_tokens = 256;
      auto member = StartGroupMember(*comms[r], g);
      if (!member.ok()) {
        status[r] = member.status();
        return;
      }
      GroupMember& m = **member;
      weight_bytes[r] = m.shard->weight_bytes;
      if (!m.layout.leader()) {
        status[r] = ServeFollower(m, absl::Seconds(30));
        return;
      }
      GroupLeader leader(*m.runner, *m.comms.group);
      status[r] = [&]() -> absl::Status {
        std::vector<proto::GroupStep> steps = {PrefillStep(1, {3, 4, 5}), PrefillStep(2, {6, 7}),
                                               PrefillStep(3, {8, 512})};
        steps[1].set_collect_reports(true);
        steps[2].set_collect_reports(true);
        for (proto::GroupStep& step : steps) {
          if (auto id = leader.Submit(step); !id.ok()) return id.status();
          auto result = leader.Collect();
          if (!result.ok()) return result.status();
          results.push_back(*result);
        }
        return leader.Stop();
      }();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : status) ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].reports().empty());
  EXPECT_TRUE(results[2].error().find("outside") != std::string::npos ||
              results[2].error().find("vocabulary") != std::string::npos)
      << results[2].error();
  for (int i : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "step " << i);
    const proto::StepResult& res = results[static_cast<size_t>(i)];
    ASSERT_EQ(res.reports_size(), kRanks);
    std::vector<int> seen(kRanks, 0);
    for (const proto::RankReport& rep : res.reports()) {
      ASSERT_GE(rep.rank(), 0);
      ASSERT_LT(rep.rank(), kRanks);
      ++seen[static_cast<size_t>(rep.rank())];
      EXPECT_EQ(rep.stage(), rep.rank() / 2);
      // Both computed steps count; the refused one does not.
      EXPECT_EQ(rep.steps(), 2u);
      EXPECT_GT(rep.compute_seconds(), 0.0);
      EXPECT_GT(rep.resident_bytes(), 0);
      EXPECT_EQ(rep.weight_bytes(), weight_bytes[static_cast<size_t>(rep.rank())]);
      // One KV head of 32 a rank, two layers a stage, 16 blocks of 16.
      EXPECT_EQ(rep.kv_bytes(), 2 * 2 * 32 * 16 * 16 * 4);
    }
    EXPECT_EQ(seen, std::vector<int>(kRanks, 1));
  }
}

}  // namespace
}  // namespace tessera::testing
