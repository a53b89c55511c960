// The CUDA backend's MatMul (kernels/cuda/cuda_matmul.h) against the scalar
// CPU reference, for every weight type and each of the engine's paths: cuBLAS
// SGEMM (F32), GemmEx on F16/BF16, the fused dp4a GEMV of Q8_0/Q4_0 for up to
// kQuantGemvMaxRows rows and their dequantize-and-SGEMM path above it,
// including weight panels and row slices that start at 2-byte aligned
// addresses. Weights and activations cross with CopyIn/CopyOut only.
//
// Tolerances are relative to sum_k |x_k w_k| of each output (the scale of f32
// accumulation error), so they stay tight while the sum itself may cancel:
//   F32, Q8_0, Q4_0: 1e-5. Quantized activations must round exactly as the
//     CPU's do: one value a step off moves an output by d_x |w|, ~1e-3 of
//     that scale for these shapes, so a rounding mismatch fails.
//   F16/BF16: the GPU rounds x to the weight type before the tensor cores
//     multiply; the reference is given x already rounded (which the GPU's
//     rounding leaves unchanged), so products are exact on both sides and
//     only f32 accumulation on the tensor cores remains: 1e-4.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_matmul.h"
#include "model/half.h"
#include "model/quant.h"
#include "tests/unit/kernels_cuda/cuda_test_util.h"

namespace tessera::cuda_testing {
namespace {

constexpr DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};
constexpr DType kQuantTypes[] = {DType::kQ8_0, DType::kQ4_0};
constexpr DType kAllTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};

bool IsQuantized(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

double RelTolerance(DType t) { return t == DType::kF16 || t == DType::kBF16 ? 1e-4 : 1e-5; }

// n_rows x cols random activations. For quantized weights the first block
// of row 0 is all zeros (amax 0: d = 0, q = 0) and the second, when there is
// one, has amax 127 (so 127 / amax is exactly 1) and values k + 0.5, which
// round half to even: 2.5 -> 2, -3.5 -> -4.
std::vector<float> Activations(DType type, int64_t n_rows, int64_t cols, uint32_t seed) {
  std::vector<float> x = RandomFloats(n_rows * cols, seed);
  if (IsQuantized(type) && n_rows > 0 && cols >= kQBlock) {
    for (int i = 0; i < kQBlock; ++i) x[i] = 0.0f;
    if (cols >= 2 * kQBlock) {
      x[kQBlock] = 127.0f;
      for (int i = 1; i < kQBlock; ++i) x[kQBlock + i] = (i % 2 == 1 ? 1.0f : -1.0f) * (3.0f * i + 0.5f);
    }
  }
  if (type == DType::kF16) {
    for (float& v : x) v = Fp16ToFloat(FloatToFp16(v));
  } else if (type == DType::kBF16) {
    for (float& v : x) v = Bf16ToFloat(FloatToBf16(v));
  }
  return x;
}

// sum_k |x[r][k] * W[o][k]| for each output, from W's exact values.
std::vector<double> Magnitudes(const MatrixView& w, const std::vector<float>& x, int64_t n_rows) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  std::vector<double> mag(static_cast<size_t>(n_rows * w.rows), 0.0);
  for (int64_t o = 0; o < w.rows; ++o) {
    DequantizeRow(w.type, w.Row(o), w.cols, row.data());
    for (int64_t r = 0; r < n_rows; ++r) {
      double a = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) a += std::fabs(static_cast<double>(x[r * w.cols + k]) * row[k]);
      mag[r * w.rows + o] = a;
    }
  }
  return mag;
}

class CudaMatMulTest : public CudaBackendTest {
 protected:
  // MatMul of rows [begin, end) of `m` on both backends; the GPU's output
  // starts as NaN so that an element the product never writes fails.
  ::testing::AssertionResult Check(const TestMatrix& m, int64_t begin, int64_t end, int64_t n_rows,
                                   uint32_t seed) {
    const MatrixView host = m.host.RowRange(begin, end);
    const MatrixView device = m.device.RowRange(begin, end);
    const std::vector<float> x = Activations(host.type, n_rows, host.cols, seed);
    const int64_t n_out = n_rows * host.rows;
    std::vector<float> want(static_cast<size_t>(n_out));
    ref_->MatMul(host, x.data(), n_rows, want.data());

    auto dx = Upload(*gpu_, x);
    auto dy = Upload(*gpu_, std::vector<float>(static_cast<size_t>(n_out), NAN));
    gpu_->MatMul(device, dx.get(), n_rows, dy.get());
    const std::vector<float> got = Download(*gpu_, dy);
    if (got.size() != want.size()) return ::testing::AssertionFailure() << "CopyOut failed";

    const std::vector<double> mag = Magnitudes(host, x, n_rows);
    const double rel = RelTolerance(host.type);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n_out; ++i) {
      // Written so that NaN counts as a mismatch.
      if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= rel * mag[i] + 1e-6)) {
        if (first < 0) first = i;
        ++bad;
      }
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << DTypeName(host.type) << " rows [" << begin << ", " << end << ") of " << m.host.rows << " x "
           << host.cols << ", n_rows " << n_rows << ": " << bad << " of " << n_out << " outputs differ; first (row "
           << first / host.rows << ", feature " << first % host.rows << "): got " << got[first] << ", want "
           << want[first] << ", tolerance " << rel * mag[first] + 1e-6;
  }
};

