// Device-side decoding of weight elements, shared by the embedding lookup and
// the matrix products. Each agrees bit for bit with DequantizeRow of
// model/quant.h: Q8_0 x = d * qs, Q4_0 x = d * (q - 8) with element j < 16 in
// the low nibble of qs[j] and element j + 16 in its high nibble.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "model/dtype.h"

namespace tessera::cuda {

inline constexpr int kQBlock = 32;
inline constexpr int kQ8Bytes = 34;  // f16 d + 32 x int8
inline constexpr int kQ4Bytes = 18;  // f16 d + 16 bytes of nibbles

// Blocks are 34 or 18 bytes, so their f16 scale is only 2-byte aligned.
__device__ __forceinline__ float LoadHalf(const uint8_t* p) {
  return __half2float(*reinterpret_cast<const __half*>(p));
}

// Element k of a row of `type` starting at `row`.
__device__ __forceinline__ float LoadWeight(tessera::DType type, const uint8_t* row, int64_t k) {
  switch (type) {
    case tessera::DType::kF32:
      return reinterpret_cast<const float*>(row)[k];
    case tessera::DType::kF16:
      return __half2float(reinterpret_cast<const __half*>(row)[k]);
    case tessera::DType::kBF16:
      return __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(row)[k]);
    case tessera::DType::kQ8_0: {
      const uint8_t* b = row + (k / kQBlock) * kQ8Bytes;
      return LoadHalf(b) * static_cast<float>(static_cast<int8_t>(b[2 + k % kQBlock]));
    }
    case tessera::DType::kQ4_0: {
      const uint8_t* b = row + (k / kQBlock) * kQ4Bytes;
      const int j = static_cast<int>(k % kQBlock);
      const uint8_t byte = b[2 + (j & 15)];
      const int q = (j < 16 ? (byte & 0x0f) : (byte >> 4)) - 8;
      return LoadHalf(b) * static_cast<float>(q);
    }
  }
  return 0.0f;
}

}  // namespace tessera::cuda
