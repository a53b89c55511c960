// Launchers of the Q8_0/Q4_0 matrix-product kernels (cuda_quant_rows.cu,
// cuda_quant_gemv.cu), used by MatMulEngine. All pointers are device memory;
// every launch is queued on `stream` and its launch error is left for the
// caller's StickyError::NoteLaunch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "model/matrix_view.h"

namespace tessera::cuda {

// Quantizes `n_blocks` consecutive 32-value blocks of x to Q8_0 exactly as the
// CPU backend does (kernels/cpu/cpu_kernels.h, QuantizedRows): per block
// d = amax / 127 and qs = round-to-nearest-even(x * (127 / amax)), all zero
// when amax is 0. Dense rows of a multiple of 32 columns are consecutive
// blocks, so block b of row r is block r * (cols / 32) + b.
void LaunchQuantizeBlocks(const float* x, int64_t n_blocks, int8_t* qs, float* d, cudaStream_t stream);

// The same rounding, written back as f32: xf = d * qs (the activations the
// f32 GEMM path of quantized MatMul multiplies by).
void LaunchQuantDequantBlocks(const float* x, int64_t n_blocks, float* xf, cudaStream_t stream);

// Rows at or below which LaunchQuantGemv may be called.
inline constexpr int64_t kQuantGemvRows = 8;

// y[r * w.rows + o] = sum_b d_w * d_x * sum_i q_w * q_x (q_w - 8 for Q4_0)
// for r < n_rows <= kQuantGemvRows, with x quantized by LaunchQuantizeBlocks
// (n_rows * w.cols / 32 blocks, qs 4-byte aligned). w is Q8_0 or Q4_0; its
// rows and data need only the 2-byte alignment of the block format.
void LaunchQuantGemv(const MatrixView& w, const int8_t* qs, const float* d, int64_t n_rows, float* y,
                     cudaStream_t stream);

}  // namespace tessera::cuda
