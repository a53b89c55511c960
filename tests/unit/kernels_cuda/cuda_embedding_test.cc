// The CUDA backend's embedding lookup against the scalar reference, for
// every weight type and for a vocabulary-parallel rank's slice (id_offset):
// dequantization is exact in both, so the rows must agree bit for bit, and
// ids outside the slice give rows of zeros.
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels_cuda/cuda_test_util.h"

namespace tessera::cuda_testing {
namespace {

using CudaEmbeddingTest = CudaBackendTest;

TEST_F(CudaEmbeddingTest, EveryTypeMatchesReferenceExactly) {
  const int64_t rows = 300;
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    for (int64_t cols : {int64_t{64}, int64_t{4096}}) {
      TestMatrix table = MakeMatrix(*gpu_, type, rows, cols, 21, -2.0f, 2.0f);
      const std::vector<int32_t> tokens = {0, 299, 17, 17, 150, 1, 298, 42, 7, 255, 3};
      std::vector<float> want(tokens.size() * cols);
      const int64_t n = static_cast<int64_t>(tokens.size());
      ref_->Embedding(table.host, tokens.data(), n, 0, want.data());

      auto dtokens = Upload(*gpu_, tokens);
      auto dout = AllocateArray<float>(*gpu_, n * cols);
      gpu_->Embedding(table.device, dtokens.get(), n, 0, dout.get());
      EXPECT_EQ(Download(*gpu_, dout), want) << DTypeName(type) << " cols " << cols;
    }
  }
}

// A rank holding vocabulary rows [1000, 1300) of a larger model: ids in the
// slice read row id - 1000, every other id (below, at the end, far past it)
// is a row of zeros.
TEST_F(CudaEmbeddingTest, VocabularySliceWithIdOffset) {
  const int64_t rows = 300, cols = 128, offset = 1000;
  const std::vector<int32_t> tokens = {1000, 999, 1299, 1300, 0, 1150, 128255, 1001, 5, 1299};
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    TestMatrix table = MakeMatrix(*gpu_, type, rows, cols, 22, -2.0f, 2.0f);
    std::vector<float> want(n * cols);
    ref_->Embedding(table.host, tokens.data(), n, offset, want.data());

    auto dtokens = Upload(*gpu_, tokens);
    auto dout = AllocateArray<float>(*gpu_, n * cols);
    // Garbage first, so rows the kernel skipped would show.
    gpu_->CopyIn(dout.get(), std::vector<float>(n * cols, 7.0f).data(), n * cols * 4);
    gpu_->Embedding(table.device, dtokens.get(), n, offset, dout.get());
    const std::vector<float> got = Download(*gpu_, dout);
    EXPECT_EQ(got, want) << DTypeName(type);
    ASSERT_EQ(got.size(), static_cast<size_t>(n * cols));
    for (int64_t i : {1, 3, 4, 6, 8}) {  // outside [1000, 1300)
      for (int64_t c = 0; c < cols; ++c) {
        ASSERT_EQ(got[i * cols + c], 0.0f) << DTypeName(type) << " token " << tokens[i];
      }
    }
  }
}

// A prefill's worth of tokens from a real-sized vocabulary.
TEST_F(CudaEmbeddingTest, ManyTokensFromALargeTable) {
  const int64_t rows = 128256, cols = 256, n = 3000;
  TestMatrix table = MakeMatrix(*gpu_, DType::kBF16, rows, cols, 23);
  std::vector<int32_t> tokens(n);
  for (int64_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>((i * 7919 + 13) % rows);
  std::vector<float> want(n * cols);
  ref_->Embedding(table.host, tokens.data(), n, 0, want.data());
  auto dtokens = Upload(*gpu_, tokens);
  auto dout = AllocateArray<float>(*gpu_, n * cols);
  gpu_->Embedding(table.device, dtokens.get(), n, 0, dout.get());
  EXPECT_EQ(Download(*gpu_, dout), want);
}

}  // namespace
}  // namespace tessera::cuda_testing
