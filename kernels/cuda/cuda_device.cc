// Which GPUs there are and how fast one measures: the device profile the
// partitioner weighs ranks by (memory, copy bandwidth, BF16 GEMM throughput).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"

namespace tessera {
namespace {

using cuda::CudaErrorText;

// Device-to-device copy: 256 MiB each way, timed over several copies after a
// warm-up (the first copy pays for page mapping).
constexpr int64_t kCopyBytes = int64_t{256} << 20;
constexpr int kCopyReps = 10;
// Square BF16 GEMM: 8192^3 keeps the tensor cores busy long enough for the
// clocks to settle; 4096 if the device has too little free memory for it.
constexpr int kGemmReps = 5;

// Restores the calling thread's current device when the query is done, so
// asking about GPU 1 does not move a caller that works on GPU 0.
class DeviceGuard {
 public:
  explicit DeviceGuard(int ordinal) {
    if (cudaGetDevice(&saved_) != cudaSuccess) saved_ = -1;
    cudaSetDevice(ordinal);
  }
  ~DeviceGuard() {
    if (saved_ >= 0) cudaSetDevice(saved_);
  }

 private:
  int saved_ = -1;
};

// Frees what the measurements allocated, whatever path they leave by.
struct MeasureResources {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cublasHandle_t blas = nullptr;
  void* a = nullptr;
  void* b = nullptr;
  void* c = nullptr;
  ~MeasureResources() {
    if (stream != nullptr) cudaStreamSynchronize(stream);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    if (blas != nullptr) cublasDestroy(blas);
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

absl::Status CudaStatus(cudaError_t e, int ordinal, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  // Reported here; not left on the thread for a backend's next launch check.
  (void)cudaGetLastError();
  return absl::InternalError(absl::StrCat("measuring cuda:", ordinal, ": ", what, ": ", CudaErrorText(e)));
}

// Seconds between the two recorded events.
absl::StatusOr<double> Elapsed(MeasureResources& r, int ordinal) {
  if (absl::Status s = CudaStatus(cudaEventSynchronize(r.stop), ordinal, "timed run"); !s.ok()) return s;
  float ms = 0.0f;
  if (absl::Status s = CudaStatus(cudaEventElapsedTime(&ms, r.start, r.stop), ordinal, "event timing"); !s.ok()) {
    return s;
  }
  return static_cast<double>(ms) * 1e-3;
}

// Bytes read plus bytes written per second by cudaMemcpyAsync device to
// device.
absl::StatusOr<double> MeasureCopy(MeasureResources& r, int ordinal) {
  if (absl::Status s = CudaStatus(cudaMalloc(&r.a, kCopyBytes), ordinal, "copy buffers"); !s.ok()) return s;
  if (absl::Status s = CudaStatus(cudaMalloc(&r.b, kCopyBytes), ordinal, "copy buffers"); !s.ok()) return s;
  cudaMemsetAsync(r.a, 1, kCopyBytes, r.stream);
  cudaMemcpyAsync(r.b, r.a, kCopyBytes, cudaMemcpyDeviceToDevice, r.stream);  // warm-up
  cudaEventRecord(r.start, r.stream);
  for (int i = 0; i < kCopyReps; ++i) cudaMemcpyAsync(r.b, r.a, kCopyBytes, cudaMemcpyDeviceToDevice, r.stream);
  cudaEventRecord(r.stop, r.stream);
  absl::StatusOr<double> secs = Elapsed(r, ordinal);
  if (!secs.ok()) return secs.status();
  cudaFree(r.a);
  cudaFree(r.b);
  r.a = r.b = nullptr;
  return 2.0 * static_cast<double>(kCopyBytes) * kCopyReps / *secs;
}

// Fills n BF16 values with uniform noise in [-1, 1]: constant data would
// toggle fewer bits and flatter the tensor cores' clocks.
absl::Status FillRandomBf16(void* dst, int64_t n, int ordinal) {
  constexpr int64_t kChunk = int64_t{1} << 22;
  std::vector<__nv_bfloat16> host(static_cast<size_t>(std::min(n, kChunk)));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (__nv_bfloat16& v : host) v = __float2bfloat16(dist(rng));
  auto* out = static_cast<__nv_bfloat16*>(dst);
  for (int64_t done = 0; done < n; done += kChunk) {
    const int64_t count = std::min(kChunk, n - done);
    absl::Status s = CudaStatus(cudaMemcpy(out + done, host.data(), static_cast<size_t>(count) * sizeof(__nv_bfloat16),
                                           cudaMemcpyHostToDevice),
                                ordinal, "filling GEMM operands");
    if (!s.ok()) return s;
  }
  // A pageable copy may return before its DMA lands; the GEMM runs on a
  // non-blocking stream that would not wait for it.
  return CudaStatus(cudaDeviceSynchronize(), ordinal, "filling GEMM operands");
}

// FLOP/s (2 n^3 per product) of cuBLAS's BF16 GEMM with f32 accumulation.
absl::StatusOr<double> MeasureGemm(MeasureResources& r, int ordinal, int64_t free_bytes) {
  int64_t n = 8192;
  if (3 * n * n * 2 > free_bytes / 2) n = 4096;
  const size_t bytes = static_cast<size_t>(n * n) * sizeof(__nv_bfloat16);
  for (void** p : {&r.a, &r.b, &r.c}) {
    if (absl::Status s = CudaStatus(cudaMalloc(p, bytes), ordinal, "GEMM buffers"); !s.ok()) return s;
  }
  if (absl::Status s = FillRandomBf16(r.a, n * n, ordinal); !s.ok()) return s;
  if (absl::Status s = FillRandomBf16(r.b, n * n, ordinal); !s.ok()) return s;
  if (cublasCreate(&r.blas) != CUBLAS_STATUS_SUCCESS) {
    r.blas = nullptr;
    return absl::InternalError(absl::StrCat("measuring cuda:", ordinal, ": cublasCreate failed"));
  }
  cublasSetStream(r.blas, r.stream);
  const float alpha = 1.0f, beta = 0.0f;
  const int dim = static_cast<int>(n);
  auto gemm = [&] {
    return cublasGemmEx(r.blas, CUBLAS_OP_T, CUBLAS_OP_N, dim, dim, dim, &alpha, r.a, CUDA_R_16BF, dim, r.b,
                        CUDA_R_16BF, dim, &beta, r.c, CUDA_R_16BF, dim, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  if (cublasStatus_t s = gemm(); s != CUBLAS_STATUS_SUCCESS) {  // warm-up (also picks the algorithm)
    return absl::InternalError(
        absl::StrCat("measuring cuda:", ordinal, ": cublasGemmEx: ", cuda::CublasStatusText(s)));
  }
  cudaEventRecord(r.start, r.stream);
  for (int i = 0; i < kGemmReps; ++i) gemm();
  cudaEventRecord(r.stop, r.stream);
  absl::StatusOr<double> secs = Elapsed(r, ordinal);
  if (!secs.ok()) return secs.status();
  return 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) * kGemmReps / *secs;
}

absl::Status Measure(CudaDeviceInfo& info) {
  MeasureResources r;
  const int ordinal = info.ordinal;
  if (absl::Status s = CudaStatus(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking), ordinal, "stream");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CudaStatus(cudaEventCreate(&r.start), ordinal, "events"); !s.ok()) return s;
  if (absl::Status s = CudaStatus(cudaEventCreate(&r.stop), ordinal, "events"); !s.ok()) return s;
  absl::StatusOr<double> copy = MeasureCopy(r, ordinal);
  if (!copy.ok()) return copy.status();
  info.copy_bandwidth = *copy;
  absl::StatusOr<double> gemm = MeasureGemm(r, ordinal, info.free_bytes);
  if (!gemm.ok()) return gemm.status();
  info.bf16_gemm_flops = *gemm;
  return absl::OkStatus();
}

}  // namespace

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // leave no error behind for the next CUDA call
    return 0;
  }
  return n;
}

absl::StatusOr<CudaDeviceInfo> QueryCudaDevice(int ordinal, bool measure) {
  const int count = CudaDeviceCount();
  if (ordinal < 0 || ordinal >= count) {
    return absl::NotFoundError(
        absl::StrCat("cuda:", ordinal, " is not a visible GPU (this process sees ", count, ")"));
  }
  cudaDeviceProp prop{};
  if (cudaError_t e = cudaGetDeviceProperties(&prop, ordinal); e != cudaSuccess) {
    return absl::InternalError(absl::StrCat("cuda:", ordinal, ": cudaGetDeviceProperties: ", CudaErrorText(e)));
  }
  CudaDeviceInfo info;
  info.ordinal = ordinal;
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.sm_count = prop.multiProcessorCount;

  DeviceGuard guard(ordinal);
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaError_t e = cudaMemGetInfo(&free_bytes, &total_bytes); e != cudaSuccess) {
    return absl::InternalError(absl::StrCat("cuda:", ordinal, ": cudaMemGetInfo: ", CudaErrorText(e)));
  }
  info.free_bytes = static_cast<int64_t>(free_bytes);
  info.total_bytes = static_cast<int64_t>(total_bytes);
  if (measure) {
    if (absl::Status s = Measure(info); !s.ok()) return s;
  }
  return info;
}

}  // namespace tessera
