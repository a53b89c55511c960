// The GPU backend's headline figures on one model and one GPU:
//   (a) decode tokens/s at batch 1 against the HBM bound: a decode step reads
//       every weight matrix once, so bound = bandwidth / weight bytes per
//       token; the ratio is set against both the copy bandwidth measured here
//       (QueryCudaDevice) and the card's nominal figure (target >= 0.80);
//   (b) output tokens/s of 64 sequences decoding together;
//   (c) TFLOP/s of the BF16 matrix products (through the backend's MatMul,
//       activation conversion included) at 4096 rows, as a share of the
//       card's dense BF16 peak.
// Decode steps go through the single-rank executor exactly as a worker runs
// them: tokens up, logits down, greedy argmax on the host.
//   gpu_bench --model llama-8b-bf16.gguf [--device cuda:0]
// Exits 2, before loading anything, where the GPU is not visible.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/factory/backend_factory.h"
#include "model/model.h"
#include "model/quant.h"
#include "worker/executor.h"
#include "worker/kv_cache.h"

namespace tessera {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Published figures of the cards this project runs on, by device name:
// HBM bandwidth (GB/s) and dense (not sparse) BF16 tensor-core TFLOP/s.
struct Nominal {
  double hbm_gbs = 0.0;
  double peak_tflops = 0.0;
};

Nominal NominalFor(const std::string& name) {
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("H200")) return {4800.0, 989.0};
  if (has("H100") && has("PCIe")) return {2000.0, 756.0};
  if (has("H100") && has("NVL")) return {3900.0, 835.0};
  if (has("H100")) return {3350.0, 989.0};  // SXM ("NVIDIA H100 80GB HBM3")
  return {};
}

// Bytes one decode step reads of the weights: every layer matrix and the
// output head once, one row of the embedding.
int64_t DecodeWeightBytes(const ModelWeights& w) {
  int64_t bytes = w.token_embd.row_bytes + w.output.rows * w.output.row_bytes;
  for (const LayerWeights& l : w.layers) {
    for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      bytes += m->rows * m->row_bytes;
    }
  }
  return bytes;
}

int32_t Argmax(const float* v, int64_t n) { return static_cast<int32_t>(std::max_element(v, v + n) - v); }

std::vector<int32_t> Prompt(int64_t len, int64_t seq, int64_t vocab) {
  std::vector<int32_t> p(len);
  for (int64_t i = 0; i < len; ++i) p[i] = static_cast<int32_t>(((seq * 131 + i) * 7919 + 13) % vocab);
  return p;
}

struct Options {
  std::string model, device = "cuda:0";
  int prompt = 16, decode = 128, warmup = 8, repeats = 3, batch = 64, batch_steps = 32;
  int matmul_rows = 4096, matmul_iters = 20;
  double hbm_gbs = 0.0, peak_tflops = 0.0;
  bool probe = false;
};

