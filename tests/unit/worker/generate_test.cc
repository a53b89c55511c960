// Generation is deterministic: the same tokens across runs, thread counts and
// batch composition.
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_model.h"
#include "worker/executor.h"
#include "worker/generate.h"
#include "worker/kv_cache.h"

namespace tessera {
namespace {

std::unique_ptr<KvCache> MakeKv(const Model& m, Backend& backend, int64_t blocks = 64) {
  auto kv = KvCache::Create({m.config.n_layers, m.config.kv_dim(), 16, blocks}, backend);
  EXPECT_TRUE(kv.ok());
  return *std::move(kv);
}

std::vector<int32_t> GenerateTokens(const Model& m, int threads, const SamplingParams& sampling,
                         int64_t prefill_chunk = 512) {
  auto backend = MakeCpuBackend({.threads = threads});
  auto kv = MakeKv(m, *backend);
  Executor exec(m, *backend, *kv);
  const std::vector<int32_t> prompt = m.tokenizer->Encode("The quick brown fox", true);
  GenerateOptions opts;
  opts.max_tokens = 24;
  opts.sampling = sampling;
  opts.stop_at_eos = false;
  opts.prefill_chunk = prefill_chunk;
  auto result = Generate(exec, prompt, opts);
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(kv->free_blocks(), 64) << "generation must release its KV blocks";
  return result.ok() ? result->tokens : std::vector<int32_t>{};
}

TEST(GenerateTest, GreedyIdenticalAcrossRunsAndThreadCounts) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  const auto base = GenerateTokens(*model, 1, {});
  ASSERT_EQ(base.size(), 24u);
  EXPECT_EQ(GenerateTokens(*model, 1, {}), base);
  EXPECT_EQ(GenerateTokens(*model, 2, {}), base);
  EXPECT_EQ(GenerateTokens(*model, 3, {}), base);
  // Chunked prefill (2 tokens a step) reaches the same state.
  EXPECT_EQ(GenerateTokens(*model, 2, {}, 2), base);
  // The random model is not degenerate: greedy output is not one repeated token.
  EXPECT_GT(std::set<int32_t>(base.begin(), base.end()).size(), 3u);
}

TEST(GenerateTest, SeededSamplingIdenticalAcrossThreadCounts) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  const SamplingParams p{.temperature = 1.5f, .top_k = 40, .top_p = 0.95f, .seed = 1234};
  const auto base = GenerateTokens(*model, 1, p);
  EXPECT_EQ(GenerateTokens(*model, 2, p), base);
  SamplingParams other = p;
  other.seed = 99;
  EXPECT_NE(GenerateTokens(*model, 2, other), base) << "a different seed should draw differently";
}

// Two sequences in one step produce the same logits as each run alone.
TEST(GenerateTest, BatchedStepMatchesSeparateRuns) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  auto backend = MakeCpuBackend({.threads = 2});
  const std::vector<int32_t> a = {1, 10, 20, 30, 40, 50, 60};
  const std::vector<int32_t> b = {1, 99, 98};

  auto alone = [&](const std::vector<int32_t>& toks) {
    auto kv = MakeKv(*model, *backend);
    Executor exec(*model, *backend, *kv);
    std::vector<float> logits;
    SequenceChunk c{0, toks, 0, true};
    EXPECT_TRUE(exec.Forward({&c, 1}, &logits).ok());
    return logits;
  };
  const auto la = alone(a), lb = alone(b);

  auto kv = MakeKv(*model, *backend);
  Executor exec(*model, *backend, *kv);
  std::vector<float> logits;
  SequenceChunk batch[] = {{5, a, 0, true}, {6, b, 0, true}};
  ASSERT_TRUE(exec.Forward(batch, &logits).ok());
  const size_t v = static_cast<size_t>(model->config.vocab_size);
  ASSERT_EQ(logits.size(), 2 * v);
  for (size_t i = 0; i < v; ++i) {
    EXPECT_NEAR(logits[i], la[i], 1e-4f * (1 + std::abs(la[i])));
    EXPECT_NEAR(logits[v + i], lb[i], 1e-4f * (1 + std::abs(lb[i])));
  }
}

