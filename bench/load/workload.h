// The requests of one level, drawn from a seeded generator: the same options
// and seed give the same prompts, lengths and arrival times on every run.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "bench/load/options.h"

namespace tessera::bench {

struct WorkloadRequest {
  std::vector<int32_t> prompt_tokens;  // exactly the drawn length
  int max_tokens = 0;
  uint64_t sampling_seed = 0;
};

struct Workload {
  std::vector<WorkloadRequest> requests;
  // Seconds after the level starts at which each request becomes due
  // (open loop, --rate); empty: closed loop, each is due when a slot frees.
  std::vector<double> arrivals;
};

// `count` requests drawn from `seed` (a level's recorded requests and its
// warmup use different seeds).
Workload MakeWorkload(const BenchOptions& options, int count, uint64_t seed);

// Arrival times of a Poisson process of `rate` per second: the first at 0,
// then independent exponential gaps of mean 1 / rate.
std::vector<double> PoissonArrivals(double rate, int count, std::mt19937_64& rng);

}  // namespace tessera::bench
