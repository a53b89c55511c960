// The single-rank engine's answer to a client request, computed in-process:
// what every e2e checker compares a cluster's answers with.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "proto/client_api.pb.h"
#include "worker/executor.h"
#include "worker/generate.h"
#include "worker/kv_cache.h"

namespace tessera {

struct Expected {
  std::vector<int32_t> tokens;  // without a final EOS
  bool eos = false;
  std::string text;
};

// What `tessera generate --model` would print and produce for the request.
// A request the engine cannot run is the checker's own bug: it exits.
inline Expected SingleRank(const Model& m, Backend& backend, const proto::GenerateRequest& r) {
  std::vector<int32_t> prompt(r.prompt_tokens().begin(), r.prompt_tokens().end());
  if (!r.prompt().empty()) prompt = m.tokenizer->Encode(r.prompt(), m.tokenizer->add_bos());
  KvCacheShape shape;
  shape.n_layers = m.config.n_layers;
  shape.kv_dim = m.config.kv_dim();
  const int64_t positions = static_cast<int64_t>(prompt.size()) + r.max_tokens();
  shape.n_blocks = (positions + shape.block_size - 1) / shape.block_size;
  auto kv = KvCache::Create(shape, backend);
  Executor executor(m, backend, **kv);
  GenerateOptions o;
  o.max_tokens = r.max_tokens();
  o.stop_at_eos = !r.ignore_eos();
  const float top_p = r.sampling().top_p() > 0.0f ? r.sampling().top_p() : 1.0f;
  o.sampling = SamplingParams{r.sampling().temperature(), r.sampling().top_k(), top_p, r.sampling().seed()};
  auto result = Generate(executor, prompt, o);
  Expected e;
  if (!result.ok()) {
    std::fprintf(stderr, "single-rank run failed: %s\n", result.status().ToString().c_str());
    std::exit(2);
  }
  e.tokens = result->tokens;
  e.eos = result->stopped_at_eos;
  if (e.eos) e.tokens.pop_back();
  StreamDecoder decoder(*m.tokenizer);
  for (int32_t t : e.tokens) e.text += decoder.Push(t);
  e.text += decoder.Finish();
  return e;
}

}  // namespace tessera
