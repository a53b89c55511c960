// MatMulShared (one input, several matrices) must give exactly what separate
// MatMul calls give, on every backend, thread count and weight type, on both
// the fused GEMV path and the GEMM path it defers to.
#include <vector>

#include "gtest/gtest.h"
#include "kernel_test_util.h"

namespace tessera {
namespace {

using testing::BackendCases;
using testing::MakeBackend;
using testing::MakeMatrix;
using testing::RandomFloats;

TEST(MatMulSharedTest, EqualsSeparateProducts) {
  for (const auto& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
      const int64_t cols = 96;
      // Row counts that do not divide evenly between threads, one tiny matrix.
      const std::vector<int64_t> rows = {70, 3, 129};
      std::vector<testing::TestMatrix> mats;
      for (size_t i = 0; i < rows.size(); ++i) mats.push_back(MakeMatrix(type, rows[i], cols, 100 + i));
      for (int64_t n_rows : {1, 2, 5, 24}) {
        const std::vector<float> x = RandomFloats(n_rows * cols, 7 + n_rows);
        std::vector<std::vector<float>> fused(rows.size()), separate(rows.size());
        std::vector<const MatrixView*> ws;
        std::vector<float*> ys;
        for (size_t i = 0; i < rows.size(); ++i) {
          fused[i].assign(n_rows * rows[i], -1.0f);
          separate[i].assign(n_rows * rows[i], -2.0f);
          ws.push_back(&mats[i].view);
          ys.push_back(fused[i].data());
          backend->MatMul(mats[i].view, x.data(), n_rows, separate[i].data());
        }
        backend->MatMulShared(ws, x.data(), n_rows, ys);
        for (size_t i = 0; i < rows.size(); ++i) {
          EXPECT_EQ(fused[i], separate[i]) << bc.Name() << " " << DTypeName(type) << " matrix " << i
                                           << " n_rows " << n_rows;
        }
      }
    }
  }
}

// Matrices of different types cannot share the input's quantization: the
// call must still be right (it falls back to one product at a time).
TEST(MatMulSharedTest, MixedTypesFallBack) {
  auto backend = MakeCpuBackend({.threads = 2});
  auto a = MakeMatrix(DType::kQ8_0, 40, 64, 1);
  auto b = MakeMatrix(DType::kF16, 24, 64, 2);
  const std::vector<float> x = RandomFloats(64, 3);
  std::vector<float> ya(40), yb(24), ra(40), rb(24);
  const MatrixView* ws[] = {&a.view, &b.view};
  float* ys[] = {ya.data(), yb.data()};
  backend->MatMulShared(ws, x.data(), 1, ys);
  backend->MatMul(a.view, x.data(), 1, ra.data());
  backend->MatMul(b.view, x.data(), 1, rb.data());
  EXPECT_EQ(ya, ra);
  EXPECT_EQ(yb, rb);
}

}  // namespace
}  // namespace tessera
