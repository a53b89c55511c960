// tessera-bench's pure parts: percentiles, per-request latencies (ITL with
// multi-token chunks), goodput, Poisson arrivals and the option parsers,
// against hand-computed values.
#include <cmath>
#include <numeric>
#include <random>

#include "bench/load/options.h"
#include "bench/load/report.h"
#include "bench/load/stats.h"
#include "bench/load/workload.h"
#include "gtest/gtest.h"

namespace tessera::bench {
namespace {

constexpr double kTol = 1e-9;

TEST(BenchPercentileTest, InterpolatesBetweenClosestRanks) {
  // Sorted {1, 2, 3, 4}: rank p/100 * 3.
  const std::vector<double> v = {4, 1, 3, 2};
  EXPECT_NEAR(Percentile(v, 0), 1.0, kTol);
  EXPECT_NEAR(Percentile(v, 50), 2.5, kTol);   // rank 1.5
  EXPECT_NEAR(Percentile(v, 90), 3.7, kTol);   // rank 2.7
  EXPECT_NEAR(Percentile(v, 99), 3.97, kTol);  // rank 2.97
  EXPECT_NEAR(Percentile(v, 100), 4.0, kTol);
  EXPECT_NEAR(Percentile({7}, 99), 7.0, kTol);
  EXPECT_TRUE(std::isnan(Percentile({}, 50)));
}

TEST(BenchPercentileTest, SummaryOfFiveValues) {
  // Sorted {10, 20, 30, 40, 50}: p90 at rank 3.6 -> 46, p99 at rank 3.96 -> 49.6.
  const Summary s = Summarize({50, 10, 40, 20, 30});
  EXPECT_EQ(s.count, 5);
  EXPECT_NEAR(s.mean, 30, kTol);
  EXPECT_NEAR(s.min, 10, kTol);
  EXPECT_NEAR(s.max, 50, kTol);
  EXPECT_NEAR(s.p50, 30, kTol);
  EXPECT_NEAR(s.p90, 46, kTol);
  EXPECT_NEAR(s.p99, 49.6, kTol);
  const Summary empty = Summarize({});
  EXPECT_EQ(empty.count, 0);
  EXPECT_TRUE(std::isnan(empty.p50));
}

RequestRecord Record(double submit, std::vector<ChunkArrival> chunks, double finish, int completion_tokens) {
  RequestRecord r;
  r.submit = submit;
  r.chunks = std::move(chunks);
  r.finish = finish;
  r.ok = true;
  r.completion_tokens = completion_tokens;
  return r;
}

TEST(BenchLatencyTest, MultiTokenChunkGivesZeroGaps) {
  // Token arrivals 0.1 | 0.3 0.3 0.3 | 0.4 (a chunk of 3 in the middle).
  const RequestLatency l = ComputeLatency(Record(0.0, {{0.1, 1}, {0.3, 3}, {0.4, 1}}, 0.5, 5));
  EXPECT_EQ(l.tokens, 5);
  ASSERT_TRUE(l.ttft_ms.has_value());
  EXPECT_NEAR(*l.ttft_ms, 100, 1e-6);
  ASSERT_TRUE(l.tpot_ms.has_value());
  EXPECT_NEAR(*l.tpot_ms, 300.0 / 4, 1e-6);
  ASSERT_EQ(l.itl_ms.size(), 4u);
  EXPECT_NEAR(l.itl_ms[0], 200, 1e-6);
  EXPECT_NEAR(l.itl_ms[1], 0, 1e-6);
  EXPECT_NEAR(l.itl_ms[2], 0, 1e-6);
  EXPECT_NEAR(l.itl_ms[3], 100, 1e-6);
  EXPECT_NEAR(l.e2e_ms, 500, 1e-6);
}

TEST(BenchLatencyTest, UnstreamedTokensArriveWithTheResult) {
  // Two streamed at 1.2, the third only in the result at 1.5; submitted at 1.0.
  const RequestLatency l = ComputeLatency(Record(1.0, {{1.2, 2}}, 1.5, 3));
  EXPECT_EQ(l.tokens, 3);
  EXPECT_NEAR(*l.ttft_ms, 200, 1e-6);
  EXPECT_NEAR(*l.tpot_ms, 150, 1e-6);
  ASSERT_EQ(l.itl_ms.size(), 2u);
  EXPECT_NEAR(l.itl_ms[0], 0, 1e-6);
  EXPECT_NEAR(l.itl_ms[1], 300, 1e-6);
}

// Open loop: a request due at 1.0 but sent at 1.5 (the concurrency cap was
// full) counts its latency from 1.0.
TEST(BenchLatencyTest, OpenLoopLatencyCountsFromWhenTheRequestWasDue) {
  RequestRecord r = Record(1.5, {{2.0, 1}}, 3.0, 2);
  r.due = 1.0;
  const RequestLatency l = ComputeLatency(r);
  EXPECT_NEAR(*l.ttft_ms, 1000, 1e-6);
  EXPECT_NEAR(l.e2e_ms, 2000, 1e-6);
  EXPECT_NEAR(*l.tpot_ms, 1000, 1e-6);  // between tokens: unaffected
}

TEST(BenchLatencyTest, OneTokenHasNoTpotAndMeetsTheTpotObjective) {
  const RequestLatency l = ComputeLatency(Record(0.0, {}, 0.25, 1));
  EXPECT_NEAR(*l.ttft_ms, 250, 1e-6);
  EXPECT_FALSE(l.tpot_ms.has_value());
  EXPECT_TRUE(l.itl_ms.empty());
  EXPECT_TRUE(MeetsSlo(l, Slo{300, 1}));
  EXPECT_FALSE(MeetsSlo(l, Slo{200, 1}));
}

TEST(BenchLevelStatsTest, GoodputCountsRequestsMeetingBothObjectives) {
  std::vector<RequestRecord> records;
  // TTFT 100 ms, TPOT 50 ms: meets.
  records.push_back(Record(0.0, {{0.1, 1}, {0.2, 1}, {0.3, 1}}, 0.3, 3));
  // TTFT 1500 ms: misses TTFT.
  records.push_back(Record(0.0, {{1.5, 1}, {1.55, 1}}, 1.6, 2));
  // TTFT 100 ms, TPOT 150 ms: misses TPOT.
  records.push_back(Record(0.5, {{0.6, 1}, {0.75, 1}}, 0.8, 2));
  // One token after 200 ms: meets (no TPOT).
  records.push_back(Record(1.0, {{1.2, 1}}, 1.2, 1));
  records.back().from_record = true;
  // Rejected.
  RequestRecord busy;
  busy.submit = 0.2;
  busy.finish = 2.0;  // the last finish: the wall is 2 s
  busy.error = "BUSY";
  records.push_back(busy);
  RequestRecord timeout = busy;
  timeout.error = "TIMEOUT";
  timeout.finish = 1.0;
  records.push_back(timeout);

  const LevelStats s = ComputeLevelStats(4, records, Slo{1000, 100});
  EXPECT_EQ(s.concurrency, 4);
  EXPECT_EQ(s.requests, 6);
  EXPECT_EQ(s.succeeded, 4);
  EXPECT_EQ(s.errors, 2);
  EXPECT_EQ(s.errors_by_code, (std::map<std::string, int>{{"BUSY", 1}, {"TIMEOUT", 1}}));
  EXPECT_NEAR(s.wall_s, 2.0, kTol);
  EXPECT_EQ(s.output_tokens, 8);
  EXPECT_NEAR(s.output_tok_s, 4.0, kTol);
  EXPECT_NEAR(s.requests_s, 2.0, kTol);
  EXPECT_EQ(s.from_record, 1);
  EXPECT_EQ(s.slo_met, 2);
  EXPECT_NEAR(s.goodput_rps, 1.0, kTol);
  EXPECT_EQ(s.ttft_ms.count, 4);
  EXPECT_EQ(s.tpot_ms.count, 3);  // the one-token request has none
  EXPECT_EQ(s.itl_ms.count, 2 + 1 + 1);
  // TTFTs 100, 1500, 100, 200 -> sorted 100 100 200 1500, median 150.
  EXPECT_NEAR(s.ttft_ms.p50, 150, 1e-6);

  const LevelStats no_slo = ComputeLevelStats(4, records, Slo{0, 0});
  EXPECT_EQ(no_slo.slo_met, 4);
}

TEST(BenchLevelStatsTest, RatiosToTheFirstLevel) {
  std::vector<LevelStats> levels(3);
  levels[0].output_tok_s = 100;
  levels[1].output_tok_s = 250;
  levels[2].output_tok_s = 50;
  FillRatios(levels);
  EXPECT_NEAR(levels[0].ratio_to_first, 1.0, kTol);
  EXPECT_NEAR(levels[1].ratio_to_first, 2.5, kTol);
  EXPECT_NEAR(levels[2].ratio_to_first, 0.5, kTol);
}

TEST(BenchLevelStatsTest, MissingValuesAreNullInJson) {
  LevelStats level = ComputeLevelStats(1, {}, Slo{1000, 100});
  const nlohmann::json j = LevelToJson(level);
  EXPECT_TRUE(j["ttft_ms"]["p50"].is_null());
  EXPECT_EQ(j["requests"], 0);
}

TEST(BenchWorkloadTest, PoissonGapsAreExponentialWithMeanOneOverRate) {
  std::mt19937_64 rng(42);
  const double rate = 50;
  const int n = 200001;
  const std::vector<double> t = PoissonArrivals(rate, n, rng);
  ASSERT_EQ(t.size(), static_cast<size_t>(n));
  EXPECT_EQ(t[0], 0.0);
  std::vector<double> gaps;
  for (int i = 1; i < n; ++i) {
    ASSERT_GE(t[i], t[i - 1]);
    gaps.push_back(t[i] - t[i - 1]);
  }
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / gaps.size();
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  const double sd = std::sqrt(var / gaps.size());
  // The mean of 2e5 exponential gaps has a relative spread of 1/sqrt(2e5)
  // (0.22 %); an exponential's standard deviation equals its mean.
  EXPECT_NEAR(mean, 1 / rate, 0.01 / rate);
  EXPECT_NEAR(sd / mean, 1.0, 0.02);
}

TEST(BenchWorkloadTest, PromptsHaveTheDrawnLengthsAndValidIds) {
  BenchOptions o;
  o.prompt_len = {16, 256};
  o.max_tokens = {32, 128};
  o.vocab = 300;
  o.min_token = 3;
  const Workload w = MakeWorkload(o, 200, 7);
  ASSERT_EQ(w.requests.size(), 200u);
  EXPECT_TRUE(w.arrivals.empty());
  bool lengths_vary = false;
  for (const WorkloadRequest& r : w.requests) {
    EXPECT_GE(r.prompt_tokens.size(), 16u);
    EXPECT_LE(r.prompt_tokens.size(), 256u);
    EXPECT_GE(r.max_tokens, 32);
    EXPECT_LE(r.max_tokens, 128);
    lengths_vary |= r.prompt_tokens.size() != w.requests[0].prompt_tokens.size();
    for (int32_t t : r.prompt_tokens) {
      ASSERT_GE(t, 3);
      ASSERT_LT(t, 300);
    }
  }
  EXPECT_TRUE(lengths_vary);
  const Workload again = MakeWorkload(o, 200, 7);
  EXPECT_EQ(again.requests[199].prompt_tokens, w.requests[199].prompt_tokens);
  EXPECT_NE(MakeWorkload(o, 200, 8).requests[0].prompt_tokens, w.requests[0].prompt_tokens);

  o.rate = 10;
  EXPECT_EQ(MakeWorkload(o, 5, 7).arrivals.size(), 5u);
}

TEST(BenchOptionsTest, ParsesLengthRanges) {
  auto fixed = ParseIntRange("64");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->lo, 64);
  EXPECT_EQ(fixed->hi, 64);
  auto range = ParseIntRange("16:256");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->lo, 16);
  EXPECT_EQ(range->hi, 256);
  EXPECT_EQ(FormatIntRange(*range), "16:256");
  for (const char* bad : {"", "0", "-4", "256:16", "16:", ":16", "a", "16:2x", "1:2:3"}) {
    EXPECT_FALSE(ParseIntRange(bad).ok()) << bad;
  }
}

