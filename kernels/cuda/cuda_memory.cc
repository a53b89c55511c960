#include "kernels/cuda/cuda_memory.h"

#include <cuda_runtime.h>

#include "absl/strings/str_format.h"
#include "kernels/cuda/cuda_check.h"

namespace tessera::cuda {

std::string FormatBytes(int64_t bytes) {
  constexpr double kMiB = 1024.0 * 1024.0;
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / (kMiB * 1024.0));
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / kMiB);
}

absl::StatusOr<BackendBuffer> AllocateDevice(int device, int64_t bytes, std::string_view what) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, static_cast<size_t>(bytes));
  if (e != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky; keep it out of later checks
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    const std::string text =
        absl::StrFormat("cannot allocate %d bytes (%s) of GPU memory for %s on cuda:%d: %s free of %s (%s)", bytes,
                        FormatBytes(bytes), what, device, FormatBytes(static_cast<int64_t>(free_bytes)),
                        FormatBytes(static_cast<int64_t>(total_bytes)), CudaErrorText(e));
    if (e == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(text);
    return absl::InternalError(text);
  }
  // The handle may be dropped on another thread, whose current device can
  // differ; that thread is left on `device` (restoring its old device could
  // create a context there: cudaGetDevice says 0 on a thread that never
  // chose one). cudaFree waits for the device's queued work, so ops still
  // reading the buffer finish first.
  return BackendBuffer(p, [device](void* ptr) {
    cudaSetDevice(device);
    cudaFree(ptr);
  });
}

}  // namespace tessera::cuda
