// A model split over a group (tensor x pipeline parallel, threads over the
// loopback communicator) against the single-rank engine: logits within 1e-4
// of the largest logit on F32, identical greedy tokens for 32 steps on F32 and
// Q8_0, and startup failures that stop every rank with the cause.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/model.h"
#include "tests/unit/worker/group_harness.h"
#include "tests/unit/worker/single_rank_reference.h"
#include "worker/executor.h"
#include "worker/kv_cache.h"

namespace tessera::testing {
namespace {

constexpr int kSteps = 32;

struct ShapeCase {
  int tp, pp;
  int64_t layers, heads, kv_heads;
  const char* profiles;  // "" = equal ranks
};

// Uneven devices, so stages get uneven layer counts and tp ranks uneven heads.
const char* kUnevenPp2 =
    R"({"ranks": [{"name": "fast", "memory_gib": 4, "compute_gflops": 300, "bandwidth_gbs": 30},
                  {"name": "slow", "memory_gib": 4, "compute_gflops": 100, "bandwidth_gbs": 10}]})";
const char* kUnevenTp3Pp2 =
    R"({"ranks": [{"name": "a", "memory_gib": 4, "compute_gflops": 200, "bandwidth_gbs": 20},
                  {"name": "b", "memory_gib": 4, "compute_gflops": 100, "bandwidth_gbs": 10},
                  {"name": "c", "memory_gib": 4, "compute_gflops": 100, "bandwidth_gbs": 10},
                  {"name": "d", "memory_gib": 4, "compute_gflops": 100, "bandwidth_gbs": 10},
                  {"name": "e", "memory_gib": 4, "compute_gflops": 100, "bandwidth_gbs": 10},
                  {"name": "f", "memory_gib": 4, "compute_gflops": 100, "bandwidth_gbs": 10}]})";

const ShapeCase kShapes[] = {
    {2, 1, 5, 4, 2, ""},         {1, 2, 5, 4, 2, kUnevenPp2}, {2, 2, 5, 4, 2, ""},
    {3, 1, 5, 6, 3, ""},         {3, 2, 5, 6, 3, kUnevenTp3Pp2}, {1, 3, 5, 4, 2, ""},
    {4, 1, 3, 4, 2, ""},  // tp 4 over 2 KV heads: KV heads replicated
    {6, 1, 2, 4, 2, ""},  // more tensor ranks than heads: some hold none
};

void CheckShape(const ShapeCase& c, DType type, bool check_logits) {
  SCOPED_TRACE(::testing::Message() << "tp " << c.tp << " pp " << c.pp << " layers " << c.layers << " heads "
                                    << c.heads << "/" << c.kv_heads << " " << DTypeName(type));
  const ModelSpec spec = Spec(type, c.layers, c.heads, c.kv_heads, 100 + c.tp * 10 + c.pp);
  const std::string path = WriteModel(spec, absl::StrCat("sharded_", c.tp, "x", c.pp, "_", std::string(DTypeName(type))));
  const std::vector<int32_t> prompt = Prompt(spec.vocab_size, 9, static_cast<uint32_t>(c.tp * 7 + c.pp));
  const Reference ref = RunSingleRank(path, prompt, kSteps);

  GroupRunOptions o;
  o.tp = c.tp;
  o.pp = c.pp;
  o.model_paths = {path};
  o.profiles_json = c.profiles;
  o.kv_tokens = 256;
  GroupRequest req;
  req.seq_id = 3;
  req.prompt = prompt;
  req.max_tokens = kSteps;
  const GroupRun run = RunGroup(o, {req});
  ASSERT_TRUE(run.status.ok()) << run.status;
  for (const absl::Status& s : run.rank_status) EXPECT_TRUE(s.ok()) << s;
  ASSERT_EQ(run.outputs.size(), 1u);
  EXPECT_EQ(run.outputs[0].tokens, ref.tokens);
  if (!check_logits) return;
  ASSERT_EQ(run.logits[0].size(), ref.logits.size());
  for (size_t step = 0; step < ref.logits.size(); ++step) {
    const std::vector<float>& want = ref.logits[step];
    const std::vector<float>& got = run.logits[0][step];
    ASSERT_EQ(got.size(), want.size());
    float scale = 0.0f;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    for (size_t v = 0; v < want.size(); ++v) {
      ASSERT_NEAR(got[v], want[v], 1e-4f * scale) << "step " << step << " token " << v;
    }
  }
}

