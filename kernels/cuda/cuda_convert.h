// Launchers of the element conversions MatMulEngine needs around cuBLAS
// (cuda_convert.cu). All pointers are device memory; launches are queued on
// `stream` and their errors left for the caller's StickyError::NoteLaunch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "model/dtype.h"
#include "model/matrix_view.h"

namespace tessera::cuda {

// out[i] = x[i] rounded to nearest even in `type` (kF16 or kBF16; `out` holds
// n 16-bit values): the activations of an F16/BF16 product.
void LaunchFloatToHalf(tessera::DType type, const float* x, int64_t n, void* out, cudaStream_t stream);

// All w.rows x w.cols elements of a Q8_0 or Q4_0 matrix as dense row-major
// f32 in `out`, bit for bit DequantizeRow of model/quant.h.
void LaunchDequantizeQuant(const MatrixView& w, float* out, cudaStream_t stream);

}  // namespace tessera::cuda
