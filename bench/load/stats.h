// Latency and throughput statistics of a level's request records.
//
// Definitions (client side, milliseconds):
//  - a token's arrival is the arrival of the chunk that carried it; tokens
//    the result holds beyond the streamed ones arrive with the result;
//  - TTFT = first token's arrival - submit;
//  - TPOT = (last arrival - first arrival) / (n - 1), for n >= 2 tokens;
//  - ITL = every gap between consecutive tokens' arrivals: a chunk of k
//    tokens gives one gap (from the previous token) and k - 1 zero gaps;
//  - e2e = finish - submit.
// Latencies cover successful requests only; the wall time runs from the
// first submit to the last finish of any request.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/load/request_record.h"

namespace tessera::bench {

// The p-th percentile (0..100) by linear interpolation between the closest
// ranks of the sorted values (numpy's default): rank p/100 * (n - 1).
// NaN for no values.
double Percentile(std::vector<double> values, double p);

struct Summary {
  int64_t count = 0;
  double mean, min, max, p50, p90, p99;  // NaN when count == 0
};
Summary Summarize(const std::vector<double>& values);

struct RequestLatency {
  int tokens = 0;               // output tokens received
  std::optional<double> ttft_ms;  // none without any token
  std::optional<double> tpot_ms;  // none below 2 tokens
  double e2e_ms = 0;
  std::vector<double> itl_ms;   // tokens - 1 gaps
};
RequestLatency ComputeLatency(const RequestRecord& r);

struct Slo {
  double ttft_ms = 0;  // <= 0: no objective
  double tpot_ms = 0;
};
// A successful request meets the SLO when its TTFT and TPOT are within the
// objectives; a request with no TPOT (one token) meets that part.
bool MeetsSlo(const RequestLatency& latency, const Slo& slo);

struct LevelStats {
  int concurrency = 0;
  int requests = 0;
  int succeeded = 0;
  int errors = 0;
  std::map<std::string, int> errors_by_code;
  double wall_s = 0;
  int64_t output_tokens = 0;  // of successful requests
  int64_t prompt_tokens = 0;  // of successful requests, as the coordinator counted
  double output_tok_s = 0;
  double requests_s = 0;     // successful requests per second
  int from_record = 0;       // successful answers replayed from the coordinator's record (expect 0)
  int slo_met = 0;
  double goodput_rps = 0;    // successful requests meeting the SLO, per second
  double ratio_to_first = 0;  // output_tok_s / the first level's (filled by the caller)
  Summary ttft_ms, tpot_ms, itl_ms, e2e_ms;
  Summary server_queue_ms, server_ttft_ms, server_tpot_ms;  // the coordinator's timings
};
LevelStats ComputeLevelStats(int concurrency, const std::vector<RequestRecord>& records, const Slo& slo);

// Sets each level's ratio_to_first.
void FillRatios(std::vector<LevelStats>& levels);

}  // namespace tessera::bench
