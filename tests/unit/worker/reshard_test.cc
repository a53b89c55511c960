// The collective reshard on a real group (ranks as threads over the
// loopback communicator): a group generates, switches plans live, and
// generates again; every run must equal the single-rank run, the bytes each
// rank keeps and loads must be what the two plans' ranges say (worked out by
// hand below), column copies of unchanged slices must be shared rather than
// copied, and a rank that cannot load its part makes every rank keep the
// old plan: also a rank short of memory (before it allocates) and a rank
// whose copy of the plan does not parse (at once, not after the timeout).
#include "worker/reshard.h"

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "comm/loopback.h"
#include "gtest/gtest.h"
#include "tests/unit/worker/group_harness.h"
#include "tests/unit/worker/single_rank_reference.h"
#include "tests/unit/worker/test_plans.h"
#include "worker/group_leader.h"

namespace tessera::testing {
namespace {

const absl::Duration kTimeout = absl::Seconds(30);

// What one rank saw.
struct RankSeen {
  absl::Status status = absl::UnknownError("the rank did not finish");
  absl::StatusOr<ReshardOutcome> outcome = absl::UnknownError("no reshard");
  proto::ShardPlan plan;  // at the end
  ShardRanges ranges;     // of the shard served at the end
  int64_t weight_bytes = 0, kept_bytes = 0, kv_blocks = 0;
  // The column copy of each model layer's attention output, before and after.
  std::map<int64_t, const uint8_t*> wo_before, wo_after;
};

struct ReshardRun {
  std::vector<RankSeen> ranks;
  std::vector<GroupOutput> before, after;
};

std::map<int64_t, const uint8_t*> WoCopies(const Shard& shard) {
  std::map<int64_t, const uint8_t*> out;
  for (size_t i = 0; i < shard.weights.layers.size(); ++i) {
    out[shard.ranges.layer_begin + static_cast<int64_t>(i)] = shard.weights.layers[i].wo.data;
  }
  return out;
}

// Starts a group on `first`, generates `before`, switches every rank to
// `second`, generates `after`, stops. `sent_plan`, when set, is what the
// reshard step carries to the other ranks instead of `second` serialized
// (the leader still switches to `second`).
ReshardRun RunReshard(const std::string& path, int tp, int pp, const proto::ShardPlan& first,
                      const proto::ShardPlan& second, const std::vector<GroupRequest>& before,
                      const std::vector<GroupRequest>& after, const ReshardFaults& faults = {},
                      const std::optional<std::string>& sent_plan = std::nullopt) {
  const int n = tp * pp;
  auto hub = LoopbackHub::Create(n);
  auto comms = hub->ConnectAll();
  ReshardRun run;
  run.ranks.resize(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      RankSeen& seen = run.ranks[static_cast<size_t>(r)];
      Communicator& world = *comms[static_cast<size_t>(r)];
      world.set_default_timeout(kTimeout);
      GroupOptions g;
      g.model_path = path;
      g.tp = tp;
      g.pp = pp;
      g.oversubscribed = true;
      g.startup_timeout = kTimeout;
      if (r == 0) {
        g.plan_source = [&](const Model&, std::vector<proto::DeviceProfile>) -> absl::StatusOr<proto::ShardPlan> {
          return first;
        };
      }
      auto member = StartGroupMember(world, g);
      if (!member.ok()) {
        seen.status = member.status();
        return;
      }
      GroupMember& m = **member;
      m.comms.group->set_default_timeout(kTimeout);
      if (m.comms.tp) m.comms.tp->set_default_timeout(kTimeout);
      seen.wo_before = WoCopies(*m.shard);
      auto record = [&] {
        seen.plan = m.plan;
        seen.ranges = m.shard->ranges;
        seen.weight_bytes = m.shard->weight_bytes;
        seen.kept_bytes = m.shard->kept_bytes;
        seen.kv_blocks = m.kv->shape().n_blocks;
        seen.wo_after = WoCopies(*m.shard);
      };
      if (!m.layout.leader()) {
        seen.status = [&]() -> absl::Status {
          while (true) {
            auto exit = m.runner->Serve();
            if (!exit.ok()) return exit.status();
            if (!exit->reshard) return absl::OkStatus();
            seen.outcome = ReshardMember(m, *exit, kTimeout, faults);
            if (!seen.outcome.ok()) return seen.outcome.status();
          }
        }();
        record();
        return;
      }
      GroupLeader leader(*m.runner, *m.comms.group);
      seen.status = [&]() -> absl::Status {
        auto out = GenerateOnGroup(leader, before, {});
        if (!out.ok()) return out.status();
        run.before = *std::move(out);
        if (sent_plan.has_value()) {
          proto::GroupStep step;
          step.set_reshard_plan(*sent_plan);
          if (auto s = m.runner->RunAsLeader(step); !s.ok()) return s.status();
        } else if (auto s = leader.SendReshard(second); !s.ok()) {
          return s;
        }
        seen.outcome = ReshardMember(m, second, kTimeout, faults);
        if (!seen.outcome.ok()) return seen.outcome.status();
        out = GenerateOnGroup(leader, after, {});
        if (!out.ok()) return out.status();
        run.after = *std::move(out);
        return leader.Stop();
      }();
      record();
      if (!seen.status.ok()) {
        for (int k = 0; k < n; ++k) hub->Kill(k);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return run;
}

GroupRequest Request(int64_t id, std::vector<int32_t> prompt, int64_t tokens) {
  GroupRequest r;
  r.seq_id = id;
  r.prompt = std::move(prompt);
  r.max_tokens = tokens;
  return r;
}

void ExpectSingleRankTokens(const std::string& path, const std::vector<GroupRequest>& requests,
                            const std::vector<GroupOutput>& outputs) {
  ASSERT_EQ(outputs.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const Reference ref = RunSingleRank(path, requests[i].prompt, static_cast<int>(requests[i].max_tokens));
    EXPECT_EQ(outputs[i].tokens, ref.tokens) << "request " << i;
  }
}

class ReshardLayerCut : public ::testing::TestWithParam<DType> {};

// (tp, pp) = (1, 2): layers [0, 1) + [1, 4) become [0, 3) + [3, 4), and the
// KV budget grows from 256 to 512 positions.
TEST_P(ReshardLayerCut, MovesLayersBetweenStages) {
  const DType type = GetParam();
  const ModelSpec spec = Spec(type, 4, 4, 2, 901);
  const std::string path = WriteModel(spec, absl::StrCat("reshard_cut_", std::string(DTypeName(type))));
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first = MakePlan(**model, 1, 2, 256, {.layers = {0, 1, 4}});
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 3, 4}});
  const std::vector<GroupRequest> before = {Request(1, Prompt(spec.vocab_size, 9, 1), 16)};
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 13, 2), 24),
                                           Request(3, Prompt(spec.vocab_size, 5, 3), 12)};
  const ReshardRun run = RunReshard(path, 1, 2, first, second, before, after);
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    EXPECT_TRUE(r.outcome->status.ok()) << r.outcome->status;
    EXPECT_EQ(Layers(r.plan), Layers(second));
    EXPECT_EQ(r.kv_blocks, 32) << "512 positions in blocks of 16";
    EXPECT_EQ(r.outcome->kv_blocks, 32);
    EXPECT_EQ(r.outcome->block_size, 16);
  }
  ExpectSingleRankTokens(path, before, run.before);
  ExpectSingleRankTokens(path, after, run.after);

  // By hand. A layer: q (128 rows), k and v (64 each), gate and up (384
  // each) of width 128; attention output (128 rows of 128) and FFN down
  // (128 rows of 384) copied; two norms of 128 floats. The embedding and
  // the output head: 512 rows of width 128; the output norm 128 floats.
  auto row = [&](int64_t cols) { return cols / BlockElems(type) * BlockBytes(type); };
  const int64_t layer = (128 + 64 + 64 + 384 + 384) * row(128) + 128 * row(128) + 128 * row(384) + 2 * 128 * 4;
  const int64_t table = 512 * row(128);
  // Stage 0 keeps layer 0 and the embedding and loads layers 1 and 2;
  // stage 1 keeps layer 3, the output head and its norm and loads nothing.
  const RankSeen& s0 = run.ranks[0];
  const RankSeen& s1 = run.ranks[1];
  EXPECT_EQ(s0.kept_bytes, layer + table);
  EXPECT_EQ(s0.weight_bytes - s0.kept_bytes, 2 * layer);
  EXPECT_EQ(s1.kept_bytes, layer + table + 128 * 4);
  EXPECT_EQ(s1.weight_bytes, s1.kept_bytes);
  EXPECT_EQ(s0.outcome->loaded_bytes, 2 * layer);
  EXPECT_EQ(s0.outcome->kept_bytes, 2 * layer + 2 * table + 128 * 4);
  EXPECT_EQ(s1.outcome->loaded_bytes, s0.outcome->loaded_bytes) << "every rank gets the group's sums";
  // The kept layers' column copies are the very same buffers.
  EXPECT_EQ(s0.wo_after.at(0), s0.wo_before.at(0));
  EXPECT_EQ(s1.wo_after.at(3), s1.wo_before.at(3));
  EXPECT_EQ(s0.wo_after.size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Types, ReshardLayerCut, ::testing::Values(DType::kF32, DType::kQ8_0),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

// (tp, pp) = (2, 1): query heads 2 + 2 become 1 + 3 (so rank 1's KV heads
// grow from [1, 2) to [0, 2)), FFN columns 192 + 192 become 128 + 256, the
// vocabulary 256 + 256 becomes 200 + 312.
TEST(ReshardTest, ChangesTensorShares) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 902);
  const std::string path = WriteModel(spec, "reshard_tp");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first =
      MakePlan(**model, 2, 1, 256, {.q_heads = {0, 2, 4}, .ffn = {0, 192, 384}, .vocab = {0, 256, 512}});
  const proto::ShardPlan second =
      MakePlan(**model, 2, 1, 256, {.q_heads = {0, 1, 4}, .ffn = {0, 128, 384}, .vocab = {0, 200, 512}});
  const std::vector<GroupRequest> before = {Request(1, Prompt(spec.vocab_size, 11, 4), 12)};
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 7, 5), 20)};
  const ReshardRun run = RunReshard(path, 2, 1, first, second, before, after);
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    EXPECT_TRUE(r.outcome->status.ok()) << r.outcome->status;
  }
  EXPECT_EQ(run.ranks[1].plan.ranks(1).q_heads().begin(), 1);
  ExpectSingleRankTokens(path, before, run.before);
  ExpectSingleRankTokens(path, after, run.after);

  // By hand, F32 rows of width 128 are 512 bytes. Rank 0: q [0,2) -> [0,1),
  // kv [0,1) stays, FFN [0,192) -> [0,128), vocabulary [0,256) -> [0,200).
  // A layer keeps 32 q rows, 32 k and 32 v rows, 128 gate and 128 up rows
  // and its norms; it loads its new output columns (128 rows of 32) and
  // down columns (128 rows of 128). Embedding and output keep 200 rows
  // each; the output norm is kept.
  const int64_t r0_layer_kept = (32 + 32 + 32 + 128 + 128) * 512 + 2 * 128 * 4;
  const int64_t r0_layer_loaded = 128 * 32 * 4 + 128 * 128 * 4;
  EXPECT_EQ(run.ranks[0].kept_bytes, 2 * r0_layer_kept + 2 * 200 * 512 + 128 * 4);
  EXPECT_EQ(run.ranks[0].weight_bytes - run.ranks[0].kept_bytes, 2 * r0_layer_loaded);
  // Rank 1: q [2,4) -> [1,4), kv [1,2) -> [0,2), FFN [192,384) -> [128,384),
  // vocabulary [256,512) -> [200,512). A layer keeps 64 q rows, 32 k and 32
  // v rows, 192 gate and 192 up rows and its norms; it loads 32 q rows, 32
  // k and 32 v rows, 64 gate and 64 up rows, output columns (128 rows of
  // 96) and down columns (128 rows of 256). Embedding and output keep 256
  // rows and load 56 each.
  const int64_t r1_layer_kept = (64 + 32 + 32 + 192 + 192) * 512 + 2 * 128 * 4;
  const int64_t r1_layer_loaded = (32 + 32 + 32 + 64 + 64) * 512 + 128 * 96 * 4 + 128 * 256 * 4;
  EXPECT_EQ(run.ranks[1].kept_bytes, 2 * r1_layer_kept + 2 * 256 * 512 + 128 * 4);
  EXPECT_EQ(run.ranks[1].weight_bytes - run.ranks[1].kept_bytes, 2 * r1_layer_loaded + 2 * 56 * 512);
  EXPECT_EQ(run.ranks[0].outcome->loaded_bytes, 2 * r0_layer_loaded + 2 * r1_layer_loaded + 2 * 56 * 512);
}