TEST(ExecutorTest, BadInputIsRejectedAndLeavesCacheUntouched) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  auto backend = MakeCpuBackend({.threads = 1});
  auto kv = MakeKv(*model, *backend, 4);  // 64 positions
  Executor exec(*model, *backend, *kv);
  std::vector<float> logits;

  const std::vector<int32_t> bad_token = {1, static_cast<int32_t>(model->config.vocab_size)};
  SequenceChunk c1{0, bad_token, 0, true};
  EXPECT_EQ(exec.Forward({&c1, 1}, &logits).code(), absl::StatusCode::kInvalidArgument);

  const std::vector<int32_t> ok = {1, 2, 3};
  SequenceChunk past_ctx{0, ok, model->config.context_length - 1, true};
  EXPECT_EQ(exec.Forward({&past_ctx, 1}, &logits).code(), absl::StatusCode::kOutOfRange);

  SequenceChunk gap{0, ok, 10, true};  // nothing cached before position 10
  EXPECT_EQ(exec.Forward({&gap, 1}, &logits).code(), absl::StatusCode::kFailedPrecondition);

  const std::vector<int32_t> long_prompt(65, 5);
  SequenceChunk too_long{0, long_prompt, 0, true};
  EXPECT_EQ(exec.Forward({&too_long, 1}, &logits).code(), absl::StatusCode::kResourceExhausted);

  // Three positions written: a chunk may not start inside the rest of the
  // block (position 10 is reserved but was never written).
  SequenceChunk first{9, ok, 0, true};
  ASSERT_TRUE(exec.Forward({&first, 1}, &logits).ok());
  SequenceChunk in_block_gap{9, ok, 10, true};
  EXPECT_EQ(exec.Forward({&in_block_gap, 1}, &logits).code(), absl::StatusCode::kFailedPrecondition);
  kv->Release(9);

  SequenceChunk twice[] = {{3, ok, 0, true}, {3, ok, 0, true}};
  EXPECT_EQ(exec.Forward(twice, &logits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->free_blocks(), 4);

  // Still serving after the errors.
  SequenceChunk good{0, ok, 0, true};
  EXPECT_TRUE(exec.Forward({&good, 1}, &logits).ok());
  EXPECT_EQ(logits.size(), static_cast<size_t>(model->config.vocab_size));
}

// A step that starts before the sequence's end overwrites what follows:
// [1 2 3] then 7 at position 1 is the sequence [1 7].
TEST(ExecutorTest, RewindOverwritesTheTail) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  auto backend = MakeCpuBackend({.threads = 2});
  auto kv = MakeKv(*model, *backend);
  Executor exec(*model, *backend, *kv);
  std::vector<float> rewound, fresh;
  const std::vector<int32_t> abc = {1, 2, 3}, seven = {7}, one_seven = {1, 7};
  SequenceChunk c1{0, abc, 0, true};
  ASSERT_TRUE(exec.Forward({&c1, 1}, &rewound).ok());
  SequenceChunk c2{0, seven, 1, true};
  ASSERT_TRUE(exec.Forward({&c2, 1}, &rewound).ok());
  EXPECT_EQ(kv->Length(0), 2);
  SequenceChunk c3{1, one_seven, 0, true};
  ASSERT_TRUE(exec.Forward({&c3, 1}, &fresh).ok());
  ASSERT_EQ(rewound.size(), fresh.size());
  for (size_t i = 0; i < fresh.size(); ++i) EXPECT_NEAR(rewound[i], fresh[i], 1e-4f * (1 + std::abs(fresh[i])));
}

}  // namespace
}  // namespace tessera
