// How much batching buys on this machine before any serving overhead:
// decode tokens/s of one rank's executor when B sequences each decode one
// token per step (B = 1, 2, 4, ...), with the ratio to B = 1. The serving
// target (output tok/s at concurrency 16 >= 3x concurrency 1) can only be
// met if this ceiling is well above it.
//   batch_decode_bench --model build/bench-models/medium-q8_0.gguf [--threads 2] [--batches 1,2,4,8,16,32]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "kernels/cpu/cpu_backend.h"
#include "model/model.h"
#include "worker/executor.h"
#include "worker/kv_cache.h"

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app{"batch_decode_bench: decode tok/s against batch size on one rank"};
  std::string path;
  int threads = 2, prompt_len = 64, steps = 16, repeats = 3;
  int64_t gemm_min_rows = 0;
  std::vector<int> batches = {1, 2, 4, 8, 16, 32};
  app.add_option("--model", path, "A .gguf model")->required();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--batches", batches, "Batch sizes, comma separated")->delimiter(',')->capture_default_str();
  app.add_option("--prompt", prompt_len, "Positions already in each sequence's cache")->capture_default_str();
  app.add_option("--steps", steps, "Decode steps timed per run")->capture_default_str();
  app.add_option("--repeats", repeats, "Best of this many runs")->capture_default_str();
  app.add_option("--gemm-min-rows", gemm_min_rows, "Rows from which matrix products take the GEMM path (0: the default)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto model = LoadModel(path);
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const Model& m = **model;
  auto backend = MakeCpuBackend({.threads = threads, .gemm_min_rows = gemm_min_rows});
  const int max_b = *std::max_element(batches.begin(), batches.end());
  const int64_t per_seq_blocks = (prompt_len + steps * repeats + 15) / 16 + 1;
  auto kv = KvCache::Create({m.config.n_layers, m.config.kv_dim(), 16, per_seq_blocks * max_b}, *backend);
  if (!kv.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(kv.status().message()).c_str());
    return 1;
  }
  Executor exec(m, *backend, **kv);
  if (auto st = exec.Load(); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  std::vector<float> logits;
  std::vector<int32_t> prompt(prompt_len);
  for (int i = 0; i < prompt_len; ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % m.config.vocab_size);

  std::printf("%s, %d threads, %s; %d positions cached per sequence\n\n", path.c_str(), threads,
              std::string(backend->name()).c_str(), prompt_len);
  std::printf("| batch | step ms | decode tok/s | ratio to batch 1 |\n|---|---|---|---|\n");
  double base = 0.0;
  for (int b : batches) {
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
      for (int s = 0; s < b; ++s) {
        (*kv)->Release(s);
        SequenceChunk c{s, prompt, 0, false};
        if (auto st = exec.Forward({&c, 1}, &logits); !st.ok()) {
          std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
          return 1;
        }
      }
      std::vector<int32_t> tokens(b, 7);
      std::vector<SequenceChunk> chunks(b);
      const auto t0 = std::chrono::steady_clock::now();
      for (int step = 0; step < steps; ++step) {
        for (int s = 0; s < b; ++s) {
          chunks[s] = SequenceChunk{s, std::span<const int32_t>(&tokens[s], 1), prompt_len + step, true};
        }
        if (auto st = exec.Forward(chunks, &logits); !st.ok()) {
          std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
          return 1;
        }
      }
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double tps = static_cast<double>(b) * steps / best;
    if (base == 0.0) base = tps;
    std::printf("| %d | %.2f | %.1f | %.2f |\n", b, best / steps * 1e3, tps, tps / base);
    std::fflush(stdout);
  }
  return 0;
}
