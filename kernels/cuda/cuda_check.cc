#include "kernels/cuda/cuda_check.h"

#include "absl/strings/str_cat.h"

namespace tessera::cuda {
namespace {

// Out-of-memory is the one device failure a caller can act on (smaller batch,
// fewer layers on this rank), so it keeps its own code.
absl::Status ToStatus(cudaError_t e, const char* what) {
  const std::string text = absl::StrCat("CUDA error in ", what, ": ", CudaErrorText(e));
  if (e == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(text);
  return absl::InternalError(text);
}

}  // namespace

bool StickyError::Note(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (status_.ok()) status_ = ToStatus(e, what);
  return false;
}

bool StickyError::Note(cublasStatus_t e, const char* what) {
  if (e == CUBLAS_STATUS_SUCCESS) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (status_.ok()) {
    const std::string text = absl::StrCat("cuBLAS error in ", what, ": ", CublasStatusText(e));
    status_ = e == CUBLAS_STATUS_ALLOC_FAILED ? absl::ResourceExhaustedError(text) : absl::InternalError(text);
  }
  return false;
}

absl::Status StickyError::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

bool StickyError::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !status_.ok();
}

std::string CudaErrorText(cudaError_t e) {
  return absl::StrCat(cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

const char* CublasStatusText(cublasStatus_t s) { return cublasGetStatusName(s); }

}  // namespace tessera::cuda
