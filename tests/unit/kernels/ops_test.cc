// Row and element-wise ops against their formulas evaluated here in double,
// on every backend, for lengths that hit vector tails and the parallel paths.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

// Element-wise tolerance: a few f32 ulps of the result's scale.
constexpr double kRelTol = 2e-6;

TEST(OpsTest, RmsNormMatchesFormula) {
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    for (int64_t dim : {1, 7, 64, 100, 1024}) {
      for (int64_t n_rows : {1, 3, 70}) {  // 70 x 1024 takes the parallel path
        const std::vector<float> x = RandomFloats(n_rows * dim, 1, -3.0f, 3.0f);
        const std::vector<float> w = RandomFloats(dim, 2, 0.5f, 1.5f);
        std::vector<float> out(x.size());
        const float eps = 1e-5f;
        backend->RmsNorm(x.data(), w.data(), n_rows, dim, eps, out.data());
        for (int64_t r = 0; r < n_rows; ++r) {
          double ss = 0.0;
          for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
          const double scale = 1.0 / std::sqrt(ss / dim + eps);
          for (int64_t i = 0; i < dim; ++i) {
            const double want = x[r * dim + i] * scale * w[i];
            ASSERT_NEAR(out[r * dim + i], want, kRelTol * (std::fabs(want) + 1e-6))
                << bc.Name() << " dim " << dim << " row " << r << " i " << i;
          }
        }
        // In place (out aliases x).
        std::vector<float> y = x;
        backend->RmsNorm(y.data(), w.data(), n_rows, dim, eps, y.data());
        EXPECT_EQ(y, out) << bc.Name();
      }
    }
  }
}

TEST(OpsTest, SoftmaxMatchesFormula) {
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    for (int64_t n : {1, 5, 8, 33, 32000}) {
      std::vector<float> x = RandomFloats(n, 3, -20.0f, 20.0f);
      const std::vector<float> in = x;
      backend->Softmax(x.data(), n);
      double max = in[0];
      for (float v : in) max = std::max<double>(max, v);
      double sum = 0.0;
      for (float v : in) sum += std::exp(v - max);
      for (int64_t i = 0; i < n; ++i) {
        const double want = std::exp(in[i] - max) / sum;
        ASSERT_NEAR(x[i], want, 1e-5 * want + 1e-12) << bc.Name() << " n " << n << " i " << i;
      }
    }
  }
}

TEST(OpsTest, SoftmaxOfLargeValuesDoesNotOverflow) {
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    std::vector<float> x = {1000.0f, 1000.0f, 999.0f, -1000.0f, 1000.0f, 1000.0f, 1000.0f, 1000.0f, 1000.0f};
    backend->Softmax(x.data(), static_cast<int64_t>(x.size()));
    const double e = std::exp(-1.0);
    const double sum = 7 + e;
    EXPECT_NEAR(x[0], 1 / sum, 1e-6) << bc.Name();
    EXPECT_NEAR(x[2], e / sum, 1e-6) << bc.Name();
    EXPECT_EQ(x[3], 0.0f) << bc.Name();
  }
}

TEST(OpsTest, SiluMulMatchesFormula) {
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    for (int64_t n : {1, 9, 2816, 70000}) {
      const std::vector<float> g = RandomFloats(n, 4, -12.0f, 12.0f);
      const std::vector<float> u = RandomFloats(n, 5, -2.0f, 2.0f);
      std::vector<float> out(static_cast<size_t>(n));
      backend->SiluMul(g.data(), u.data(), n, out.data());
      for (int64_t i = 0; i < n; ++i) {
        const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
        ASSERT_NEAR(out[i], want, 4 * kRelTol * std::fabs(want) + 1e-30) << bc.Name() << " i " << i;
      }
      std::vector<float> alias = g;  // out aliases gate
      backend->SiluMul(alias.data(), u.data(), n, alias.data());
      EXPECT_EQ(alias, out) << bc.Name();
    }
  }
}

TEST(OpsTest, AddAndAddBiasAreExact) {
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    for (int64_t n : {1, 13, 100000}) {
      std::vector<float> x = RandomFloats(n, 6);
      const std::vector<float> y = RandomFloats(n, 7);
      const std::vector<float> x0 = x;
      backend->Add(x.data(), y.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(x[i], x0[i] + y[i]) << bc.Name();
    }
    for (int64_t n_rows : {1, 3, 200}) {
      const int64_t n = 515;
      std::vector<float> x = RandomFloats(n_rows * n, 8);
      const std::vector<float> bias = RandomFloats(n, 9);
      const std::vector<float> x0 = x;
      backend->AddBias(x.data(), bias.data(), n_rows, n);
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(x[r * n + i], x0[r * n + i] + bias[i]) << bc.Name();
      }
    }
  }
}

