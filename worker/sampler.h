// Token sampling: greedy, temperature, top-k and top-p. A draw depends only on
// (logits, params, seed, position), never on call order, so a request re-run on
// another group (or another thread count) samples the same tokens.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace tessera {

struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy (argmax, lowest id on ties)
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // (0, 1]; 1: no limit
  uint64_t seed = 0;
};

absl::Status ValidateSamplingParams(const SamplingParams& p);

// A uniform draw in [0, 1) that depends only on (seed, position).
double UniformForPosition(uint64_t seed, int64_t position);

class Sampler {
 public:
  explicit Sampler(SamplingParams params) : params_(params) {}
  const SamplingParams& params() const { return params_; }

  // Picks the token that follows position `position` (the index the new token
  // will occupy in the sequence).
  int32_t Sample(std::span<const float> logits, int64_t position);

 private:
  SamplingParams params_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused scratch
  std::vector<double> probs_;
};

}  // namespace tessera
