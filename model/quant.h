// Quantized block formats of the GGUF specification and their scalar
// quantize/dequantize routines (the reference that SIMD paths are tested
// against).
#pragma once

#include <cstdint>

#include "model/dtype.h"

namespace tessera {

inline constexpr int kQBlock = 32;

// Q8_0: x[i] = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQBlock];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: x[i] = d * (q[i] - 8); qs[j] holds element j in its low nibble and
// element j + 16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;  // fp16 scale
  uint8_t qs[kQBlock / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// `n` must be a multiple of BlockElems(t). `dst`/`src` hold RowBytes(t, n) bytes.
void QuantizeRow(DType t, const float* src, int64_t n, void* dst);
void DequantizeRow(DType t, const void* src, int64_t n, float* dst);

void QuantizeRowQ8_0(const float* src, int64_t n, BlockQ8_0* dst);
void QuantizeRowQ4_0(const float* src, int64_t n, BlockQ4_0* dst);

}  // namespace tessera
