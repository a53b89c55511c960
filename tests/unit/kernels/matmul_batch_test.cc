// Quantized GEMV products of several activation rows (decode batches) give
// every row bit for bit what that row gives alone: serving compares batched
// runs with single-sequence runs token for token, so a sequence's logits must
// not depend on which other sequences share its step. With VNNI, multi-row
// calls take a tiled path (several rows per weight row, quant_gemv_avx2.h);
// single-row calls, and every call of the plain AVX2 kernel, the row-by-row
// loop, checked against the reference elsewhere (matmul_test.cc,
// matmul_vnni_test.cc). The GEMM path is forced off: it sums in another
// order by design.
//
// Shapes (output rows x 32-element blocks): K with no whole 8-block group,
// tails after whole groups, none; every way the tiled path splits its work:
// all rows at once (9, 33, 88 blocks), in chunks of rows (88 blocks from 19
// rows, 161 blocks from 11), K in segments (161 blocks from 6 rows, 257 from
// 4), one tile at a time with its activations made per segment (257 blocks
// from 7 rows, 1641 blocks); output counts that split unevenly over 1-3
// threads and weight-row blocks. Row counts 1..33 cover every tile size.
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

constexpr int64_t kForceGemv = int64_t{1} << 40;
constexpr int64_t kMaxRows = 33;

struct Shape {
  int64_t rows, blocks;
};
// All but the first two pass the backend's parallel threshold (64 KiB of
// weights) for both types.
constexpr Shape kShapes[] = {{37, 7}, {131, 9}, {131, 33}, {45, 88}, {37, 161}, {19, 257}, {3, 1641}};

std::vector<BackendCase> SimdCases() {
  std::vector<BackendCase> cases;
  for (const BackendCase& c : BackendCases()) {
    if (c.isa != CpuIsa::kScalar) cases.push_back(c);
  }
  return cases;
}

// Each of the kMaxRows rows of x alone: kMaxRows x w.rows outputs.
std::vector<float> RowsAlone(Backend& backend, const MatrixView& w, const std::vector<float>& x) {
  std::vector<float> y(static_cast<size_t>(kMaxRows * w.rows), NAN);
  for (int64_t r = 0; r < kMaxRows; ++r) {
    backend.MatMul(w, x.data() + r * w.cols, 1, y.data() + r * w.rows);
  }
  return y;
}

TEST(MatMulBatchTest, EveryRowOfAMultiRowProductEqualsTheRowAlone) {
  const std::vector<BackendCase> cases = SimdCases();
  if (cases.empty()) GTEST_SKIP() << "no AVX2";
  uint32_t seed = 900;
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    for (const Shape& s : kShapes) {
      const TestMatrix m = MakeMatrix(type, s.rows, s.blocks * 32, seed++);
      const std::vector<float> x = RandomFloats(kMaxRows * m.view.cols, seed++);
      for (const BackendCase& bc : cases) {
        const std::vector<float> alone = RowsAlone(*MakeBackend({bc.isa, 1}, kForceGemv), m.view, x);
        auto backend = MakeBackend(bc, kForceGemv);
        for (int64_t n_rows = 1; n_rows <= kMaxRows; ++n_rows) {
          std::vector<float> y(static_cast<size_t>(n_rows * s.rows), NAN);
          backend->MatMul(m.view, x.data(), n_rows, y.data());
          for (int64_t r = 0; r < n_rows; ++r) {
            const size_t at = static_cast<size_t>(r * s.rows);
            ASSERT_EQ(std::memcmp(y.data() + at, alone.data() + at, s.rows * sizeof(float)), 0)
                << DTypeName(type) << " " << s.rows << "x" << s.blocks * 32 << " " << bc.Name()
                << " n_rows=" << n_rows << " row " << r;
          }
        }
      }
    }
  }
}

// The fused products of one input (Q/K/V, gate/up) split each matrix's
// outputs over threads at other boundaries; rows still equal the row alone.
TEST(MatMulBatchTest, SharedProductRowsEqualTheRowAlone) {
  const std::vector<BackendCase> cases = SimdCases();
  if (cases.empty()) GTEST_SKIP() << "no AVX2";
  uint32_t seed = 1300;
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    const int64_t cols = 33 * 32;
    // 160 rows: past the parallel threshold for both types.
    const TestMatrix a = MakeMatrix(type, 131, cols, seed++);
    const TestMatrix b = MakeMatrix(type, 29, cols, seed++);
    const std::vector<float> x = RandomFloats(kMaxRows * cols, seed++);
    for (const BackendCase& bc : cases) {
      auto alone_backend = MakeBackend({bc.isa, 1}, kForceGemv);
      const std::vector<float> alone_a = RowsAlone(*alone_backend, a.view, x);
      const std::vector<float> alone_b = RowsAlone(*alone_backend, b.view, x);
      auto backend = MakeBackend(bc, kForceGemv);
      for (int64_t n_rows : {2, 5, 8, 9, 16, 23, 33}) {
        std::vector<float> ya(static_cast<size_t>(n_rows * a.view.rows), NAN);
        std::vector<float> yb(static_cast<size_t>(n_rows * b.view.rows), NAN);
        const MatrixView* ws[] = {&a.view, &b.view};
        float* ys[] = {ya.data(), yb.data()};
        backend->MatMulShared(ws, x.data(), n_rows, ys);
        ASSERT_EQ(std::memcmp(ya.data(), alone_a.data(), ya.size() * sizeof(float)), 0)
            << DTypeName(type) << " " << bc.Name() << " n_rows=" << n_rows;
        ASSERT_EQ(std::memcmp(yb.data(), alone_b.data(), yb.size() * sizeof(float)), 0)
            << DTypeName(type) << " " << bc.Name() << " n_rows=" << n_rows;
      }
    }
  }
}

}  // namespace
}  // namespace tessera::testing