TEST(ShardedGroupTest, F32LogitsAndGreedyTokensMatchSingleRank) {
  for (const ShapeCase& c : kShapes) {
    CheckShape(c, DType::kF32, /*check_logits=*/true);
    if (HasFatalFailure()) return;
  }
}

TEST(ShardedGroupTest, Q8GreedyTokensMatchSingleRank) {
  for (const ShapeCase& c : kShapes) {
    CheckShape(c, DType::kQ8_0, /*check_logits=*/false);
    if (HasFatalFailure()) return;
  }
}

TEST(ShardedGroupTest, UnevenPlanReallyIsUneven) {
  const ModelSpec spec = Spec(DType::kF32, 5, 4, 2, 9);
  const std::string path = WriteModel(spec, "uneven_plan");
  GroupRunOptions o;
  o.pp = 2;
  o.model_paths = {path};
  o.profiles_json = kUnevenPp2;
  GroupRequest req{1, Prompt(spec.vocab_size, 4, 1), 2, {}};
  const GroupRun run = RunGroup(o, {req});
  ASSERT_TRUE(run.status.ok()) << run.status;
  ASSERT_EQ(run.plan.ranks_size(), 2);
  const auto& first = run.plan.ranks(0).layers();
  const auto& second = run.plan.ranks(1).layers();
  // The first stage's device is 3x faster: it takes more of the 5 layers.
  EXPECT_GT(first.end() - first.begin(), second.end() - second.begin());
}

TEST(ShardedGroupTest, SeveralSequencesInFlightMatchSingleRank) {
  const ModelSpec spec = Spec(DType::kF32, 4, 4, 2, 21);
  const std::string path = WriteModel(spec, "inflight");
  std::vector<GroupRequest> reqs;
  std::vector<Reference> refs;
  for (int i = 0; i < 3; ++i) {
    GroupRequest r;
    r.seq_id = 40 + i;
    r.prompt = Prompt(spec.vocab_size, 5 + 3 * i, 50 + i);
    r.max_tokens = 12;
    refs.push_back(RunSingleRank(path, r.prompt, 12));
    reqs.push_back(r);
  }
  GroupRunOptions o;
  o.tp = 2;
  o.pp = 2;
  o.model_paths = {path};
  const GroupRun run = RunGroup(o, reqs);
  ASSERT_TRUE(run.status.ok()) << run.status;
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(run.outputs[i].tokens, refs[i].tokens) << "request " << i;
}

TEST(ShardedGroupTest, SeededTopKSamplingMatchesSingleRank) {
  const ModelSpec spec = Spec(DType::kF32, 3, 4, 2, 33);
  const std::string path = WriteModel(spec, "topk");
  GroupRequest req{5, Prompt(spec.vocab_size, 6, 3), 16, {.temperature = 1.5f, .top_k = 20, .top_p = 0.9f, .seed = 77}};
  const std::vector<int32_t> want = RunSingleRank(path, req.prompt, 16, req.sampling).tokens;
  for (int tp : {2, 3}) {
    GroupRunOptions o;
    o.tp = tp;
    o.model_paths = {path};
    o.gather_logits = false;  // the draw must come from the slices' candidates alone
    const GroupRun run = RunGroup(o, {req});
    ASSERT_TRUE(run.status.ok()) << run.status;
    EXPECT_EQ(run.outputs[0].tokens, want) << "tp " << tp;
  }
}

// Plain temperature (top-k 0) needs every candidate: each slice offers all of
// its own, padded to the widest slice.
TEST(ShardedGroupTest, SeededFullVocabularySamplingMatchesSingleRank) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 34);
  const std::string path = WriteModel(spec, "fullvocab");
  GroupRequest req{6, Prompt(spec.vocab_size, 5, 8), 16, {.temperature = 0.9f, .top_k = 0, .top_p = 0.95f, .seed = 5}};
  const std::vector<int32_t> want = RunSingleRank(path, req.prompt, 16, req.sampling).tokens;
  // tp 3 over a 512-word vocabulary: slices of 171, 171 and 170 words.
  GroupRunOptions o;
  o.tp = 3;
  o.model_paths = {path};
  o.gather_logits = false;
  const GroupRun run = RunGroup(o, {req});
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.outputs[0].tokens, want);
}