// Rank 1 cannot load its part: every rank keeps the old plan (and its KV
// cache), says which rank failed and why, and the group serves on.
TEST(ReshardTest, AFailedRankRollsEveryRankBack) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 903);
  const std::string path = WriteModel(spec, "reshard_rollback");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first = MakePlan(**model, 1, 2, 256, {.layers = {0, 1, 4}});
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 3, 4}});
  const std::vector<GroupRequest> before = {Request(1, Prompt(spec.vocab_size, 9, 6), 8)};
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 12, 7), 16)};
  const ReshardRun run = RunReshard(path, 1, 2, first, second, before, after, ReshardFaults{.fail_rank = 1});
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    const absl::Status& s = r.outcome->status;
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("rank 1 (stage 1, tp 0) could not load its new shard"), std::string::npos) << s;
    EXPECT_NE(s.message().find("injected load failure"), std::string::npos) << s;
    EXPECT_EQ(Layers(r.plan), Layers(first));
    EXPECT_EQ(r.kv_blocks, 16);
    EXPECT_EQ(r.outcome->kv_blocks, 16);
    EXPECT_EQ(r.outcome->loaded_bytes, 0);
    EXPECT_EQ(r.wo_after, r.wo_before) << "the old shard itself serves on";
  }
  ExpectSingleRankTokens(path, before, run.before);
  ExpectSingleRankTokens(path, after, run.after);
}