// Decodes `batch` sequences together (a prompt each, then warm-up steps,
// then `steps` timed steps; greedy tokens fed back) and returns the timed
// seconds, the median of `repeats` runs.
absl::StatusOr<double> TimeDecode(Executor& exec, int64_t batch, int64_t prompt_len, int64_t warmup, int64_t steps,
                                  int repeats) {
  const int64_t vocab = exec.config().vocab_size;
  std::vector<double> runs;
  std::vector<float> logits;
  for (int r = 0; r < repeats; ++r) {
    std::vector<std::vector<int32_t>> prompts;
    std::vector<SequenceChunk> chunks;
    for (int64_t s = 0; s < batch; ++s) {
      exec.kv_cache().Release(s);
      prompts.push_back(Prompt(prompt_len, s, vocab));
    }
    for (int64_t s = 0; s < batch; ++s) chunks.push_back({s, prompts[s], 0, true});
    if (auto st = exec.Forward(chunks, &logits); !st.ok()) return st;
    std::vector<int32_t> tokens(batch);
    double t0 = 0.0;
    for (int64_t step = 0; step < warmup + steps; ++step) {
      if (step == warmup) t0 = Now();
      for (int64_t s = 0; s < batch; ++s) {
        tokens[s] = Argmax(logits.data() + s * vocab, vocab);
        chunks[s] = SequenceChunk{s, std::span<const int32_t>(&tokens[s], 1), prompt_len + step, true};
      }
      if (auto st = exec.Forward(chunks, &logits); !st.ok()) return st;
    }
    runs.push_back(Now() - t0);
  }
  for (int64_t s = 0; s < batch; ++s) exec.kv_cache().Release(s);
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

// TFLOP/s of backend.MatMul with a random BF16 weight of out x in and
// `rows` f32 input rows, all in device memory.
absl::StatusOr<double> TimeMatMul(Backend& backend, int64_t out, int64_t in, int64_t rows, int iters) {
  const int64_t row_bytes = RowBytes(DType::kBF16, in).value();
  std::vector<uint8_t> w_host(out * row_bytes);
  std::vector<float> src(in);
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t c = 0; c < in; ++c) src[c] = static_cast<float>(((r * 31 + c * 17) % 97) - 48) / 256.0f;
    QuantizeRow(DType::kBF16, src.data(), in, w_host.data() + r * row_bytes);
  }
  std::vector<float> x_host(rows * in);
  for (int64_t i = 0; i < rows * in; ++i) x_host[i] = static_cast<float>((i * 13) % 101 - 50) / 64.0f;
  auto w = backend.Allocate(out * row_bytes);
  if (!w.ok()) return w.status();
  auto x = backend.Allocate(rows * in * 4);
  if (!x.ok()) return x.status();
  auto y = backend.Allocate(rows * out * 4);
  if (!y.ok()) return y.status();
  backend.CopyIn(w->get(), w_host.data(), out * row_bytes);
  backend.CopyIn(x->get(), x_host.data(), rows * in * 4);
  const MatrixView view{DType::kBF16, static_cast<const uint8_t*>(w->get()), out, in, row_bytes};
  auto* xp = static_cast<const float*>(x->get());
  auto* yp = static_cast<float*>(y->get());
  for (int i = 0; i < 3; ++i) backend.MatMul(view, xp, rows, yp);  // warm-up: handles, scratch
  if (auto st = backend.Finish(); !st.ok()) return st;
  const double t0 = Now();
  for (int i = 0; i < iters; ++i) backend.MatMul(view, xp, rows, yp);
  if (auto st = backend.Finish(); !st.ok()) return st;
  const double secs = Now() - t0;
  return 2.0 * static_cast<double>(rows) * out * in * iters / secs / 1e12;
}

