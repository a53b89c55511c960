// Shared by the NCCL communicator's tests: GPU detection (GPU tests skip
// where none is visible), device buffers, and running ranks on threads under
// a watchdog, since a hang is exactly the failure these tests look for.
#pragma once

#include <cuda_runtime.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace tessera::nccl_test {

inline bool GpuVisible() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
}

#define TESSERA_SKIP_WITHOUT_GPU()                                        \
  do {                                                                    \
    if (!::tessera::nccl_test::GpuVisible()) {                            \
      GTEST_SKIP() << "no CUDA device is visible: NCCL tests need a GPU"; \
    }                                                                     \
  } while (0)

// `n` elements of T in device memory on the current device.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (cudaMalloc(&p_, n * sizeof(T)) != cudaSuccess) p_ = nullptr;
  }
  ~DeviceBuffer() {
    if (p_ != nullptr) (void)cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  bool ok() const { return p_ != nullptr; }
  std::span<T> span() { return std::span<T>(p_, n_); }
  std::span<std::byte> bytes() { return std::as_writable_bytes(span()); }

  // cudaMemcpy from pageable memory may return before its DMA has landed, and
  // the communicator's non-blocking stream does not wait for the legacy
  // stream that DMA runs on: the device sync is this test's "Finish" (the
  // communicator's contract: the caller has finished writing the buffer).
  bool Upload(const std::vector<T>& v) {
    return v.size() == n_ && cudaMemcpy(p_, v.data(), n_ * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess &&
           cudaDeviceSynchronize() == cudaSuccess;
  }
  std::vector<T> Download() const {
    std::vector<T> v(n_);
    if (cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) v.clear();
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// Runs fn(rank) for ranks 0..n-1, each on its own thread, and returns the
// results by rank. If they have not all returned within `limit`, the test
// binary aborts: a hung thread cannot be joined, and a hang is the failure.
template <typename T>
std::vector<T> RunRanks(int n, absl::Duration limit, std::function<T(int)> fn) {
  struct Shared {
    std::mutex mu;
    std::condition_variable done_cv;
    int done = 0;
    std::vector<std::optional<T>> results;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.resize(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([shared, fn, r] {
      T result = fn(r);
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->results[r].emplace(std::move(result));
      ++shared->done;
      shared->done_cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(shared->mu);
    const bool all =
        shared->done_cv.wait_for(lock, absl::ToChronoMilliseconds(limit), [&] { return shared->done == n; });
    if (!all) {
      std::fprintf(stderr, "watchdog: %d of %d ranks still running after %s: a hang\n", n - shared->done, n,
                   absl::FormatDuration(limit).c_str());
      std::abort();
    }
  }
  for (std::thread& t : threads) t.join();
  std::vector<T> out;
  for (auto& r : shared->results) out.push_back(std::move(*r));
  return out;
}

}  // namespace tessera::nccl_test
