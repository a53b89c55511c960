#include "bench/load/workload.h"

namespace tessera::bench {
namespace {

int Draw(const IntRange& r, std::mt19937_64& rng) {
  return r.fixed() ? r.lo : std::uniform_int_distribution<int>(r.lo, r.hi)(rng);
}

}  // namespace

std::vector<double> PoissonArrivals(double rate, int count, std::mt19937_64& rng) {
  std::vector<double> arrivals;
  arrivals.reserve(count);
  std::exponential_distribution<double> gap(rate);
  double t = 0;
  for (int i = 0; i < count; ++i) {
    if (i > 0) t += gap(rng);
    arrivals.push_back(t);
  }
  return arrivals;
}

Workload MakeWorkload(const BenchOptions& o, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(o.min_token, o.vocab - 1);
  Workload w;
  w.requests.resize(count);
  for (int i = 0; i < count; ++i) {
    WorkloadRequest& r = w.requests[i];
    r.prompt_tokens.resize(Draw(o.prompt_len, rng));
    for (int32_t& t : r.prompt_tokens) t = token(rng);
    r.max_tokens = Draw(o.max_tokens, rng);
    r.sampling_seed = seed + static_cast<uint64_t>(i);
  }
  if (o.rate > 0) w.arrivals = PoissonArrivals(o.rate, count, rng);
  return w;
}

}  // namespace tessera::bench
