// MatMul of every weight type, every backend ISA, both AVX2 paths (GEMV and the
// blocked GEMM, forced with gemm_min_rows), against a double-precision product
// computed here from the dequantized weights.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

constexpr DType kAllTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};

bool IsQuantized(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

// The documented activation rounding of quantized MatMul, written out here:
// per 32 values d = amax / 127 and q = round-half-even(x * (127 / amax)).
std::vector<float> RoundActivations(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0.0f;
    for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    const float d = amax / 127.0f;
    for (size_t i = b; i < b + 32; ++i) out[i] = d * std::nearbyint(x[i] * id);
  }
  return out;
}

// y[r][o] in double and the magnitude sum |x||w| that scales the tolerance.
void Expected(const TestMatrix& m, const std::vector<float>& x, int64_t n_rows,
              std::vector<double>* y, std::vector<double>* mag) {
  const int64_t rows = m.view.rows, cols = m.view.cols;
  y->assign(static_cast<size_t>(n_rows * rows), 0.0);
  mag->assign(static_cast<size_t>(n_rows * rows), 0.0);
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t o = 0; o < rows; ++o) {
      double s = 0.0, a = 0.0;
      for (int64_t k = 0; k < cols; ++k) {
        const double t = static_cast<double>(x[r * cols + k]) * m.dequant[o * cols + k];
        s += t;
        a += std::fabs(t);
      }
      (*y)[r * rows + o] = s;
      (*mag)[r * rows + o] = a;
    }
  }
}

// Tolerance: f32 accumulation error, relative to the sum of |terms|.
constexpr double kRelTol = 1e-5;

void CheckMatMul(DType type, int64_t rows, int64_t cols, int64_t n_rows, const BackendCase& bc,
                 int64_t gemm_min_rows, uint32_t seed) {
  const TestMatrix m = MakeMatrix(type, rows, cols, seed);
  const std::vector<float> x = RandomFloats(n_rows * cols, seed + 1);
  std::vector<double> want, mag;
  Expected(m, IsQuantized(type) ? RoundActivations(x) : x, n_rows, &want, &mag);
  auto backend = MakeBackend(bc, gemm_min_rows);
  std::vector<float> y(static_cast<size_t>(n_rows * rows), NAN);
  backend->MatMul(m.view, x.data(), n_rows, y.data());
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_NEAR(y[i], want[i], kRelTol * mag[i] + 1e-7)
        << DTypeName(type) << " " << rows << "x" << cols << " n_rows=" << n_rows << " "
        << bc.Name() << " gemm_min_rows=" << gemm_min_rows << " at " << i;
  }
}

TEST(MatMulTest, EveryTypeShapeRowCountAndPath) {
  struct Shape {
    int64_t rows, cols;
  };
  // Outputs not multiples of the 4-row GEMV tile nor the 16-wide GEMM panel;
  // float cols of any length, quantized cols in whole blocks.
  const Shape float_shapes[] = {{1, 1}, {3, 7}, {17, 33}, {37, 100}, {21, 263}};
  const Shape quant_shapes[] = {{1, 32}, {5, 64}, {19, 96}, {37, 160}, {21, 288}};
  uint32_t seed = 1;
  for (DType type : kAllTypes) {
    for (const Shape& s : IsQuantized(type) ? quant_shapes : float_shapes) {
      for (int64_t n_rows : {1, 2, 3, 5, 7, 13, 64}) {
        for (const BackendCase& bc : BackendCases()) {
          // 1: every call takes the GEMM path; huge: every call the GEMV path.
          for (int64_t gemm_min_rows : {int64_t{1}, int64_t{1} << 40}) {
            CheckMatMul(type, s.rows, s.cols, n_rows, bc, gemm_min_rows, seed++);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST(MatMulTest, GemmCoversSeveralRowAndDepthBlocks) {
  if (!UsesAvx2(DetectCpuIsa())) GTEST_SKIP() << "no AVX2";
  // 530 rows > one 512-row block; 700 / 544 columns > two 256-deep blocks.
  for (DType type : kAllTypes) {
    const int64_t cols = IsQuantized(type) ? 544 : 700;
    CheckMatMul(type, 40, cols, 530, {CpuIsa::kAvx2, 2}, 0, 77);
    if (HasFatalFailure()) return;
  }
}

TEST(MatMulTest, DefaultThresholdPathsAgree) {
  // With the default GEMV/GEMM threshold, the results for every n_rows are
  // the same function of the inputs (the quantized types round activations on
  // both paths).
  for (DType type : kAllTypes) {
    for (int64_t n_rows : {1, 4, 8, 16, 24, 40}) {
      CheckMatMul(type, 24, 96, n_rows, {DetectCpuIsa(), 2}, 0, 5);
      if (HasFatalFailure()) return;
    }
  }
}

// The quantized product differs from the f32 product of the dequantized
// weights only by the activation rounding: |x - x_q| <= d_x / 2 per element,
// so |y - y_f32| <= sum over blocks of d_x / 2 * sum |w| (plus f32 rounding).
TEST(MatMulTest, QuantizedWithinActivationRoundingOfF32Product) {
  const int64_t rows = 29, cols = 256, n_rows = 3;
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    const TestMatrix m = MakeMatrix(type, rows, cols, 11);
    const std::vector<float> x = RandomFloats(n_rows * cols, 12, -2.0f, 2.0f);
    std::vector<double> exact, mag;
    Expected(m, x, n_rows, &exact, &mag);
    for (const BackendCase& bc : BackendCases()) {
      auto backend = MakeBackend(bc);
      std::vector<float> y(static_cast<size_t>(n_rows * rows));
      backend->MatMul(m.view, x.data(), n_rows, y.data());
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t o = 0; o < rows; ++o) {
          double bound = 0.0;
          for (int64_t b = 0; b < cols; b += 32) {
            float amax = 0.0f;
            double wsum = 0.0;
            for (int64_t k = b; k < b + 32; ++k) {
              amax = std::max(amax, std::fabs(x[r * cols + k]));
              wsum += std::fabs(m.dequant[o * cols + k]);
            }
            bound += amax / 127.0 / 2.0 * wsum;
          }
          const size_t i = static_cast<size_t>(r * rows + o);
          EXPECT_NEAR(y[i], exact[i], bound + kRelTol * mag[i]) << DTypeName(type) << " " << bc.Name();
        }
      }
    }
  }
}

TEST(MatMulTest, ZeroColumnsGiveZeros) {
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    const MatrixView w{DType::kF32, nullptr, 5, 0, 0};
    std::vector<float> y(10, NAN);
    backend->MatMul(w, nullptr, 2, y.data());
    for (float v : y) EXPECT_EQ(v, 0.0f);
  }
}

}  // namespace
}  // namespace tessera::testing
