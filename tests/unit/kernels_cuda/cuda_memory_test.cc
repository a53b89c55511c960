// The CUDA backend's memory: allocations in device memory, aligned, freed
// with their handles; CopyIn/Copy/CopyOut/Zero round trips; a failed
// allocation that is an answer, not a sticky fault; ordering of queued ops
// before CopyOut; and Resident weights that live on the device with the
// host's bytes.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/resident_weights.h"
#include "tests/unit/kernels_cuda/cuda_test_util.h"

namespace tessera::cuda_testing {
namespace {

using CudaMemoryTest = CudaBackendTest;

bool IsDeviceMemory(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();  // not a CUDA pointer at all: clear the error
    return false;
  }
  return attr.type == cudaMemoryTypeDevice;
}

std::vector<uint8_t> RandomBytes(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST_F(CudaMemoryTest, IsDeviceMemoryNotHostMemory) {
  EXPECT_FALSE(gpu_->host_memory());
  EXPECT_FALSE(gpu_->name().empty());
  auto buf = gpu_->Allocate(4096);
  ASSERT_TRUE(buf.ok()) << buf.status();
  EXPECT_TRUE(IsDeviceMemory(buf->get()));
}

TEST_F(CudaMemoryTest, RoundTripsThroughCopyInCopyAndCopyOut) {
  for (int64_t n : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{4097}, int64_t{(1 << 20) + 3},
                    int64_t{64} << 20}) {
    auto a = gpu_->Allocate(n);
    auto b = gpu_->Allocate(n);
    ASSERT_TRUE(a.ok() && b.ok()) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a->get()) % 64, 0u) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b->get()) % 64, 0u) << n;
    const std::vector<uint8_t> src = RandomBytes(n, static_cast<uint32_t>(n));
    gpu_->CopyIn(a->get(), src.data(), n);
    gpu_->Copy(b->get(), a->get(), n);
    std::vector<uint8_t> back(static_cast<size_t>(n));
    ASSERT_TRUE(gpu_->CopyOut(back.data(), b->get(), n).ok());
    EXPECT_TRUE(back == src) << n << " bytes";
  }
}

// Copies between unaligned offsets, and a zeroed range inside a buffer: the
// bytes either side stay as they were.
TEST_F(CudaMemoryTest, UnalignedCopiesAndZeroTouchOnlyTheirRange) {
  const int64_t n = 100003;
  auto a = gpu_->Allocate(n);
  auto b = gpu_->Allocate(n);
  ASSERT_TRUE(a.ok() && b.ok());
  auto* pa = static_cast<uint8_t*>(a->get());
  auto* pb = static_cast<uint8_t*>(b->get());
  const std::vector<uint8_t> src = RandomBytes(n, 1), other = RandomBytes(n, 2);
  gpu_->CopyIn(pa, src.data(), n);
  gpu_->CopyIn(pb, other.data(), n);
  gpu_->Copy(pb + 3, pa + 5, n - 11);
  gpu_->Zero(pa + 13, n - 20);
  std::vector<uint8_t> got_a(n), got_b(n);
  ASSERT_TRUE(gpu_->CopyOut(got_a.data(), pa, n).ok());
  ASSERT_TRUE(gpu_->CopyOut(got_b.data(), pb, n).ok());
  std::vector<uint8_t> want_a(n), want_b(n);
  for (int64_t i = 0; i < n; ++i) {
    want_a[i] = i >= 13 && i < n - 7 ? 0 : src[i];       // zeroed [13, n - 7)
    want_b[i] = i >= 3 && i < n - 8 ? src[i + 2] : other[i];  // [3, n - 8) from src + 5
  }
  EXPECT_TRUE(got_a == want_a);
  EXPECT_TRUE(got_b == want_b);
  // A CopyOut of part of a buffer, at an offset.
  std::vector<uint8_t> part(1000);
  ASSERT_TRUE(gpu_->CopyOut(part.data(), pb + 777, 1000).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), want_b.begin() + 777));
}

TEST_F(CudaMemoryTest, ZeroBytesIsAValidEmptyHandle) {
  auto buf = gpu_->Allocate(0);
  ASSERT_TRUE(buf.ok()) << buf.status();
  uint8_t host = 42;
  gpu_->CopyIn(buf->get(), &host, 0);
  gpu_->Zero(buf->get(), 0);
  EXPECT_TRUE(gpu_->CopyOut(&host, buf->get(), 0).ok());
  EXPECT_EQ(host, 42);
  EXPECT_TRUE(gpu_->Finish().ok());
}

// Asking for more than the card has is ResourceExhausted, and only that: the
// backend keeps working (the CUDA runtime's error must not surface later as
// a sticky device fault).
TEST_F(CudaMemoryTest, FailedAllocationIsAnAnswerNotAFault) {
  auto huge = gpu_->Allocate(int64_t{1} << 50);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_FALSE(huge.status().message().empty());

  std::vector<float> x = RandomFloats(1000, 3);
  const std::vector<float> y = RandomFloats(1000, 4);
  auto dx = Upload(*gpu_, x);
  auto dy = Upload(*gpu_, y);
  gpu_->Add(dx.get(), dy.get(), 1000);
  const absl::Status finished = gpu_->Finish();
  ASSERT_TRUE(finished.ok()) << finished;
  for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  EXPECT_EQ(Download(*gpu_, dx), x);
}

