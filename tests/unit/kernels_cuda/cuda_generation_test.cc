// Single-rank generation on the GPU against the CPU backend, end to end
// through the executor (weights resident on the device, KV cache in device
// memory):
//   F32 and Q8_0: the same greedy tokens (the GPU multiplies F32 in full f32
//     and quantizes activations to Q8_0 exactly as the CPU does), and prefill
//     logits within 1e-4 (F32) and 2e-3 (Q8_0) of the largest logit;
//   F16 and BF16: the GPU rounds activations to the weight type for the
//     tensor cores, the CPU does not, so only the prefill logits are held to
//     a tolerance (max |diff| / max |logit| < 2e-2) and the first greedy
//     token to equality;
// and batched steps of sequences of different lengths (AttentionBatch),
// prefill and decode mixed, at contexts past 1024 positions.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/unit/kernels_cuda/cuda_test_util.h"
#include "worker/executor.h"
#include "worker/generate.h"
#include "worker/kv_cache.h"

namespace tessera::cuda_testing {
namespace {

// A small llama with head_dim 64 (the GPU kernels' common case) and GQA.
ModelSpec Spec(DType type, int64_t context = 512) {
  ModelSpec s;
  s.n_layers = 2;
  s.dim = 256;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.ffn_dim = 512;
  s.vocab_size = 512;
  s.context_length = context;
  s.type = type;
  s.seed = 5;
  return s;
}

// Largest |logit difference| over the largest |logit| each type may show.
double LogitTolerance(DType t) {
  switch (t) {
    case DType::kF32: return 1e-4;
    case DType::kQ8_0: return 2e-3;
    default: return 2e-2;
  }
}

bool SameTokens(DType t) { return t == DType::kF32 || t == DType::kQ8_0; }

int32_t Argmax(const float* logits, int64_t n) {
  return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
}

// How far the best logit stands above the second: printed when first tokens
// differ, to tell a near-tie from a real error.
double TopGap(const std::vector<float>& logits) {
  std::vector<float> v = logits;
  std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<float>());
  return v[0] - v[1];
}

// A backend with its KV cache and an executor of the whole model, loaded.
struct Engine {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<Executor> exec;
};

Engine MakeEngine(const Model& m, std::unique_ptr<Backend> backend, int64_t blocks) {
  Engine e;
  e.backend = std::move(backend);
  auto kv = KvCache::Create({m.config.n_layers, m.config.kv_dim(), 16, blocks}, *e.backend);
  EXPECT_TRUE(kv.ok()) << kv.status();
  if (!kv.ok()) return e;
  e.kv = *std::move(kv);
  e.exec = std::make_unique<Executor>(m, *e.backend, *e.kv);
  const absl::Status st = e.exec->Load();
  EXPECT_TRUE(st.ok()) << st;
  if (!st.ok()) e.exec.reset();
  return e;
}

class CudaGenerationTest : public CudaBackendTest {
 protected:
  Engine Cpu(const Model& m, int64_t blocks = 128) {
    return MakeEngine(m, MakeCpuBackend({.threads = 2}), blocks);
  }
  Engine Gpu(const Model& m, int64_t blocks = 128) {
    auto backend = tessera::MakeBackend(DeviceSpec{DeviceSpec::Kind::kCuda, 0}, {});
    EXPECT_TRUE(backend.ok()) << backend.status();
    if (!backend.ok()) return {};
    return MakeEngine(m, *std::move(backend), blocks);
  }
};

std::vector<int32_t> Greedy(Executor& exec, const std::vector<int32_t>& prompt, int64_t max_tokens,
                            int64_t prefill_chunk = 512) {
  GenerateOptions opts;
  opts.max_tokens = max_tokens;
  opts.stop_at_eos = false;
  opts.prefill_chunk = prefill_chunk;
  auto result = Generate(exec, prompt, opts);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->tokens : std::vector<int32_t>{};
}

std::vector<float> PrefillLogits(Executor& exec, int64_t seq, const std::vector<int32_t>& prompt) {
  std::vector<float> logits;
  SequenceChunk chunk{seq, prompt, 0, true};
  const absl::Status st = exec.Forward({&chunk, 1}, &logits);
  EXPECT_TRUE(st.ok()) << st;
  exec.kv_cache().Release(seq);
  return logits;
}

TEST_F(CudaGenerationTest, GreedyTokensAndPrefillLogitsAgreeWithCpu) {
  const std::vector<std::string> prompts = {"The quick brown fox", "Once upon a time there was",
                                            "In the beginning"};
  for (DType type : {DType::kF32, DType::kQ8_0, DType::kF16, DType::kBF16}) {
    auto model = MakeTestModel(Spec(type));
    ASSERT_NE(model, nullptr);
    Engine cpu = Cpu(*model), gpu = Gpu(*model);
    ASSERT_TRUE(cpu.exec && gpu.exec);
    const std::string name(DTypeName(type));
    for (const std::string& text : prompts) {
      const std::vector<int32_t> prompt = model->tokenizer->Encode(text, true);
      const std::vector<float> want = PrefillLogits(*cpu.exec, 1, prompt);
      const std::vector<float> got = PrefillLogits(*gpu.exec, 1, prompt);
      ASSERT_EQ(got.size(), want.size()) << name;
      EXPECT_LT(MaxRelativeDiff(got, want), LogitTolerance(type)) << name << " '" << text << "'";
      EXPECT_EQ(Argmax(got.data(), static_cast<int64_t>(got.size())),
                Argmax(want.data(), static_cast<int64_t>(want.size())))
          << name << " '" << text << "': first greedy token differs (CPU's top-2 gap " << TopGap(want) << ")";

      const std::vector<int32_t> cpu_tokens = Greedy(*cpu.exec, prompt, 24);
      const std::vector<int32_t> gpu_tokens = Greedy(*gpu.exec, prompt, 24);
      ASSERT_EQ(cpu_tokens.size(), 24u) << name;
      ASSERT_EQ(gpu_tokens.size(), 24u) << name;
      EXPECT_EQ(gpu_tokens.front(), cpu_tokens.front()) << name << " '" << text << "'";
      if (SameTokens(type)) {
        EXPECT_EQ(gpu_tokens, cpu_tokens) << name << " '" << text << "'";
      }
    }
    EXPECT_EQ(gpu.kv->free_blocks(), 128) << name << ": generation must release its KV blocks";
  }
}

// A prompt past 1024 positions, prefilled in chunks of 512 (later chunks
// attend to earlier ones through the paged cache), then decoded.
TEST_F(CudaGenerationTest, LongContextChunkedPrefillGivesCpuTokens) {
  for (DType type : {DType::kF32, DType::kQ8_0}) {
    auto model = MakeTestModel(Spec(type, 2048));
    ASSERT_NE(model, nullptr);
    Engine cpu = Cpu(*model), gpu = Gpu(*model);
    ASSERT_TRUE(cpu.exec && gpu.exec);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 1100; ++i) prompt.push_back(static_cast<int32_t>(3 + (i * 7919 + 13) % 500));
    const std::vector<int32_t> want = Greedy(*cpu.exec, prompt, 16);
    ASSERT_EQ(want.size(), 16u);
    EXPECT_EQ(Greedy(*gpu.exec, prompt, 16), want) << DTypeName(type);
  }
}