// One head of 8 dims, rope_dims 6, position 2, theta 100: pair i turns by
// 2 * 100^(-2i/6); the last two dims are left alone.
TEST(OpsTest, RopeRotatesTheRightPairsByHandComputedAngles) {
  const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const double a[3] = {2.0, 2.0 * std::pow(100.0, -2.0 / 6), 2.0 * std::pow(100.0, -4.0 / 6)};
  RopeParams p;
  p.theta = 100.0f;
  p.rope_dims = 6;
  const int32_t pos = 2;
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    for (bool neox : {false, true}) {
      p.neox = neox;
      std::vector<float> x(v, v + 8);
      backend->Rope(x.data(), 1, 1, 8, &pos, p);
      float want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
      for (int i = 0; i < 3; ++i) {
        // Normal: pairs (0,1) (2,3) (4,5). NeoX: pairs (0,3) (1,4) (2,5).
        const int i0 = neox ? i : 2 * i, i1 = neox ? i + 3 : 2 * i + 1;
        want[i0] = static_cast<float>(v[i0] * std::cos(a[i]) - v[i1] * std::sin(a[i]));
        want[i1] = static_cast<float>(v[i0] * std::sin(a[i]) + v[i1] * std::cos(a[i]));
      }
      for (int i = 0; i < 8; ++i) EXPECT_NEAR(x[i], want[i], 1e-5) << bc.Name() << " neox " << neox << " dim " << i;
    }
  }
}

TEST(OpsTest, RopeWithScalingAndFreqFactorsMatchesFormula) {
  const int64_t n_heads = 3, head_dim = 40, n_rows = 4;
  const std::vector<float> factors = RandomFloats(16, 10, 1.0f, 8.0f);
  const int32_t positions[n_rows] = {0, 5, 17, 4000};
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    for (bool neox : {false, true}) {
      for (int64_t rope_dims : {int64_t{32}, int64_t{22}}) {
        RopeParams p;
        p.theta = 500000.0f;
        p.linear_scale = 4.0f;
        p.neox = neox;
        p.rope_dims = rope_dims;
        p.freq_factors = factors.data();
        std::vector<float> x = RandomFloats(n_rows * n_heads * head_dim, 11);
        const std::vector<float> in = x;
        backend->Rope(x.data(), n_rows, n_heads, head_dim, positions, p);
        const int64_t half = rope_dims / 2;
        for (int64_t r = 0; r < n_rows; ++r) {
          for (int64_t h = 0; h < n_heads; ++h) {
            const int64_t base = (r * n_heads + h) * head_dim;
            std::vector<double> want(in.begin() + base, in.begin() + base + head_dim);
            for (int64_t i = 0; i < half; ++i) {
              const double angle = positions[r] / 4.0 * std::pow(500000.0, -2.0 * i / rope_dims) / factors[i];
              const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
              want[i0] = in[base + i0] * std::cos(angle) - in[base + i1] * std::sin(angle);
              want[i1] = in[base + i0] * std::sin(angle) + in[base + i1] * std::cos(angle);
            }
            for (int64_t d = 0; d < head_dim; ++d) {
              ASSERT_NEAR(x[base + d], want[d], 1e-5)
                  << bc.Name() << " neox " << neox << " rope_dims " << rope_dims << " row " << r
                  << " head " << h << " dim " << d;
            }
          }
        }
      }
    }
  }
}

TEST(OpsTest, RopeOfManyRowsTakesTheParallelPath) {
  const int64_t n_rows = 300, n_heads = 8, head_dim = 64;
  std::vector<int32_t> positions(n_rows);
  for (int64_t r = 0; r < n_rows; ++r) positions[r] = static_cast<int32_t>(r * 3);
  RopeParams p;
  p.rope_dims = 64;
  const std::vector<float> in = RandomFloats(n_rows * n_heads * head_dim, 12);
  std::vector<float> one = in;
  MakeBackend({DetectCpuIsa(), 1})->Rope(one.data(), n_rows, n_heads, head_dim, positions.data(), p);
  for (const BackendCase& bc : BackendCases()) {
    if (bc.isa != DetectCpuIsa()) continue;
    std::vector<float> x = in;
    MakeBackend(bc)->Rope(x.data(), n_rows, n_heads, head_dim, positions.data(), p);
    EXPECT_EQ(x, one) << bc.Name();
  }
}

}  // namespace
}  // namespace tessera::testing
