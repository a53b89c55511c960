// The CUDA backend: every op of the CPU backend on one NVIDIA GPU. Matrix
// products of F32/F16/BF16 weights go to cuBLAS (tensor cores for F16/BF16),
// Q8_0/Q4_0 weights to fused dequantize-and-multiply kernels; attention reads
// the paged KV cache in device memory. Weights stay on the device (Resident);
// all ops are queued on one stream owned by the backend. After its first
// device error the backend queues nothing more (a failed upload of tokens or
// block tables would otherwise send later kernels out of bounds); CopyOut and
// Finish report that error, and the owner tears the rank down.
//
// Compiled only when nvcc is found (TESSERA_HAVE_CUDA); callers reach it
// through kernels/factory/backend_factory.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace tessera {

// GPUs this process can use: 0 when there is no driver, no device, or the
// runtime fails to initialise (never an error: callers skip or refuse).
int CudaDeviceCount();

// What one GPU is and how fast it measured.
struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;                // "NVIDIA H100 80GB HBM3"
  int cc_major = 0, cc_minor = 0;  // compute capability
  int sm_count = 0;
  int64_t total_bytes = 0;         // device memory
  int64_t free_bytes = 0;          // free now (cudaMemGetInfo)
  // Measured by QueryCudaDevice(measure = true): device-to-device copy
  // bandwidth (bytes/s, read + write) and dense BF16 cuBLAS GEMM throughput
  // (FLOP/s); 0 when not measured.
  double copy_bandwidth = 0.0;
  double bf16_gemm_flops = 0.0;
};

// NotFound when `ordinal` is not a visible GPU; measuring takes about 0.5 s.
absl::StatusOr<CudaDeviceInfo> QueryCudaDevice(int ordinal, bool measure);

struct CudaBackendOptions {
  int device = 0;  // CUDA ordinal
};

// FailedPrecondition when the device is not there or cannot be initialised
// (the message names the ordinal and CUDA's reason).
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options);

}  // namespace tessera