// A plan for another shape is refused by every rank before it loads
// anything; the first rank to say so is named.
TEST(ReshardTest, APlanOfAnotherShapeIsRefused) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 904);
  const std::string path = WriteModel(spec, "reshard_shape");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first = MakePlan(**model, 1, 2, 256, {.layers = {0, 2, 4}});
  const proto::ShardPlan other = MakePlan(**model, 2, 1, 256, {});
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 10, 8), 10)};
  const ReshardRun run = RunReshard(path, 1, 2, first, other, {}, after);
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    EXPECT_EQ(r.outcome->status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.outcome->status.message().find("rank 0 (stage 0, tp 0) could not load its new shard: the new "
                                               "plan is tp 2 x pp 1 but this group is tp 1 x pp 2"),
              std::string::npos)
        << r.outcome->status;
    EXPECT_EQ(Layers(r.plan), Layers(first));
  }
  ExpectSingleRankTokens(path, after, run.after);
}

class ReshardTwoByTwo : public ::testing::TestWithParam<DType> {};

// (tp, pp) = (2, 2), both at once: layers [0, 1) + [1, 4) become [0, 3) +
// [3, 4), and on both stages query heads 2 + 2 become 1 + 3, FFN columns
// 192 + 192 become 128 + 256, the vocabulary 256 + 256 becomes 200 + 312;
// the KV budget goes from 256 to 384 positions.
TEST_P(ReshardTwoByTwo, ChangesLayerCutsAndTensorShares) {
  const DType type = GetParam();
  const ModelSpec spec = Spec(type, 4, 4, 2, 905);
  const std::string path = WriteModel(spec, absl::StrCat("reshard_2x2_", std::string(DTypeName(type))));
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first = MakePlan(
      **model, 2, 2, 256, {.layers = {0, 1, 4}, .q_heads = {0, 2, 4}, .ffn = {0, 192, 384}, .vocab = {0, 256, 512}});
  const proto::ShardPlan second = MakePlan(
      **model, 2, 2, 384, {.layers = {0, 3, 4}, .q_heads = {0, 1, 4}, .ffn = {0, 128, 384}, .vocab = {0, 200, 512}});
  const std::vector<GroupRequest> before = {Request(1, Prompt(spec.vocab_size, 10, 9), 14)};
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 17, 10), 20),
                                           Request(3, Prompt(spec.vocab_size, 4, 11), 9)};
  const ReshardRun run = RunReshard(path, 2, 2, first, second, before, after);
  ASSERT_EQ(run.ranks.size(), 4u);
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    EXPECT_TRUE(r.outcome->status.ok()) << r.outcome->status;
    EXPECT_EQ(Layers(r.plan), Layers(second));
    EXPECT_EQ(r.kv_blocks, 24) << "384 positions in blocks of 16";
    EXPECT_EQ(r.outcome->loaded_bytes, run.ranks[0].outcome->loaded_bytes) << "every rank gets the group's sums";
  }
  EXPECT_GT(run.ranks[0].outcome->loaded_bytes, 0);
  // Each rank serves its new ranges (rank = stage * 2 + tp).
  for (int rank = 0; rank < 4; ++rank) {
    SCOPED_TRACE(::testing::Message() << "rank " << rank);
    const ShardRanges& got = run.ranks[static_cast<size_t>(rank)].ranges;
    const int stage = rank / 2, tp = rank % 2;
    EXPECT_EQ(got.layer_begin, stage == 0 ? 0 : 3);
    EXPECT_EQ(got.layer_end, stage == 0 ? 3 : 4);
    EXPECT_EQ(got.q_head_begin, tp == 0 ? 0 : 1);
    EXPECT_EQ(got.q_head_end, tp == 0 ? 1 : 4);
    EXPECT_EQ(got.ffn_begin, tp == 0 ? 0 : 128);
    EXPECT_EQ(got.vocab_begin, tp == 0 ? 0 : 200);
  }
  ExpectSingleRankTokens(path, before, run.before);
  ExpectSingleRankTokens(path, after, run.after);
}