std::string Ratio(double value, double bound) {
  if (bound <= 0.0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", value / bound);
  return buf;
}

int Fail(const char* what, const absl::Status& st) {
  std::fprintf(stderr, "gpu_bench: %s: %s\n", what, std::string(st.message()).c_str());
  return 1;
}

int Run(const Options& o) {
  auto device = ParseDeviceSpec(o.device);
  if (!device.ok()) {
    std::fprintf(stderr, "gpu_bench: %s\n", std::string(device.status().message()).c_str());
    return 2;
  }
  if (device->kind != DeviceSpec::Kind::kCuda) {
    std::fprintf(stderr, "gpu_bench: measures a GPU: --device must be cuda or cuda:N, not %s "
                         "(bench/model_bench measures the CPU)\n", o.device.c_str());
    return 2;
  }
  // Before anything slow (loading a 16 GB model): is there a GPU at all?
  const int visible = CudaDeviceCount();
  if (device->ordinal >= visible) {
    std::fprintf(stderr, "gpu_bench: no GPU to measure: %s asked for, this process sees %d GPU%s%s; "
                         "nothing was measured\n", o.device.c_str(), visible, visible == 1 ? "" : "s",
                 visible == 0 ? " (no driver or no device: check nvidia-smi and CUDA_VISIBLE_DEVICES)" : "");
    return 2;
  }
  auto info = QueryCudaDevice(device->ordinal, /*measure=*/!o.probe);
  if (!info.ok()) return Fail("querying the GPU", info.status());
  if (o.probe) {
    std::printf("%s: %s, %.1f GiB\n", o.device.c_str(), info->name.c_str(), info->total_bytes / double(1 << 30));
    return 0;
  }
  if (o.model.empty()) {
    std::fprintf(stderr, "gpu_bench: --model is required (unless --probe)\n");
    return 2;
  }
  const Nominal nominal = NominalFor(info->name);
  const double hbm_gbs = o.hbm_gbs > 0.0 ? o.hbm_gbs : nominal.hbm_gbs;
  const double peak_tflops = o.peak_tflops > 0.0 ? o.peak_tflops : nominal.peak_tflops;
  const double measured_gbs = info->copy_bandwidth / 1e9;
  std::printf("%s (%s): sm_%d%d, %d SMs, %.1f GiB (%.1f free)\n", o.device.c_str(), info->name.c_str(),
              info->cc_major, info->cc_minor, info->sm_count, info->total_bytes / double(1 << 30),
              info->free_bytes / double(1 << 30));
  std::printf("measured: copy bandwidth %.0f GB/s (read + write), cuBLAS BF16 GEMM %.0f TFLOP/s\n", measured_gbs,
              info->bf16_gemm_flops / 1e12);
  std::printf("nominal:  HBM %s GB/s, dense BF16 %s TFLOP/s%s\n\n",
              hbm_gbs > 0 ? std::to_string(static_cast<int>(hbm_gbs)).c_str() : "unknown",
              peak_tflops > 0 ? std::to_string(static_cast<int>(peak_tflops)).c_str() : "unknown",
              hbm_gbs > 0 && peak_tflops > 0 ? "" : " (pass --hbm-gbs / --peak-tflops)");

  auto backend = MakeBackend(*device, {});
  if (!backend.ok()) return Fail("making the backend", backend.status());
  Backend& b = **backend;

  // (c) first: it needs only the backend, and its buffers are gone before
  // the model's weights arrive.
  struct MatMulRow {
    int64_t out, in;
    double tflops;
  };
  std::vector<MatMulRow> matmuls = {{4096, 4096, 0.0}, {14336, 4096, 0.0}};
  for (MatMulRow& m : matmuls) {
    auto t = TimeMatMul(b, m.out, m.in, o.matmul_rows, o.matmul_iters);
    if (!t.ok()) return Fail("timing MatMul", t.status());
    m.tflops = *t;
    std::printf("matmul BF16 %lldx%lld weight, %d rows: %.1f TFLOP/s\n", static_cast<long long>(m.out),
                static_cast<long long>(m.in), o.matmul_rows, m.tflops);
  }

  double t0 = Now();
  auto model = LoadModel(o.model);
  if (!model.ok()) return Fail(o.model.c_str(), model.status());
  const Model& m = **model;
  const int64_t ctx_needed = o.prompt + o.warmup + std::max(o.decode, o.batch_steps);
  if (ctx_needed > m.config.context_length) {
    std::fprintf(stderr, "gpu_bench: --prompt + --warmup + steps (%lld) exceed the model's context of %lld\n",
                 static_cast<long long>(ctx_needed), static_cast<long long>(m.config.context_length));
    return 2;
  }
  const int64_t bytes_per_token = DecodeWeightBytes(m.weights);
  const int64_t blocks_per_seq = (ctx_needed + 15) / 16;
  auto kv = KvCache::Create({m.config.n_layers, m.config.kv_dim(), 16, blocks_per_seq * std::max(o.batch, 1)}, b);
  if (!kv.ok()) return Fail("making the KV cache", kv.status());
  Executor exec(m, b, **kv);
  if (auto st = exec.Load(); !st.ok()) return Fail("loading the weights", st);
  std::printf("\n%s: %lld layers, width %lld, %lld/%lld heads, FFN %lld, vocab %lld, %s; loaded in %.1f s\n",
              o.model.c_str(), static_cast<long long>(m.config.n_layers), static_cast<long long>(m.config.dim),
              static_cast<long long>(m.config.n_heads), static_cast<long long>(m.config.n_kv_heads),
              static_cast<long long>(m.config.ffn_dim), static_cast<long long>(m.config.vocab_size),
              std::string(DTypeName(m.weights.output.type)).c_str(),
              Now() - t0);
  std::printf("weight bytes read per decode token: %.3f GB\n", bytes_per_token / 1e9);

  // (a) batch 1.
  auto secs1 = TimeDecode(exec, 1, o.prompt, o.warmup, o.decode, o.repeats);
  if (!secs1.ok()) return Fail("decoding at batch 1", secs1.status());
  const double tps1 = o.decode / *secs1;
  const double bound_measured = measured_gbs * 1e9 / bytes_per_token;
  const double bound_nominal = hbm_gbs * 1e9 / bytes_per_token;
  std::printf("decode batch 1: %.1f tok/s (%.3f ms/token, %.0f GB/s of weights)\n", tps1, 1e3 / tps1,
              tps1 * bytes_per_token / 1e9);

  // (b) batch 64.
  auto secs_b = TimeDecode(exec, o.batch, o.prompt, o.warmup, o.batch_steps, o.repeats);
  if (!secs_b.ok()) return Fail("decoding the batch", secs_b.status());
  const double tps_b = static_cast<double>(o.batch) * o.batch_steps / *secs_b;
  std::printf("decode batch %d: %.1f output tok/s (%.2f ms/step)\n", o.batch, tps_b, *secs_b / o.batch_steps * 1e3);

  std::printf("\n| figure | value | against | ratio |\n|---|---|---|---|\n");
  std::printf("| decode tok/s, batch 1 | %.1f | HBM bound at measured %.0f GB/s: %.1f tok/s | %s |\n", tps1,
              measured_gbs, bound_measured, Ratio(tps1, bound_measured).c_str());
  std::printf("| decode tok/s, batch 1 | %.1f | HBM bound at nominal %.0f GB/s: %.1f tok/s | %s |\n", tps1, hbm_gbs,
              bound_nominal, Ratio(tps1, bound_nominal).c_str());
  std::printf("| output tok/s, batch %d | %.1f | batch 1 | %.1fx |\n", o.batch, tps_b, tps_b / tps1);
  for (const MatMulRow& r : matmuls) {
    std::printf("| BF16 matmul TFLOP/s, %lldx%lld x %d rows | %.1f | dense BF16 peak %.0f | %s |\n",
                static_cast<long long>(r.out), static_cast<long long>(r.in), o.matmul_rows, r.tflops, peak_tflops,
                Ratio(r.tflops, peak_tflops).c_str());
  }
  std::printf("\ntarget: decode ratio >= 0.80 of the HBM bound\n");
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  tessera::Options o;
  CLI::App app{"gpu_bench: decode tok/s against the HBM bound, batched output tok/s and BF16 matmul TFLOP/s "
               "on one GPU (exits 2 where there is none)"};
  app.add_option("--model", o.model, "A .gguf model (bench/gpu_bench.sh makes Llama-shaped BF16 ones)");
  app.add_flag("--probe", o.probe, "Only check that the GPU is there and name it (exit 0), or exit 2");
  app.add_option("--device", o.device, "The GPU: cuda or cuda:N")->capture_default_str();
  app.add_option("--prompt", o.prompt, "Prompt tokens of each sequence")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--decode", o.decode, "Decode steps timed at batch 1")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "Decode steps run before timing")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", o.repeats, "Runs of each decode figure (median taken)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "Sequences decoding together for the batched figure")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch-steps", o.batch_steps, "Decode steps timed at that batch")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--matmul-rows", o.matmul_rows, "Input rows of the timed matrix products")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--matmul-iters", o.matmul_iters, "Products timed per shape")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--hbm-gbs", o.hbm_gbs, "The card's nominal HBM GB/s (default from its name: H100 SXM 3350, "
                 "H100 PCIe 2000, H100 NVL 3900, H200 4800)")->check(CLI::NonNegativeNumber);
  app.add_option("--peak-tflops", o.peak_tflops, "The card's dense BF16 TFLOP/s (default from its name: H100 SXM "
                 "989, H100 PCIe 756, H100 NVL 835, H200 989)")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  return tessera::Run(o);
}
