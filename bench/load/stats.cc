#include "bench/load/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tessera::bench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

Summary Summarize(const std::vector<double>& values) {
  Summary s{0, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  if (values.empty()) return s;
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  s.count = static_cast<int64_t>(sorted.size());
  s.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(sorted.size());
  s.min = sorted.front();
  s.max = sorted.back();
  s.p50 = Percentile(sorted, 50);
  s.p90 = Percentile(sorted, 90);
  s.p99 = Percentile(sorted, 99);
  return s;
}

RequestLatency ComputeLatency(const RequestRecord& r) {
  RequestLatency l;
  std::vector<double> arrivals;
  for (const ChunkArrival& c : r.chunks) arrivals.insert(arrivals.end(), std::max(c.tokens, 0), c.t);
  if (r.finish >= 0 && r.completion_tokens > static_cast<int>(arrivals.size())) {
    arrivals.insert(arrivals.end(), r.completion_tokens - arrivals.size(), r.finish);
  }
  l.tokens = static_cast<int>(arrivals.size());
  // Open loop: latency counts from when the request was due, so time spent
  // waiting for a free slot under the concurrency cap is not hidden
  // (coordinated omission). Closed loop: due == submit.
  const double start = (r.due > 0 && r.due < r.submit) ? r.due : r.submit;
  l.e2e_ms = (r.finish - start) * 1e3;
  if (arrivals.empty()) return l;
  l.ttft_ms = (arrivals.front() - start) * 1e3;
  if (arrivals.size() >= 2) {
    l.tpot_ms = (arrivals.back() - arrivals.front()) * 1e3 / static_cast<double>(arrivals.size() - 1);
  }
  for (size_t i = 1; i < arrivals.size(); ++i) l.itl_ms.push_back((arrivals[i] - arrivals[i - 1]) * 1e3);
  return l;
}

bool MeetsSlo(const RequestLatency& l, const Slo& slo) {
  if (slo.ttft_ms > 0 && (!l.ttft_ms || *l.ttft_ms > slo.ttft_ms)) return false;
  if (slo.tpot_ms > 0 && l.tpot_ms && *l.tpot_ms > slo.tpot_ms) return false;
  return true;
}

LevelStats ComputeLevelStats(int concurrency, const std::vector<RequestRecord>& records, const Slo& slo) {
  LevelStats s;
  s.concurrency = concurrency;
  s.requests = static_cast<int>(records.size());
  std::vector<double> ttft, tpot, itl, e2e, queue, server_ttft, server_tpot;
  double first_submit = std::numeric_limits<double>::infinity(), last_finish = -first_submit;
  for (const RequestRecord& r : records) {
    first_submit = std::min(first_submit, r.submit);
    if (r.finish >= 0) last_finish = std::max(last_finish, r.finish);
    if (!r.ok) {
      ++s.errors;
      ++s.errors_by_code[r.error.empty() ? "UNKNOWN" : r.error];
      continue;
    }
    ++s.succeeded;
    s.from_record += r.from_record;
    const RequestLatency l = ComputeLatency(r);
    s.output_tokens += l.tokens;
    s.prompt_tokens += r.prompt_tokens;
    if (l.ttft_ms) ttft.push_back(*l.ttft_ms);
    if (l.tpot_ms) tpot.push_back(*l.tpot_ms);
    itl.insert(itl.end(), l.itl_ms.begin(), l.itl_ms.end());
    e2e.push_back(l.e2e_ms);
    if (MeetsSlo(l, slo)) ++s.slo_met;
    if (r.has_server_timings) {
      queue.push_back(r.server_queue_ms);
      server_ttft.push_back(r.server_ttft_ms);
      server_tpot.push_back(r.server_tpot_ms);
    }
  }
  s.wall_s = last_finish > first_submit ? last_finish - first_submit : 0;
  if (s.wall_s > 0) {
    s.output_tok_s = static_cast<double>(s.output_tokens) / s.wall_s;
    s.requests_s = s.succeeded / s.wall_s;
    s.goodput_rps = s.slo_met / s.wall_s;
  }
  s.ttft_ms = Summarize(ttft);
  s.tpot_ms = Summarize(tpot);
  s.itl_ms = Summarize(itl);
  s.e2e_ms = Summarize(e2e);
  s.server_queue_ms = Summarize(queue);
  s.server_ttft_ms = Summarize(server_ttft);
  s.server_tpot_ms = Summarize(server_tpot);
  return s;
}

void FillRatios(std::vector<LevelStats>& levels) {
  if (levels.empty()) return;
  const double base = levels.front().output_tok_s;
  for (LevelStats& l : levels) l.ratio_to_first = base > 0 ? l.output_tok_s / base : kNaN;
}

}  // namespace tessera::bench