INSTANTIATE_TEST_SUITE_P(Types, ReshardTwoByTwo, ::testing::Values(DType::kF32, DType::kQ8_0),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

// A rank that would not have room for its new column copies and KV cache
// beside the old ones refuses before it allocates (with overcommit the
// allocation would "succeed" and the OOM come later): every rank rolls back.
TEST(ReshardTest, ARankShortOfMemoryRefusesBeforeAllocating) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 906);
  const std::string path = WriteModel(spec, "reshard_memory");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first = MakePlan(**model, 1, 2, 256, {.layers = {0, 1, 4}});
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 512, {.layers = {0, 3, 4}});
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 8, 12), 10)};
  const ReshardRun run =
      RunReshard(path, 1, 2, first, second, {}, after, ReshardFaults{.mem_available_bytes = 1 << 20});
  // By hand, rank 0 (layers [0, 1) -> [0, 3)): the column copies of layers
  // 1 and 2, attention output 128 x 128 and FFN down 128 x 384 floats each,
  // and a KV cache of 3 layers x 32 blocks x 16 positions x 64 wide, keys
  // and values, floats. Rank 1 shares its layer 3 copies and needs 0.25
  // MiB of KV: it fits in 1 MiB.
  const int64_t copies = 2 * (128 * 128 + 128 * 384) * 4;
  const int64_t kv = 2 * 3 * 32 * 16 * 64 * 4;
  const std::string want = absl::StrFormat("rank 0 (stage 0, tp 0) could not load its new shard: it needs %.1f MiB",
                                           static_cast<double>(copies + kv) / 1048576.0);
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    const absl::Status& s = r.outcome->status;
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_NE(s.message().find(want), std::string::npos) << s;
    EXPECT_NE(s.message().find("but only 1.0 MiB are available (MemAvailable)"), std::string::npos) << s;
    EXPECT_EQ(Layers(r.plan), Layers(first));
    EXPECT_EQ(r.kv_blocks, 16);
    EXPECT_EQ(r.wo_after, r.wo_before);
  }
  ExpectSingleRankTokens(path, after, run.after);
}

