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

// One vocabulary entry competing in a draw. A NaN logit (from a corrupt
// weight) is stored as -inf so it ranks last and cannot break the ordering.
struct Candidate {
  float logit = 0.0f;
  int32_t id = 0;
};

// The order every draw sees: higher logit first, lower id first on ties.
inline bool RanksBefore(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// How many of a vocabulary slice's best candidates a draw can need: 1 for
// greedy, top_k for top-k, 0 for "all of them" (plain temperature / top-p).
// A rank holding a slice of the vocabulary sends only these, so greedy and
// top-k never gather the whole vocabulary.
int64_t CandidatesNeeded(const SamplingParams& p);

// The best `k` (0: all) entries of `logits`, whose first entry has id
// `first_id`, sorted by RanksBefore. Appends to `out`.
void BestCandidates(std::span<const float> logits, int32_t first_id, int64_t k,
                    std::vector<Candidate>* out);

class Sampler {
 public:
  explicit Sampler(SamplingParams params) : params_(params) {}
  const SamplingParams& params() const { return params_; }

  // Picks the token that follows position `position` (the index the new token
  // will occupy in the sequence).
  int32_t Sample(std::span<const float> logits, int64_t position);

  // The same draw from candidates gathered from vocabulary slices: any order,
  // and a superset of each slice's CandidatesNeeded best. Given the union of
  // the slices' best, it returns exactly what Sample returns on the whole
  // vocabulary. Reorders `candidates`; must not be empty.
  int32_t SampleCandidates(std::span<Candidate> candidates, int64_t position);

 private:
  SamplingParams params_;
  std::vector<Candidate> candidates_;  // reused scratch
  std::vector<double> probs_;
};

}  // namespace tessera
