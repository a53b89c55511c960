// `tessera generate`: single-rank generation from a local model file, or
// (with --coordinator) on a cluster through cli_generate_remote.cc.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "client/cli.h"
#include "client/cli_generate.h"
#include "glog/logging.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/factory/backend_factory.h"
#include "model/model.h"
#include "worker/executor.h"
#include "worker/generate.h"
#include "worker/kv_cache.h"

namespace tessera::cli {
namespace {

int RunLocalGenerate(const GenerateArgs& a) {
  const SamplingParams sampling{a.temp, a.top_k, a.top_p, a.seed};
  if (auto st = ValidateSamplingParams(sampling); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 2;
  }
  auto model = LoadModel(a.model);
  if (!model.ok()) {
    std::cerr << "error: " << a.model << ": " << model.status().message() << "\n";
    return 1;
  }
  const Model& m = **model;
  CpuBackendOptions backend_options;
  backend_options.threads = a.threads;
  if (!a.isa.empty()) backend_options.isa = ParseCpuIsa(a.isa);
  auto device = ParseDeviceSpec(a.device);
  if (!device.ok()) {
    std::cerr << "error: " << device.status().message() << "\n";
    return 2;
  }
  auto made = MakeBackend(*device, backend_options);
  if (!made.ok()) {
    std::cerr << "error: " << made.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<Backend> backend = *std::move(made);
  LOG(INFO) << "backend " << backend->name() << " with " << backend->threads() << " threads";

  const std::vector<int32_t> prompt = m.tokenizer->Encode(a.prompt, m.tokenizer->add_bos());
  if (prompt.empty()) {
    std::cerr << "error: the prompt encodes to no tokens (give --prompt some text)\n";
    return 2;
  }
  // Never more than the context: Generate refuses longer runs with a clear
  // message, and the cache must not be sized by an unchecked request first.
  const int64_t positions = std::min(static_cast<int64_t>(prompt.size()) + a.n, m.config.context_length);
  KvCacheShape shape;
  shape.n_layers = m.config.n_layers;
  shape.kv_dim = m.config.kv_dim();
  shape.n_blocks = (positions + shape.block_size - 1) / shape.block_size;
  auto kv = KvCache::Create(shape, *backend);
  if (!kv.ok()) {
    std::cerr << "error: " << kv.status().message() << "\n";
    return 1;
  }
  Executor executor(m, *backend, **kv);
  if (auto st = executor.Load(); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }

  GenerateOptions options;
  options.max_tokens = a.n;
  options.stop_at_eos = !a.ignore_eos;
  options.sampling = sampling;
  std::fputs(a.prompt.c_str(), stdout);
  std::fflush(stdout);
  StreamDecoder decoder(*m.tokenizer);
  auto result = Generate(executor, prompt, options, [&](int32_t token) {
    const std::string text = decoder.Push(token);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  const std::string rest = decoder.Finish();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputs("\n", stdout);
  if (!result.ok()) {
    std::cerr << "error: " << result.status().message() << "\n";
    return 1;
  }
  std::printf("[prompt: %lld tokens, %.1f tok/s | generation: %zu tokens, %.1f tok/s | %s, %d threads%s]\n",
              static_cast<long long>(result->prompt_tokens), result->PrefillTokensPerSecond(),
              result->tokens.size(), result->DecodeTokensPerSecond(), std::string(backend->name()).c_str(),
              backend->threads(), result->stopped_at_eos ? " | stopped at end-of-sequence" : "");
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* gen = app.add_subcommand(
      "generate", "Generate text from a local model on this machine (--model) or on a cluster (--coordinator)");
  CLI::Option* model = gen->add_option("-m,--model", a->model, "Path to a .gguf model: run on this machine");
  CLI::Option* coordinator =
      gen->add_option("-c,--coordinator", a->coordinator,
                      "A coordinator's client endpoint (tcp://HOST:5555): run on its cluster");
  model->excludes(coordinator);
  gen->add_option("-p,--prompt", a->prompt, "Prompt text")->required();
  gen->add_option("-n,--max-tokens", a->n, "Tokens to generate")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  gen->add_option("--temp", a->temp, "Sampling temperature (0: greedy)")->capture_default_str()
      ->check(CLI::Range(0.0f, 100.0f));
  gen->add_option("--top-k", a->top_k, "Keep the k most likely tokens (0: all)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  gen->add_option("--top-p", a->top_p, "Nucleus sampling mass in (0, 1]")->capture_default_str();
  gen->add_option("--seed", a->seed, "Sampling seed; a (seed, position) pair always draws the same")
      ->capture_default_str();
  gen->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past the end-of-sequence token");
  gen->add_option("-t,--threads", a->threads, "Compute threads (0: one per core; with --model)")
      ->capture_default_str()->check(CLI::Range(0, 1024))->needs(model);
  gen->add_option("--isa", a->isa,
                  "Force a kernel path: scalar, avx2 or avx2-vnni (default: best available; one "
                  "the CPU lacks falls back to the best below it; with --model)")
      ->check(CLI::IsMember({"scalar", "avx2", "avx2-vnni"}))->needs(model);
  gen->add_option("--device", a->device, "Where to compute: cpu or cuda:N (with --model)")
      ->capture_default_str()->needs(model);
  gen->add_flag("--no-stream", a->no_stream, "Print the text when it is complete, not as it arrives (with --coordinator)")
      ->needs(coordinator);
  gen->add_option("--request-id", a->request_id,
                  "Request id (1-128 bytes; default: a fresh random one). The coordinator runs an id once: "
                  "asking again returns its record (with --coordinator)")
      ->needs(coordinator);
  gen->add_option("--timeout-ms", a->timeout_ms,
                  "Silence (no token, no answer) after which a try counts as lost and is retried, up to 4 tries "
                  "(with --coordinator)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{24} * 3600 * 1000))->needs(coordinator);
  AddAuthFlags(*gen, a->auth);  // used with --coordinator
  gen->callback([a, &exit_code] {
    if (a->model.empty() == a->coordinator.empty()) {
      std::cerr << "error: give --model FILE (run on this machine) or --coordinator tcp://HOST:PORT (run on a "
                   "cluster)\n";
      exit_code = 2;
      return;
    }
    exit_code = a->model.empty() ? RunRemoteGenerate(*a) : RunLocalGenerate(*a);
  });
}

}  // namespace tessera::cli