// Shapes the default spec does not reach: qwen2 (Q/K/V biases sliced by
// head) with a tied output read by a last stage that is not the first; and a
// Q8_0 model whose heads are narrower than a quantization block, so the plan
// must split heads in pairs to keep the output projection's columns whole.
TEST(ShardedGroupTest, Qwen2TiedAndNarrowQ8HeadsMatchSingleRank) {
  struct Case {
    const char* name;
    ModelSpec spec;
    int tp, pp;
    bool logits;
  };
  ModelSpec qwen = Spec(DType::kF32, 4, 4, 2, 61);
  qwen.arch = Arch::kQwen2;
  qwen.tokenizer = "gpt2";
  qwen.tied_output = true;
  ModelSpec narrow = Spec(DType::kQ8_0, 3, 8, 4, 62);
  narrow.dim = 128;  // head_dim 16, half a Q8_0 block
  const Case cases[] = {{"qwen2_tied_2x2", qwen, 2, 2, true},
                        {"qwen2_tied_3x1", qwen, 3, 1, true},
                        {"q8_narrow_heads_3x1", narrow, 3, 1, false},
                        {"q8_narrow_heads_2x2", narrow, 2, 2, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = WriteModel(c.spec, c.name);
    const std::vector<int32_t> prompt = Prompt(c.spec.vocab_size, 7, 9);
    const Reference ref = RunSingleRank(path, prompt, 24);
    GroupRunOptions o;
    o.tp = c.tp;
    o.pp = c.pp;
    o.model_paths = {path};
    const GroupRun run = RunGroup(o, {GroupRequest{4, prompt, 24, {}}});
    ASSERT_TRUE(run.status.ok()) << run.status;
    EXPECT_EQ(run.outputs[0].tokens, ref.tokens);
    if (c.spec.type == DType::kQ8_0) {
      // Every wo column slice starts on a 32-element block: heads in pairs.
      for (const proto::RankShard& r : run.plan.ranks()) EXPECT_EQ(r.q_heads().begin() % 2, 0) << r.DebugString();
    }
    if (!c.logits) continue;
    ASSERT_EQ(run.logits[0].size(), ref.logits.size());
    for (size_t step = 0; step < ref.logits.size(); ++step) {
      float scale = 0.0f;
      for (float v : ref.logits[step]) scale = std::max(scale, std::fabs(v));
      for (size_t v = 0; v < ref.logits[step].size(); ++v) {
        ASSERT_NEAR(run.logits[0][step][v], ref.logits[step][v], 1e-4f * scale) << "step " << step;
      }
    }
  }
}

// One tensor rank thousands of times faster than the other: the slow one may
// hold no vocabulary, no heads, no FFN columns, and still joins every
// collective its peer makes (the embedding's all-reduce included).
TEST(ShardedGroupTest, ExtremelySkewedTensorRanksMatchSingleRank) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 71);
  const std::string path = WriteModel(spec, "skewed");
  const std::vector<int32_t> prompt = Prompt(spec.vocab_size, 6, 5);
  const Reference ref = RunSingleRank(path, prompt, 16);
  GroupRunOptions o;
  o.tp = 2;
  o.model_paths = {path};
  o.profiles_json =
      R"({"ranks": [{"name": "huge", "memory_gib": 4, "compute_gflops": 1000000, "bandwidth_gbs": 100000},
                    {"name": "feeble", "memory_gib": 4, "compute_gflops": 1, "bandwidth_gbs": 0.1}]})";
  const GroupRun run = RunGroup(o, {GroupRequest{2, prompt, 16, {}}});
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.outputs[0].tokens, ref.tokens);
  const proto::RankShard& feeble = run.plan.ranks(1);
  EXPECT_EQ(feeble.vocab().end() - feeble.vocab().begin(), 0) << feeble.DebugString();
}