TEST_F(CudaMatMulTest, EveryTypeShapeAndRowCount) {
  struct Shape {
    int64_t rows, cols;
  };
  // Output counts that fill no warp or tile evenly; float widths of any
  // length, quantized ones in whole blocks: 70 blocks leave partial last
  // steps of the GEMV (32 Q8_0 or 64 Q4_0 blocks per step).
  const Shape float_shapes[] = {{1, 1}, {3, 7}, {37, 100}, {130, 263}, {257, 1024}};
  const Shape quant_shapes[] = {{1, 32}, {5, 64}, {37, 160}, {130, 288}, {67, 2240}, {257, 1024}};
  // Quantized: every row count the GEMV is instantiated for, then the GEMM.
  const int64_t float_rows[] = {1, 3, 8, 9, 64};
  const int64_t quant_rows[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 64};
  static_assert(cuda::MatMulEngine::kQuantGemvMaxRows == 8, "quant_rows covers 1..8 and above");
  uint32_t seed = 1;
  for (DType type : kFloatTypes) {
    for (const Shape& s : float_shapes) {
      const TestMatrix m = MakeMatrix(*gpu_, type, s.rows, s.cols, seed++);
      for (int64_t n_rows : float_rows) ASSERT_TRUE(Check(m, 0, s.rows, n_rows, seed++));
    }
  }
  for (DType type : kQuantTypes) {
    for (const Shape& s : quant_shapes) {
      const TestMatrix m = MakeMatrix(*gpu_, type, s.rows, s.cols, seed++);
      for (int64_t n_rows : quant_rows) ASSERT_TRUE(Check(m, 0, s.rows, n_rows, seed++));
    }
  }
}

// A tensor-parallel rank multiplies by a slice of rows. Quantized rows of 3
// blocks (102 or 54 bytes) and F16/BF16 rows of 7 values (14 bytes) make a
// slice starting at an odd row only 2-byte aligned.
TEST_F(CudaMatMulTest, RowSlicesAtTwoByteAlignedAddresses) {
  uint32_t seed = 100;
  for (DType type : kAllTypes) {
    const int64_t cols = IsQuantized(type) ? 3 * kQBlock : 7;
    const TestMatrix m = MakeMatrix(*gpu_, type, 45, cols, seed++);
    for (int64_t n_rows : {1, 5, 9}) {
      ASSERT_TRUE(Check(m, 1, 40, n_rows, seed++));
      ASSERT_TRUE(Check(m, 3, 45, n_rows, seed++));
    }
  }
}

// Model-sized quantized matrices: 4100 x 4096 f32 is more than the engine's
// 64 MiB weight panel, so the GEMM path runs a full panel and a 4-row one;
// the GEMV streams 128-block rows.
TEST_F(CudaMatMulTest, QuantizedModelWidthsAndSeveralPanels) {
  uint32_t seed = 200;
  for (DType type : kQuantTypes) {
    const TestMatrix m = MakeMatrix(*gpu_, type, 4100, 4096, seed++, -0.1f, 0.1f);
    for (int64_t n_rows : {1, 8, 9}) ASSERT_TRUE(Check(m, 0, 4100, n_rows, seed++));
  }
}

// A product over no input elements is all zeros (the output is written).
TEST_F(CudaMatMulTest, EmptyInnerDimensionGivesZeros) {
  for (DType type : kAllTypes) {
    const TestMatrix m = MakeMatrix(*gpu_, type, 3, 0, 1);
    ASSERT_TRUE(Check(m, 0, 3, 2, 2));
  }
}

// Large calls grow the engine's scratch buffers and small ones reuse them;
// results must not depend on what ran before, so the same product repeated
// around calls of other sizes gives the same bits.
TEST_F(CudaMatMulTest, ResultsDoNotDependOnEarlierCalls) {
  for (DType type : kAllTypes) {
    const int64_t cols = 512;
    const TestMatrix small = MakeMatrix(*gpu_, type, 33, cols, 300);
    const TestMatrix large = MakeMatrix(*gpu_, type, 700, cols, 301);
    const std::vector<float> x = Activations(type, 64, cols, 302);
    auto dx = Upload(*gpu_, x);
    auto dy_small = AllocateArray<float>(*gpu_, 64 * 33);
    auto dy_large = AllocateArray<float>(*gpu_, 64 * 700);
    for (int64_t n_rows : {1, 9}) {
      gpu_->MatMul(small.device, dx.get(), n_rows, dy_small.get());
      const std::vector<float> first = Download(*gpu_, dy_small.get(), n_rows * 33);
      gpu_->MatMul(large.device, dx.get(), 64, dy_large.get());
      gpu_->MatMul(small.device, dx.get(), n_rows, dy_small.get());
      EXPECT_EQ(Download(*gpu_, dy_small.get(), n_rows * 33), first) << DTypeName(type) << " n_rows " << n_rows;
    }
  }
}

}  // namespace
}  // namespace tessera::cuda_testing
