#include "worker/sampler.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

// Draw counts over positions 0..n-1 (each position is an independent draw).
std::vector<int> Histogram(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<int> h(logits.size(), 0);
  for (int pos = 0; pos < n; ++pos) ++h[s.Sample(logits, pos)];
  return h;
}

std::vector<float> LogitsFor(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

TEST(SamplerTest, GreedyTakesArgmaxLowestIdOnTies) {
  Sampler s({});
  EXPECT_EQ(s.Sample(std::vector<float>{0.1f, 3.0f, -2.0f, 3.0f}, 0), 1);
  EXPECT_EQ(s.Sample(std::vector<float>{-5.0f}, 7), 0);
  Sampler k1({.temperature = 2.0f, .top_k = 1, .top_p = 1.0f, .seed = 5});
  EXPECT_EQ(k1.Sample(std::vector<float>{0.0f, 0.5f, 0.4f}, 3), 1);
}

TEST(SamplerTest, SameSeedAndPositionDrawSameToken) {
  const std::vector<float> logits = LogitsFor({0.25, 0.25, 0.25, 0.25});
  Sampler a({.temperature = 1.0f, .seed = 42}), b({.temperature = 1.0f, .seed = 42});
  std::vector<int32_t> first;
  for (int pos = 0; pos < 64; ++pos) first.push_back(a.Sample(logits, pos));
  // Same draws in reverse call order: they depend on (seed, position) only.
  for (int pos = 63; pos >= 0; --pos) EXPECT_EQ(b.Sample(logits, pos), first[pos]);
  Sampler c({.temperature = 1.0f, .seed = 43});
  int same = 0;
  for (int pos = 0; pos < 64; ++pos) same += c.Sample(logits, pos) == first[pos];
  EXPECT_LT(same, 40) << "another seed should give different draws";
}

TEST(SamplerTest, TemperatureOneFollowsSoftmax) {
  const std::vector<double> p = {0.5, 0.3, 0.15, 0.05};
  Sampler s({.temperature = 1.0f, .seed = 7});
  const int n = 40000;
  const auto h = Histogram(s, LogitsFor(p), n);
  for (size_t i = 0; i < p.size(); ++i) {
    // 5 binomial standard deviations.
    const double sd = std::sqrt(n * p[i] * (1 - p[i]));
    EXPECT_NEAR(h[i], n * p[i], 5 * sd) << "token " << i;
  }
}

TEST(SamplerTest, TemperatureSharpens) {
  // At temperature 0.5 probabilities go as p^2: 0.25/(0.25+0.0625) = 0.8.
  const std::vector<double> p = {2.0 / 3, 1.0 / 3};
  Sampler s({.temperature = 0.5f, .seed = 11});
  const int n = 20000;
  const auto h = Histogram(s, LogitsFor(p), n);
  EXPECT_NEAR(h[0], 0.8 * n, 5 * std::sqrt(n * 0.8 * 0.2));
}

TEST(SamplerTest, TopKAndTopPRestrictTheCandidates) {
  const std::vector<double> p = {0.05, 0.5, 0.15, 0.3};
  const int n = 20000;
  Sampler k2({.temperature = 1.0f, .top_k = 2, .seed = 3});
  auto h = Histogram(k2, LogitsFor(p), n);
  EXPECT_EQ(h[0] + h[2], 0);
  EXPECT_NEAR(h[1], n * 0.5 / 0.8, 5 * std::sqrt(n * 0.625 * 0.375));
  // Nucleus 0.75: 0.5 is short of it, 0.5 + 0.3 reaches it -> tokens 1 and 3.
  Sampler p75({.temperature = 1.0f, .top_p = 0.75f, .seed = 3});
  h = Histogram(p75, LogitsFor(p), n);
  EXPECT_EQ(h[0] + h[2], 0);
  EXPECT_GT(h[1], 0);
  EXPECT_GT(h[3], 0);
}

TEST(SamplerTest, ValidatesParameters) {
  EXPECT_TRUE(ValidateSamplingParams({}).ok());
  EXPECT_FALSE(ValidateSamplingParams({.temperature = -1.0f}).ok());
  EXPECT_FALSE(ValidateSamplingParams({.temperature = NAN}).ok());
  EXPECT_FALSE(ValidateSamplingParams({.top_k = -2}).ok());
  EXPECT_FALSE(ValidateSamplingParams({.top_p = 0.0f}).ok());
  EXPECT_FALSE(ValidateSamplingParams({.top_p = 1.5f}).ok());
}

TEST(SamplerTest, UniformDrawsCoverTheUnitInterval) {
  double sum = 0, mn = 1, mx = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = UniformForPosition(9, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u, mn = std::min(mn, u), mx = std::max(mx, u);
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.01);
  EXPECT_LT(mn, 0.001);
  EXPECT_GT(mx, 0.999);
}

// A vocabulary split over tensor-parallel ranks: each slice offers only its
// CandidatesNeeded best, and the draw from their union must be the draw from
// the whole vocabulary, for every kind of sampling and at every position.
TEST(SamplerTest, DrawFromSliceCandidatesEqualsDrawFromWholeVocabulary) {
  std::vector<float> logits(301);
  uint32_t x = 12345;
  for (float& v : logits) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<float>(x >> 8) / static_cast<float>(1 << 24) * 8.0f - 4.0f;
  }
  logits[17] = logits[250] = 9.0f;  // a tie across slices: the lower id wins
  logits[40] = NAN;                 // never chosen, never breaks the order
  const SamplingParams params[] = {
      {},                                                      // greedy
      {.temperature = 0.8f, .top_k = 1},                       // greedy by top-k 1
      {.temperature = 1.0f, .top_k = 5, .seed = 3},            // top-k
      {.temperature = 1.3f, .top_k = 40, .top_p = 0.7f, .seed = 4},
      {.temperature = 0.7f, .seed = 5},                        // all of them
      {.temperature = 1.0f, .top_p = 0.5f, .seed = 6},
  };
  const std::vector<std::vector<int>> splits = {{0, 301}, {0, 150, 301}, {0, 1, 100, 299, 301}, {0, 0, 301}};
  for (const SamplingParams& p : params) {
    Sampler whole(p);
    for (const std::vector<int>& cut : splits) {
      for (int pos = 0; pos < 50; ++pos) {
        std::vector<Candidate> union_of_best;
        for (size_t r = 0; r + 1 < cut.size(); ++r) {
          std::span<const float> slice(logits.data() + cut[r], static_cast<size_t>(cut[r + 1] - cut[r]));
          BestCandidates(slice, cut[r], CandidatesNeeded(p), &union_of_best);
        }
        Sampler sliced(p);
        const int32_t want = whole.Sample(logits, pos);
        ASSERT_EQ(sliced.SampleCandidates(union_of_best, pos), want)
            << "temperature " << p.temperature << " top-k " << p.top_k << " top-p " << p.top_p << " slices "
            << cut.size() - 1 << " position " << pos;
        if (p.temperature == 0.0f) {
          ASSERT_EQ(want, 17);
        }
        ASSERT_NE(want, 40);
      }
    }
  }
}

}  // namespace
}  // namespace tessera
