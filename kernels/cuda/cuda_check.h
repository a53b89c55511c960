// Error handling shared by the CUDA backend's files. Ops cannot return
// errors (see kernels/backend.h), so the first CUDA or cuBLAS failure is kept
// in a sticky status that CopyOut/Finish report.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "absl/status/status.h"

namespace tessera::cuda {

class StickyError {
 public:
  // Records `e` (if it is an error and none is recorded yet); returns whether
  // it was success.
  bool Note(cudaError_t e, const char* what);
  bool Note(cublasStatus_t e, const char* what);
  // Also picks up launch errors (cudaGetLastError).
  bool NoteLaunch(const char* what) { return Note(cudaGetLastError(), what); }
  absl::Status status() const;
  bool failed() const;

 private:
  mutable std::mutex mu_;
  absl::Status status_;
};

// "cudaErrorMemoryAllocation: out of memory" for messages.
std::string CudaErrorText(cudaError_t e);
const char* CublasStatusText(cublasStatus_t s);

}  // namespace tessera::cuda
