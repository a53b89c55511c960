#include "worker/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0, got ", p.temperature));
  }
  if (p.top_k < 0) return absl::InvalidArgumentError(absl::StrCat("top-k must be >= 0, got ", p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("top-p must be in (0, 1], got ", p.top_p));
  }
  return absl::OkStatus();
}

double UniformForPosition(uint64_t seed, int64_t position) {
  const uint64_t h = SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(position));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

int64_t CandidatesNeeded(const SamplingParams& p) {
  if (p.temperature <= 0.0f || p.top_k == 1) return 1;
  return p.top_k > 0 ? p.top_k : 0;
}

void BestCandidates(std::span<const float> logits, int32_t first_id, int64_t k,
                    std::vector<Candidate>* out) {
  const int64_t n = static_cast<int64_t>(logits.size());
  if (n == 0) return;
  auto at = [&](int64_t i) {
    return Candidate{std::isnan(logits[i]) ? -INFINITY : logits[i], first_id + static_cast<int32_t>(i)};
  };
  if (k == 1) {  // greedy: one pass, no allocation
    Candidate best = at(0);
    for (int64_t i = 1; i < n; ++i) {
      const Candidate c = at(i);
      if (RanksBefore(c, best)) best = c;
    }
    out->push_back(best);
    return;
  }
  const size_t base = out->size();
  for (int64_t i = 0; i < n; ++i) out->push_back(at(i));
  auto first = out->begin() + static_cast<std::ptrdiff_t>(base);
  if (k > 0 && k < n) {
    std::partial_sort(first, first + k, out->end(), RanksBefore);
    out->resize(base + static_cast<size_t>(k));
  } else {
    std::sort(first, out->end(), RanksBefore);
  }
}

int32_t Sampler::Sample(std::span<const float> logits, int64_t position) {
  candidates_.clear();
  BestCandidates(logits, 0, CandidatesNeeded(params_), &candidates_);
  return SampleCandidates(candidates_, position);
}

int32_t Sampler::SampleCandidates(std::span<Candidate> candidates, int64_t position) {
  const int64_t needed = CandidatesNeeded(params_);
  size_t keep = candidates.size();
  if (needed > 0 && static_cast<size_t>(needed) < keep) {
    keep = static_cast<size_t>(needed);
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep),
                      candidates.end(), RanksBefore);
  } else {
    std::sort(candidates.begin(), candidates.end(), RanksBefore);
  }
  if (needed == 1) return candidates[0].id;

  const double inv_t = 1.0 / params_.temperature;
  const double max_logit = candidates[0].logit;
  std::vector<double>& probs = probs_;
  probs.resize(keep);
  double sum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((candidates[i].logit - max_logit) * inv_t);
    sum += probs[i];
  }
  // Nucleus: the smallest prefix whose mass reaches top_p.
  if (params_.top_p < 1.0f) {
    double cum = 0.0;
    size_t n = 0;
    while (n < keep) {
      cum += probs[n] / sum;
      ++n;
      if (cum >= params_.top_p) break;
    }
    keep = n;
    sum = 0.0;
    for (size_t i = 0; i < keep; ++i) sum += probs[i];
  }
  const double u = UniformForPosition(params_.seed, position) * sum;
  double acc = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    acc += probs[i];
    if (u < acc) return candidates[i].id;
  }
  return candidates[keep - 1].id;
}

}  // namespace tessera