TEST(ShardedGroupTest, ARankThatCannotLoadStopsEveryRankNamingIt) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 5);
  const std::string good = WriteModel(spec, "good");
  GroupRunOptions o;
  o.tp = 2;
  o.pp = 2;
  o.model_paths = {good, good, ::testing::TempDir() + "/no-such-model.gguf", good};
  const GroupRun run = RunGroup(o, {GroupRequest{1, {1, 2, 3}, 2, {}}});
  for (size_t r = 0; r < run.rank_status.size(); ++r) {
    const absl::Status& s = run.rank_status[r];
    EXPECT_FALSE(s.ok()) << "rank " << r;
    EXPECT_NE(s.message().find("rank 2 (stage 1, tp 0) could not load the model"), std::string::npos) << s;
    EXPECT_NE(s.message().find("no-such-model.gguf"), std::string::npos) << s;
  }
}

TEST(ShardedGroupTest, AModelTooBigForARankStopsEveryRankSayingHowShort) {
  const ModelSpec spec = Spec(DType::kF32, 2, 4, 2, 5);
  const std::string path = WriteModel(spec, "toobig");
  GroupRunOptions o;
  o.tp = 2;
  o.model_paths = {path};
  o.profiles_json =
      R"({"ranks": [{"name": "big", "memory_gib": 4, "compute_gflops": 100, "bandwidth_gbs": 10},
                    {"name": "tiny", "memory_bytes": 1000, "compute_gflops": 100, "bandwidth_gbs": 10}]})";
  const GroupRun run = RunGroup(o, {GroupRequest{1, {1, 2, 3}, 2, {}}});
  for (const absl::Status& s : run.rank_status) {
    EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
    EXPECT_NE(s.message().find("short"), std::string::npos) << s;
    EXPECT_NE(s.message().find("tiny"), std::string::npos) << s;
  }
}

TEST(ShardedGroupTest, ABadStepIsRefusedAndTheGroupKeepsServing) {
  const ModelSpec spec = Spec(DType::kF32, 3, 4, 2, 8);
  const std::string path = WriteModel(spec, "badstep");
  GroupRunOptions o;
  o.tp = 2;
  o.pp = 2;
  o.model_paths = {path};
  // A token outside the vocabulary: refused by every rank alike. Then a good
  // request on the same group gives the single-rank answer.
  const GroupRequest good{2, Prompt(spec.vocab_size, 6, 4), 10, {}};
  o.then = {good};
  const GroupRun bad = RunGroup(o, {GroupRequest{1, {1, 9999, 3}, 4, {}}});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status)) << bad.status;
  EXPECT_NE(bad.status.message().find("outside the vocabulary"), std::string::npos) << bad.status;
  for (size_t r = 1; r < bad.rank_status.size(); ++r) EXPECT_TRUE(bad.rank_status[r].ok()) << bad.rank_status[r];
  ASSERT_TRUE(bad.then_status.ok()) << bad.then_status;
  ASSERT_EQ(bad.then_outputs.size(), 1u);
  EXPECT_EQ(bad.then_outputs[0].tokens, RunSingleRank(path, good.prompt, 10).tokens);
}

TEST(ShardedGroupTest, AKilledRankGivesAnErrorWithinTheTimeoutNotAHang) {
  const ModelSpec spec = Spec(DType::kF32, 3, 4, 2, 8);
  const std::string path = WriteModel(spec, "killed");
  for (int victim : {1, 3}) {  // a tp peer of the leader; a rank of the last stage
    GroupRunOptions o;
    o.tp = 2;
    o.pp = 2;
    o.model_paths = {path};
    o.timeout = absl::Milliseconds(500);
    o.after_startup = [victim](LoopbackHub& hub) { hub.Kill(victim); };
    const auto start = absl::Now();
    const GroupRun run = RunGroup(o, {GroupRequest{1, Prompt(spec.vocab_size, 5, 2), 8, {}}});
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    EXPECT_TRUE(absl::IsDeadlineExceeded(run.status) || absl::IsUnavailable(run.status)) << run.status;
  }
}

}  // namespace
}  // namespace tessera::testing
