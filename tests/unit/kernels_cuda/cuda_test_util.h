// Shared helpers of the CUDA backend's tests: a fixture that skips where no
// GPU is visible and otherwise holds the GPU backend and the scalar CPU
// reference, typed buffers in backend memory, and random data. Every check
// runs the same op on both backends and compares the results.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/factory/backend_factory.h"
#include "model/dtype.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/matrix_view.h"
#include "model/model.h"
#include "model/model_maker.h"
#include "model/quant.h"
#include "tests/unit/kernels/kernel_test_util.h"
#include "tests/unit/worker/test_model.h"

// A namespace of its own: tests/unit/kernels/kernel_test_util.h has other
// helpers of the same names (MakeMatrix, TestMatrix) in tessera::testing.
namespace tessera::cuda_testing {

using tessera::testing::MakeTestModel;
using tessera::testing::RandomFloats;

// A buffer of n values of T in a backend's memory.
template <typename T>
struct DeviceArray {
  BackendBuffer buffer;
  int64_t n = 0;
  T* get() const { return static_cast<T*>(buffer.get()); }
};

template <typename T>
DeviceArray<T> AllocateArray(Backend& b, int64_t n) {
  DeviceArray<T> a;
  auto buf = b.Allocate(n * static_cast<int64_t>(sizeof(T)));
  EXPECT_TRUE(buf.ok()) << buf.status();
  if (buf.ok()) a.buffer = *std::move(buf);
  a.n = buf.ok() ? n : 0;
  return a;
}

template <typename T>
DeviceArray<T> Upload(Backend& b, const std::vector<T>& host) {
  DeviceArray<T> a = AllocateArray<T>(b, static_cast<int64_t>(host.size()));
  if (a.n > 0) b.CopyIn(a.get(), host.data(), a.n * static_cast<int64_t>(sizeof(T)));
  return a;
}

// The n values at `src`; a failed CopyOut (the sticky device error) is a
// test failure and gives an empty vector.
template <typename T>
std::vector<T> Download(Backend& b, const T* src, int64_t n) {
  std::vector<T> host(static_cast<size_t>(n));
  const absl::Status st = b.CopyOut(host.data(), src, n * static_cast<int64_t>(sizeof(T)));
  EXPECT_TRUE(st.ok()) << st;
  if (!st.ok()) host.clear();
  return host;
}

template <typename T>
std::vector<T> Download(Backend& b, const DeviceArray<T>& a) {
  return Download(b, a.get(), a.n);
}

// A rows x cols weight matrix of `type` from random values: its encoded
// bytes on the host (what the reference backend reads) and a copy of them in
// the GPU backend's memory.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  MatrixView host;
  DeviceArray<uint8_t> device_bytes;
  MatrixView device;
};

inline TestMatrix MakeMatrix(Backend& gpu, DType type, int64_t rows, int64_t cols, uint32_t seed,
                             float lo = -1.0f, float hi = 1.0f) {
  TestMatrix m;
  const int64_t row_bytes = RowBytes(type, cols).value();
  m.bytes.resize(static_cast<size_t>(rows * row_bytes));
  const std::vector<float> src = RandomFloats(rows * cols, seed, lo, hi);
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(type, src.data() + r * cols, cols, m.bytes.data() + r * row_bytes);
  }
  m.host = MatrixView{type, m.bytes.data(), rows, cols, row_bytes};
  m.device_bytes = Upload(gpu, m.bytes);
  m.device = MatrixView{type, m.device_bytes.get(), rows, cols, row_bytes};
  return m;
}

// Largest |a - b| over |b|'s largest value (0 when b is all zeros): the
// scale-free error measure of the tolerances below.
inline double MaxRelativeDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

// Every |got[i] - want[i]| <= rel * |want[i]| + abs; reports the first
// element that is not (and how many are not) as one failure.
inline ::testing::AssertionResult AllNear(const std::vector<float>& got, const std::vector<float>& want,
                                          double rel, double abs) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << want.size();
  }
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = rel * std::fabs(static_cast<double>(want[i])) + abs;
    // Written so that a NaN on either side counts as a mismatch.
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= tol)) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ; first at " << first
                                       << ": got " << got[first] << ", want " << want[first] << " (tolerance "
                                       << rel << " relative + " << abs << " absolute)";
}

// Skips the test where this process sees no GPU; otherwise `gpu_` is the
// CUDA backend of GPU 0 (through the backend factory, as workers make it)
// and `ref_` the scalar CPU reference every result is compared with.
class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) {
      GTEST_SKIP() << "no GPU visible to this process (no driver or no device): CUDA backend not tested";
    }
    auto gpu = tessera::MakeBackend(DeviceSpec{DeviceSpec::Kind::kCuda, 0}, {});
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    gpu_ = *std::move(gpu);
    ref_ = MakeCpuBackend({.threads = 1, .isa = CpuIsa::kScalar});
  }

  // No op may leave a sticky device error behind.
  void TearDown() override {
    if (gpu_ != nullptr) {
      const absl::Status st = gpu_->Finish();
      { EXPECT_TRUE(st.ok()) << st; }
    }
  }

  std::unique_ptr<Backend> gpu_;
  std::unique_ptr<Backend> ref_;
};

}  // namespace tessera::cuda_testing
