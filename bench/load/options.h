// tessera-bench's options: what to send (prompt and output lengths, sampling),
// how (closed loop at a concurrency, or Poisson arrivals capped by it), and
// what counts as a good request (the SLOs behind goodput).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::bench {

// An inclusive range of integers; lo == hi is a fixed value.
struct IntRange {
  int lo = 0;
  int hi = 0;
  bool fixed() const { return lo == hi; }
};

// "64" -> [64, 64]; "16:256" -> [16, 256] (drawn uniformly). Values must be
// positive and lo <= hi.
absl::StatusOr<IntRange> ParseIntRange(const std::string& text);
std::string FormatIntRange(const IntRange& r);
// "1,2,4,8" -> {1, 2, 4, 8}: positive values, each at most once.
absl::StatusOr<std::vector<int>> ParseIntList(const std::string& text);

struct BenchOptions {
  std::string coordinator = "tcp://127.0.0.1:5555";
  // CURVE (both or neither): the coordinator's public key (file or Z85) and
  // this client's secret key file, as for `tessera generate`.
  std::string server_key;
  std::string key;
  std::vector<int> concurrency = {1, 2, 4, 8, 16};
  int requests = 0;  // per level; 0: RequestsPerLevel's default
  int warmup = 0;    // unrecorded requests before each level
  double rate = 0;   // Poisson arrivals per second, capped by the concurrency; 0: closed loop
  IntRange prompt_len{64, 64};
  IntRange max_tokens{64, 64};
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 1;
  bool ignore_eos = true;  // fixed output lengths, so levels compare like for like
  // Prompt token ids are drawn from [min_token, vocab). 512 is the smallest
  // vocabulary among `tessera model make`'s presets; 3 skips llama's
  // <unk>, <s>, </s>.
  int vocab = 512;
  int min_token = 3;
  double slo_ttft_ms = 1000;  // <= 0: no TTFT objective
  double slo_tpot_ms = 100;   // <= 0: no TPOT objective
  int connections = 1;        // client sockets, one thread each, sharing the concurrency
  double timeout_s = 120;     // silence this long with requests in flight ends them as TIMEOUT
  double connect_timeout_s = 5;
  double wait_ready_s = 0;  // wait this long for a ready group before the sweep
  bool only_wait = false;   // exit 0 once a group is ready, without a sweep
  std::string json;
  std::string plot;
  std::string label;
};

// Registers every option on `app`, writing into `options`.
void RegisterOptions(CLI::App& app, BenchOptions& options);
// Cross-option checks a parser cannot do alone; the message names the flag.
absl::Status ValidateOptions(const BenchOptions& options);
// --requests, or 4 x the concurrency and at least 8.
int RequestsPerLevel(const BenchOptions& options, int concurrency);

}  // namespace tessera::bench