// Memory goes back when its handle goes: 200 x 1 GiB would not fit on any
// card if it did not.
TEST_F(CudaMemoryTest, BuffersAreFreedWithTheirHandles) {
  for (int i = 0; i < 200; ++i) {
    auto buf = gpu_->Allocate(int64_t{1} << 30);
    ASSERT_TRUE(buf.ok()) << "allocation " << i << ": " << buf.status();
    gpu_->Zero(buf->get(), int64_t{1} << 30);
  }
  EXPECT_TRUE(gpu_->Finish().ok());
}

// Ops queue on the device; CopyOut waits for every one before it.
TEST_F(CudaMemoryTest, CopyOutSeesEveryQueuedOp) {
  const int64_t n = 1 << 22;
  std::vector<float> x = RandomFloats(n, 5);
  const std::vector<float> y = RandomFloats(n, 6);
  auto dx = Upload(*gpu_, x);
  auto dy = Upload(*gpu_, y);
  for (int i = 0; i < 50; ++i) {
    gpu_->Add(dx.get(), dy.get(), n);
    for (int64_t j = 0; j < n; ++j) x[j] += y[j];
  }
  EXPECT_EQ(Download(*gpu_, dx), x);
}

// Resident weights: every matrix and vector in device memory with exactly
// the host's bytes and shapes, and device_bytes counting them.
void CheckResident(Backend& gpu, const ModelSpec& spec) {
  auto model = MakeTestModel(spec);
  ASSERT_NE(model, nullptr);
  const ModelWeights& w = model->weights;
  auto resident = gpu.Resident(w);
  ASSERT_TRUE(resident.ok()) << resident.status();
  const ResidentWeights& r = **resident;

  int64_t matrix_bytes = 0;
  auto check_matrix = [&](const MatrixView& got, const MatrixView& want, const std::string& what) {
    EXPECT_EQ(got.type, want.type) << what;
    EXPECT_EQ(got.rows, want.rows) << what;
    EXPECT_EQ(got.cols, want.cols) << what;
    EXPECT_EQ(got.row_bytes, want.row_bytes) << what;
    ASSERT_TRUE(IsDeviceMemory(got.data)) << what << " is not in device memory";
    const int64_t n = want.rows * want.row_bytes;
    matrix_bytes += n;
    std::vector<uint8_t> back(static_cast<size_t>(n));
    ASSERT_TRUE(gpu.CopyOut(back.data(), got.data, n).ok()) << what;
    EXPECT_EQ(std::memcmp(back.data(), want.data, n), 0) << what << " differs from the host's bytes";
  };
  auto check_vector = [&](const float* got, const std::vector<float>& want, const std::string& what) {
    if (want.empty()) {
      EXPECT_EQ(got, nullptr) << what;
      return;
    }
    ASSERT_TRUE(IsDeviceMemory(got)) << what << " is not in device memory";
    EXPECT_EQ(Download(gpu, got, static_cast<int64_t>(want.size())), want) << what;
  };

  const std::string type(DTypeName(spec.type));
  check_matrix(r.token_embd, w.token_embd, type + " token_embd");
  check_matrix(r.output, w.output, type + " output");
  check_vector(r.output_norm, w.output_norm, type + " output_norm");
  check_vector(r.rope_freqs, w.rope_freqs, type + " rope_freqs");
  ASSERT_EQ(r.layers.size(), w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const ResidentLayer& rl = r.layers[l];
    const LayerWeights& wl = w.layers[l];
    const std::string p = type + " layer " + std::to_string(l) + " ";
    check_matrix(rl.wq, wl.wq, p + "wq");
    check_matrix(rl.wk, wl.wk, p + "wk");
    check_matrix(rl.wv, wl.wv, p + "wv");
    check_matrix(rl.wo, wl.wo, p + "wo");
    check_matrix(rl.w_gate, wl.w_gate, p + "w_gate");
    check_matrix(rl.w_up, wl.w_up, p + "w_up");
    check_matrix(rl.w_down, wl.w_down, p + "w_down");
    check_vector(rl.attn_norm, wl.attn_norm, p + "attn_norm");
    check_vector(rl.ffn_norm, wl.ffn_norm, p + "ffn_norm");
    check_vector(rl.bq, wl.bq, p + "bq");
    check_vector(rl.bk, wl.bk, p + "bk");
    check_vector(rl.bv, wl.bv, p + "bv");
  }
  // Tied output and embedding may share one copy; every other matrix is
  // counted once.
  if (spec.tied_output) matrix_bytes -= w.output.rows * w.output.row_bytes;
  EXPECT_GE(r.device_bytes, matrix_bytes) << type;
}

TEST_F(CudaMemoryTest, ResidentWeightsLiveOnTheDeviceWithTheHostsBytes) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    ModelSpec spec;
    spec.type = t;
    CheckResident(*gpu_, spec);
    if (HasFatalFailure()) return;
  }
  ModelSpec tied;
  tied.tied_output = true;
  CheckResident(*gpu_, tied);
  ModelSpec qwen;  // QKV biases
  qwen.arch = Arch::kQwen2;
  qwen.type = DType::kQ8_0;
  CheckResident(*gpu_, qwen);
}

}  // namespace
}  // namespace tessera::cuda_testing
