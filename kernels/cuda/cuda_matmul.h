// Matrix products on the GPU: y = x * W^T with W (w.rows x w.cols, in device
// memory, any MatMul type) and x, y dense f32 in device memory, queued on the
// engine's stream.
//   F32:        cuBLAS SGEMM in full f32 (no TF32), so F32 models give the
//               CPU's greedy tokens.
//   F16/BF16:   x is converted to the weight type, then cuBLAS GemmEx on the
//               tensor cores with f32 accumulation and f32 output.
//   Q8_0/Q4_0:  x is quantized to Q8_0 blocks exactly as the CPU backend does
//               (d = amax / 127, round to nearest even) and, for few rows, a
//               fused kernel dequantizes W on the fly with integer dot
//               products per block (dp4a); for many rows W is dequantized to
//               f32 in panels and multiplied by the dequantized activations
//               with SGEMM (the CPU's GEMM path does the same).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_check.h"
#include "model/matrix_view.h"

namespace tessera::cuda {

class MatMulEngine {
 public:
  // `stream` and `errors` are borrowed and must outlive the engine; the
  // engine makes its own cuBLAS handle bound to `stream`.
  static absl::StatusOr<std::unique_ptr<MatMulEngine>> Create(cudaStream_t stream, StickyError* errors);
  ~MatMulEngine();

  // Rows at or below which quantized weights take the fused GEMV kernel.
  static constexpr int64_t kQuantGemvMaxRows = 8;

  void MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y);

 private:
  MatMulEngine(cudaStream_t stream, StickyError* errors) : stream_(stream), errors_(errors) {}
  // Grows a device scratch buffer to at least `bytes` (waits for the stream
  // before freeing the old one). nullptr, with the failure noted, when it
  // cannot be had.
  void* Scratch(int slot, int64_t bytes);

  // Scratch slots: the prepared activations (converted, quantized or
  // round-tripped x), a dequantized f32 panel of W, cuBLAS's workspace.
  static constexpr int kSlotActivations = 0;
  static constexpr int kSlotPanel = 1;
  static constexpr int kSlotWorkspace = 2;

  // One path each (see the comment at the top); all of them write every
  // element of y.
  void MatMulF32(const MatrixView& w, const float* x, int64_t n_rows, float* y);
  void MatMulHalf(const MatrixView& w, const float* x, int64_t n_rows, float* y);
  void QuantGemv(const MatrixView& w, const float* x, int64_t n_rows, float* y);
  void QuantGemm(const MatrixView& w, const float* x, int64_t n_rows, float* y);
  // y (n_rows x ldc, columns [0, w_rows) written) = x * W^T for f32 W with
  // rows of `cols` floats, in full f32.
  void Sgemm(const float* w, int64_t w_rows, int64_t cols, const float* x, int64_t n_rows, float* y,
             int64_t ldc);

  cudaStream_t stream_;
  StickyError* errors_;
  cublasHandle_t handle_ = nullptr;
  void* scratch_[3] = {nullptr, nullptr, nullptr};
  int64_t scratch_bytes_[3] = {0, 0, 0};
};

}  // namespace tessera::cuda
