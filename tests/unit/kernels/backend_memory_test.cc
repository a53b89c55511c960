// The CPU backend's memory: Allocate gives aligned host memory that stays
// untouched until written, the copies move exactly the bytes asked, sizes that
// cannot be had are errors, and Resident is views of the model's own data.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "model/model_weights.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

std::unique_ptr<Backend> Cpu() { return MakeBackend(BackendCases()[0]); }

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + 31 * i);
  return v;
}

TEST(BackendMemoryTest, RoundTripThroughCopyInCopyZeroCopyOut) {
  auto backend = Cpu();
  EXPECT_TRUE(backend->host_memory());
  const size_t n = 1000;  // not a multiple of the alignment
  absl::StatusOr<BackendBuffer> a = backend->Allocate(n);
  absl::StatusOr<BackendBuffer> b = backend->Allocate(n);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_NE(a->get(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a->get()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->get()) % 64, 0u);

  const std::vector<uint8_t> src = Pattern(n, 7);
  backend->CopyIn(a->get(), src.data(), n);
  backend->Copy(b->get(), a->get(), n);
  // Zero a stretch in the middle of the copy only.
  backend->Zero(static_cast<uint8_t*>(b->get()) + 100, 300);
  std::vector<uint8_t> got_a(n, 0xee), got_b(n, 0xee);
  ASSERT_TRUE(backend->CopyOut(got_a.data(), a->get(), n).ok());
  ASSERT_TRUE(backend->CopyOut(got_b.data(), b->get(), n).ok());
  EXPECT_TRUE(backend->Finish().ok());
  EXPECT_EQ(got_a, src);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(got_b[i], i >= 100 && i < 400 ? 0 : src[i]) << i;
  }
}

TEST(BackendMemoryTest, ZeroBytesIsAValidHandleAndBadSizesAreErrors) {
  auto backend = Cpu();
  absl::StatusOr<BackendBuffer> empty = backend->Allocate(0);
  EXPECT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(backend->Allocate(-1).status().code(), absl::StatusCode::kInvalidArgument);
  for (int64_t absurd : {int64_t{1} << 62, std::numeric_limits<int64_t>::max()}) {
    absl::StatusOr<BackendBuffer> big = backend->Allocate(absurd);
    EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << absurd;
    EXPECT_NE(big.status().message().find(std::to_string(absurd)), std::string::npos) << big.status();
  }
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TESSERA_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define TESSERA_SANITIZED 1
#endif
#endif

// Resident set size of this process, from /proc/self/statm (pages).
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4096;
}

TEST(BackendMemoryTest, AnUntouchedAllocationCostsNoResidentMemory) {
#ifdef TESSERA_SANITIZED
  GTEST_SKIP() << "a sanitizer's allocator touches (shadow) memory of its own";
#else
  auto backend = Cpu();
  const int64_t before = ResidentBytes();
  const int64_t size = int64_t{1} << 30;
  absl::StatusOr<BackendBuffer> kv = backend->Allocate(size);
  ASSERT_TRUE(kv.ok()) << kv.status();
  const int64_t grown = ResidentBytes() - before;
  // An idle KV cache is mostly never written; allocating it must not fault
  // its pages in (a memset would cost the whole GiB).
  EXPECT_LT(grown, 64 << 20) << "resident memory grew by " << grown << " bytes";
  // Writing the first page works (the memory is really there).
  backend->Zero(kv->get(), 4096);
#endif
}

TEST(BackendMemoryTest, ResidentWeightsAreViewsOfTheModel) {
  const TestMatrix embd = MakeMatrix(DType::kQ8_0, 10, 64, 1);
  const TestMatrix mats[7] = {MakeMatrix(DType::kF16, 64, 64, 2), MakeMatrix(DType::kF16, 32, 64, 3),
                              MakeMatrix(DType::kF16, 32, 64, 4), MakeMatrix(DType::kF16, 64, 64, 5),
                              MakeMatrix(DType::kQ4_0, 96, 64, 6), MakeMatrix(DType::kQ4_0, 96, 64, 7),
                              MakeMatrix(DType::kQ4_0, 64, 96, 8)};
  ModelWeights w;
  w.token_embd = embd.view;
  w.output = embd.view;  // tied
  w.output_norm.assign(64, 1.0f);
  for (int l = 0; l < 2; ++l) {
    LayerWeights lw;
    lw.attn_norm.assign(64, 0.5f);
    lw.ffn_norm.assign(64, 2.0f);
    lw.wq = mats[0].view;
    lw.wk = mats[1].view;
    lw.wv = mats[2].view;
    lw.wo = mats[3].view;
    lw.w_gate = mats[4].view;
    lw.w_up = mats[5].view;
    lw.w_down = mats[6].view;
    if (l == 1) {  // biases on one layer only
      lw.bq.assign(64, 0.1f);
      lw.bk.assign(32, 0.2f);
      lw.bv.assign(32, 0.3f);
    }
    w.layers.push_back(std::move(lw));
  }

  absl::StatusOr<std::unique_ptr<ResidentWeights>> r = Cpu()->Resident(w);
  ASSERT_TRUE(r.ok()) << r.status();
  const ResidentWeights& rw = **r;
  EXPECT_EQ(rw.device_bytes, 0);
  EXPECT_EQ(rw.token_embd.data, w.token_embd.data);
  EXPECT_EQ(rw.token_embd.rows, 10);
  EXPECT_EQ(rw.token_embd.type, DType::kQ8_0);
  EXPECT_EQ(rw.output.data, w.output.data);
  EXPECT_EQ(rw.output_norm, w.output_norm.data());
  EXPECT_EQ(rw.rope_freqs, nullptr);
  ASSERT_EQ(rw.layers.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    const LayerWeights& in = w.layers[l];
    const ResidentLayer& out = rw.layers[l];
    EXPECT_EQ(out.attn_norm, in.attn_norm.data());
    EXPECT_EQ(out.ffn_norm, in.ffn_norm.data());
    EXPECT_EQ(out.wq.data, in.wq.data);
    EXPECT_EQ(out.wk.data, in.wk.data);
    EXPECT_EQ(out.wv.data, in.wv.data);
    EXPECT_EQ(out.wo.data, in.wo.data);
    EXPECT_EQ(out.w_gate.data, in.w_gate.data);
    EXPECT_EQ(out.w_up.data, in.w_up.data);
    EXPECT_EQ(out.w_down.data, in.w_down.data);
    EXPECT_EQ(out.w_down.cols, 96);
    EXPECT_EQ(out.bq, l == 1 ? in.bq.data() : nullptr);
    EXPECT_EQ(out.bk, l == 1 ? in.bk.data() : nullptr);
    EXPECT_EQ(out.bv, l == 1 ? in.bv.data() : nullptr);
  }
}

}  // namespace
}  // namespace tessera::testing
