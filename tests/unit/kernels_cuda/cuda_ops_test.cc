// The CUDA backend's row and element-wise ops against the scalar CPU
// reference: inputs uploaded with CopyIn, results read back with CopyOut,
// for lengths that hit partial warps and blocks, many rows, and real model
// widths (2048, 4096, 14336, a 128256 vocabulary).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels_cuda/cuda_test_util.h"

namespace tessera::cuda_testing {
namespace {

using CudaOpsTest = CudaBackendTest;

// f32 results whose reductions run in another order (a tree over threads
// instead of a serial double sum): a few ulps of the result.
constexpr double kRel = 1e-5;

TEST_F(CudaOpsTest, RmsNormMatchesReference) {
  for (int64_t dim : {1, 7, 64, 100, 2048, 4096, 8192}) {
    for (int64_t n_rows : {1, 3, 70}) {
      const std::vector<float> x = RandomFloats(n_rows * dim, 1, -3.0f, 3.0f);
      const std::vector<float> w = RandomFloats(dim, 2, 0.5f, 1.5f);
      std::vector<float> want(x.size());
      ref_->RmsNorm(x.data(), w.data(), n_rows, dim, 1e-5f, want.data());

      auto dx = Upload(*gpu_, x);
      auto dw = Upload(*gpu_, w);
      auto dout = AllocateArray<float>(*gpu_, n_rows * dim);
      gpu_->RmsNorm(dx.get(), dw.get(), n_rows, dim, 1e-5f, dout.get());
      const std::vector<float> got = Download(*gpu_, dout);
      ASSERT_TRUE(AllNear(got, want, kRel, 1e-7)) << "dim " << dim << " rows " << n_rows;

      // In place: out aliases x.
      gpu_->RmsNorm(dx.get(), dw.get(), n_rows, dim, 1e-5f, dx.get());
      EXPECT_EQ(Download(*gpu_, dx), got) << "dim " << dim << " rows " << n_rows;
    }
  }
}

TEST_F(CudaOpsTest, SoftmaxMatchesReference) {
  for (int64_t n : {1, 5, 33, 1000, 32000, 128256}) {
    std::vector<float> want = RandomFloats(n, 3, -20.0f, 20.0f);
    auto dx = Upload(*gpu_, want);
    ref_->Softmax(want.data(), n);
    gpu_->Softmax(dx.get(), n);
    ASSERT_TRUE(AllNear(Download(*gpu_, dx), want, kRel, 1e-12)) << "n " << n;
  }
}

TEST_F(CudaOpsTest, SoftmaxOfLargeValuesDoesNotOverflow) {
  std::vector<float> want = {1000.0f, 1000.0f, 999.0f, -1000.0f, 1000.0f, 88.0f, 1000.0f, -3e38f};
  auto dx = Upload(*gpu_, want);
  ref_->Softmax(want.data(), static_cast<int64_t>(want.size()));
  gpu_->Softmax(dx.get(), static_cast<int64_t>(want.size()));
  const std::vector<float> got = Download(*gpu_, dx);
  ASSERT_TRUE(AllNear(got, want, kRel, 1e-12));
  EXPECT_EQ(got[3], 0.0f);
}

TEST_F(CudaOpsTest, SiluMulMatchesReference) {
  for (int64_t n : {1, 9, 2816, 14336 * 3, 70001}) {
    const std::vector<float> g = RandomFloats(n, 4, -12.0f, 12.0f);
    const std::vector<float> u = RandomFloats(n, 5, -2.0f, 2.0f);
    std::vector<float> want(static_cast<size_t>(n));
    ref_->SiluMul(g.data(), u.data(), n, want.data());

    auto dg = Upload(*gpu_, g);
    auto du = Upload(*gpu_, u);
    auto dout = AllocateArray<float>(*gpu_, n);
    gpu_->SiluMul(dg.get(), du.get(), n, dout.get());
    const std::vector<float> got = Download(*gpu_, dout);
    ASSERT_TRUE(AllNear(got, want, 4 * kRel, 1e-30)) << "n " << n;
    gpu_->SiluMul(dg.get(), du.get(), n, dg.get());  // out aliases gate
    EXPECT_EQ(Download(*gpu_, dg), got) << "n " << n;
  }
}

// One f32 addition per element: exactly the reference's bits.
TEST_F(CudaOpsTest, AddAndAddBiasAreExact) {
  for (int64_t n : {1, 13, 100003}) {
    std::vector<float> want = RandomFloats(n, 6);
    const std::vector<float> y = RandomFloats(n, 7);
    auto dx = Upload(*gpu_, want);
    auto dy = Upload(*gpu_, y);
    ref_->Add(want.data(), y.data(), n);
    gpu_->Add(dx.get(), dy.get(), n);
    EXPECT_EQ(Download(*gpu_, dx), want) << "n " << n;
  }
  for (int64_t n_rows : {1, 3, 200}) {
    for (int64_t n : {int64_t{515}, int64_t{4096}}) {
      std::vector<float> want = RandomFloats(n_rows * n, 8);
      const std::vector<float> bias = RandomFloats(n, 9);
      auto dx = Upload(*gpu_, want);
      auto db = Upload(*gpu_, bias);
      ref_->AddBias(want.data(), bias.data(), n_rows, n);
      gpu_->AddBias(dx.get(), db.get(), n_rows, n);
      EXPECT_EQ(Download(*gpu_, dx), want) << "rows " << n_rows << " n " << n;
    }
  }
}

// Rope over both orderings, whole and partial rotation, linear scaling and
// Llama 3 frequency factors (uploaded: the op reads them from device
// memory), at positions up to a 128k context. The reference computes each
// angle in double; a GPU doing the same (or as accurately) differs only by
// the final f32 rotation's rounding. An angle formed in f32 would be off by
// ~1e-2 radians at position 1e5, which this catches.
TEST_F(CudaOpsTest, RopeMatchesReference) {
  const std::vector<int32_t> positions = {0, 1, 5, 17, 1000, 4095, 8191, 100000, 131071};
  const int64_t n_rows = static_cast<int64_t>(positions.size());
  auto dpos = Upload(*gpu_, positions);
  struct Case {
    int64_t n_heads, head_dim, rope_dims;
    float theta, linear_scale;
    bool factors;
  };
  const Case cases[] = {
      {4, 64, 64, 10000.0f, 1.0f, false},    // llama 2
      {8, 128, 128, 500000.0f, 1.0f, true},  // llama 3 with rope_freqs
      {3, 40, 22, 500000.0f, 4.0f, true},    // partial rotation, linear scaling
      {2, 32, 32, 1000000.0f, 8.0f, false},
      {5, 80, 80, 10000.0f, 1.0f, false},    // head_dim not a power of two
  };
  for (const Case& c : cases) {
    for (bool neox : {false, true}) {
      const std::vector<float> factors = RandomFloats(c.rope_dims / 2, 10, 1.0f, 8.0f);
      auto dfactors = Upload(*gpu_, factors);
      RopeParams p;
      p.theta = c.theta;
      p.linear_scale = c.linear_scale;
      p.neox = neox;
      p.rope_dims = c.rope_dims;

      std::vector<float> want = RandomFloats(n_rows * c.n_heads * c.head_dim, 11);
      auto dx = Upload(*gpu_, want);
      p.freq_factors = c.factors ? factors.data() : nullptr;
      ref_->Rope(want.data(), n_rows, c.n_heads, c.head_dim, positions.data(), p);
      p.freq_factors = c.factors ? dfactors.get() : nullptr;
      gpu_->Rope(dx.get(), n_rows, c.n_heads, c.head_dim, dpos.get(), p);
      // Inputs are in [-1, 1]: 1e-5 is a few ulps of the outputs' scale.
      ASSERT_TRUE(AllNear(Download(*gpu_, dx), want, 0.0, 1e-5))
          << "heads " << c.n_heads << " head_dim " << c.head_dim << " rope_dims " << c.rope_dims
          << " neox " << neox << " factors " << c.factors << " scale " << c.linear_scale;
    }
  }
}

// Prefill-sized batches: many rows of consecutive positions at once.
TEST_F(CudaOpsTest, RopeOfManyRowsMatchesReference) {
  const int64_t n_rows = 2048, n_heads = 32, head_dim = 128;
  std::vector<int32_t> positions(n_rows);
  for (int64_t r = 0; r < n_rows; ++r) positions[r] = static_cast<int32_t>(r + 7);
  RopeParams p;
  p.theta = 500000.0f;
  p.rope_dims = head_dim;
  std::vector<float> want = RandomFloats(n_rows * n_heads * head_dim, 12);
  auto dx = Upload(*gpu_, want);
  auto dpos = Upload(*gpu_, positions);
  ref_->Rope(want.data(), n_rows, n_heads, head_dim, positions.data(), p);
  gpu_->Rope(dx.get(), n_rows, n_heads, head_dim, dpos.get(), p);
  EXPECT_TRUE(AllNear(Download(*gpu_, dx), want, 0.0, 1e-5));
}

}  // namespace
}  // namespace tessera::cuda_testing