TEST(BenchOptionsTest, ParsesConcurrencyLists) {
  auto list = ParseIntList("1,2,4,16");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<int>{1, 2, 4, 16}));
  for (const char* bad : {"", "1,,2", "2,2", "0", "1,x"}) EXPECT_FALSE(ParseIntList(bad).ok()) << bad;
}

TEST(BenchOptionsTest, CommandLine) {
  CLI::App app;
  BenchOptions o;
  RegisterOptions(app, o);
  app.parse("--concurrency 1,3 --prompt-len 16:256 --max-tokens 8 --stop-at-eos --rate 2.5", false);
  EXPECT_EQ(o.concurrency, (std::vector<int>{1, 3}));
  EXPECT_EQ(o.prompt_len.lo, 16);
  EXPECT_EQ(o.prompt_len.hi, 256);
  EXPECT_EQ(o.max_tokens.lo, 8);
  EXPECT_EQ(o.max_tokens.hi, 8);
  EXPECT_FALSE(o.ignore_eos);
  EXPECT_EQ(o.rate, 2.5);

  CLI::App strict;
  BenchOptions p;
  RegisterOptions(strict, p);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_THROW(strict.parse("--prompt-len 256:16", false), CLI::ValidationError);
}

TEST(BenchOptionsTest, RequestsPerLevelDefault) {
  BenchOptions o;
  EXPECT_EQ(RequestsPerLevel(o, 1), 8);
  EXPECT_EQ(RequestsPerLevel(o, 2), 8);
  EXPECT_EQ(RequestsPerLevel(o, 16), 64);
  o.requests = 5;
  EXPECT_EQ(RequestsPerLevel(o, 16), 5);
}

TEST(BenchOptionsTest, ValidationNamesTheFlag) {
  BenchOptions o;
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.min_token = 512;
  EXPECT_NE(ValidateOptions(o).message().find("--min-token"), std::string::npos);
  o = BenchOptions{};
  o.top_p = 1.5f;
  EXPECT_NE(ValidateOptions(o).message().find("--top-p"), std::string::npos);
}

}  // namespace
}  // namespace tessera::bench