// Continuous batching on the GPU: a first step prefilling four sequences of
// different lengths together, then steps where those decode while a fifth
// joins with a prefill chunk. Each step's logits against the CPU's for the
// same step; the fed tokens are the CPU's argmax, so both run the same steps.
TEST_F(CudaGenerationTest, BatchedStepsOfMixedLengthsAgreeWithCpu) {
  for (DType type : {DType::kF32, DType::kQ8_0, DType::kBF16}) {
    auto model = MakeTestModel(Spec(type));
    ASSERT_NE(model, nullptr);
    const int64_t vocab = model->config.vocab_size;
    Engine cpu = Cpu(*model), gpu = Gpu(*model);
    ASSERT_TRUE(cpu.exec && gpu.exec);
    const std::string name(DTypeName(type));

    // Sequence i's tokens so far (prompt, then what it decoded).
    std::vector<std::vector<int32_t>> seqs;
    for (int64_t len : {5, 17, 1, 40, 9}) {
      std::vector<int32_t> s;
      for (int64_t i = 0; i < len; ++i) s.push_back(static_cast<int32_t>(1 + (len * 31 + i * 17) % (vocab - 1)));
      seqs.push_back(s);
    }
    std::vector<int64_t> written(seqs.size(), 0);  // positions in the cache
    for (int step = 0; step < 8; ++step) {
      // Sequence 4 joins at step 3; the others run from the start.
      std::vector<SequenceChunk> batch;
      for (size_t i = 0; i < seqs.size(); ++i) {
        if (i == 4 && step < 3) continue;
        const int64_t start = written[i];
        const std::span<const int32_t> toks(seqs[i].data() + start, seqs[i].size() - start);
        batch.push_back({static_cast<int64_t>(i), toks, start, true});
      }
      std::vector<float> want, got;
      ASSERT_TRUE(cpu.exec->Forward(batch, &want).ok()) << name << " step " << step;
      ASSERT_TRUE(gpu.exec->Forward(batch, &got).ok()) << name << " step " << step;
      ASSERT_EQ(got.size(), want.size());
      for (size_t b = 0; b < batch.size(); ++b) {
        const std::vector<float> w(want.begin() + b * vocab, want.begin() + (b + 1) * vocab);
        const std::vector<float> g(got.begin() + b * vocab, got.begin() + (b + 1) * vocab);
        const int64_t seq = batch[b].seq_id;
        EXPECT_LT(MaxRelativeDiff(g, w), LogitTolerance(type))
            << name << " step " << step << " sequence " << seq << " (" << batch[b].tokens.size() << " tokens at "
            << batch[b].start_pos << ")";
        if (SameTokens(type)) {
          EXPECT_EQ(Argmax(g.data(), vocab), Argmax(w.data(), vocab)) << name << " step " << step << " sequence " << seq;
        }
        written[seq] = static_cast<int64_t>(seqs[seq].size());
        seqs[seq].push_back(Argmax(w.data(), vocab));
      }
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace tessera::cuda_testing