// A rank whose copy of the plan does not parse still joins the reshard with
// that error: every rank rolls back at once, not after the 30 s timeout, and
// the group serves on with the old plan.
TEST(ReshardTest, APlanThatDoesNotParseRollsBackAtOnce) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 907);
  const std::string path = WriteModel(spec, "reshard_unparsed");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first = MakePlan(**model, 1, 2, 256, {.layers = {0, 2, 4}});
  const proto::ShardPlan second = MakePlan(**model, 1, 2, 256, {.layers = {0, 1, 4}});
  // Field 1, 5 bytes long, of which 2 came.
  const std::string truncated("\x0a\x05" "ab", 4);
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 6, 13), 12)};
  const ReshardRun run = RunReshard(path, 1, 2, first, second, {}, after, {}, truncated);
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    const absl::Status& s = r.outcome->status;
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("rank 1 (stage 1, tp 0) could not load its new shard: the plan of the reshard "
                               "step (4 bytes) does not parse"),
              std::string::npos)
        << s;
    EXPECT_LT(r.outcome->seconds, absl::ToDoubleSeconds(kTimeout) / 2);
    EXPECT_EQ(Layers(r.plan), Layers(first));
  }
  ExpectSingleRankTokens(path, after, run.after);
}

// A plan with an absurd KV budget (a bad plan) is refused, not overflowed.
TEST(ReshardTest, AnAbsurdKvBudgetIsRefused) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 908);
  const std::string path = WriteModel(spec, "reshard_kv_budget");
  auto model = LoadModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ShardPlan first = MakePlan(**model, 1, 2, 256, {.layers = {0, 2, 4}});
  proto::ShardPlan second = MakePlan(**model, 1, 2, 256, {.layers = {0, 3, 4}});
  second.set_kv_tokens(std::numeric_limits<int64_t>::max());
  const std::vector<GroupRequest> after = {Request(2, Prompt(spec.vocab_size, 5, 14), 6)};
  const ReshardRun run = RunReshard(path, 1, 2, first, second, {}, after);
  for (const RankSeen& r : run.ranks) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.outcome.ok()) << r.outcome.status();
    EXPECT_EQ(r.outcome->status.code(), absl::StatusCode::kInvalidArgument) << r.outcome->status;
    EXPECT_NE(r.outcome->status.message().find("KV budget of 9223372036854775807 positions is outside [1, 2^40]"),
              std::string::npos)
        << r.outcome->status;
    EXPECT_EQ(Layers(r.plan), Layers(first));
  }
  ExpectSingleRankTokens(path, after, run.after);
}

}  // namespace
}  // namespace tessera::testing
