#include "model/quant.h"

#include <cmath>
#include <algorithm>
#include <cstring>

#include "model/half.h"

namespace tessera {

void QuantizeRowQ8_0(const float* src, int64_t n, BlockQ8_0* dst) {
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    const float* x = src + b * kQBlock;
    float amax = 0.0f;
    for (int i = 0; i < kQBlock; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = FloatToFp16(d);
    for (int i = 0; i < kQBlock; ++i) dst[b].qs[i] = static_cast<int8_t>(std::lround(x[i] * id));
  }
}

void QuantizeRowQ4_0(const float* src, int64_t n, BlockQ4_0* dst) {
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    const float* x = src + b * kQBlock;
    // The value of largest magnitude maps to -8 so the full 4-bit range is used.
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < kQBlock; ++i) {
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        max = x[i];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = FloatToFp16(d);
    for (int j = 0; j < kQBlock / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(x[j + kQBlock / 2] * id + 8.5f));
      dst[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void QuantizeRow(DType t, const float* src, int64_t n, void* dst) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = FloatToFp16(src[i]);
      return;
    }
    case DType::kBF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = FloatToBf16(src[i]);
      return;
    }
    case DType::kQ8_0:
      QuantizeRowQ8_0(src, n, static_cast<BlockQ8_0*>(dst));
      return;
    case DType::kQ4_0:
      QuantizeRowQ4_0(src, n, static_cast<BlockQ4_0*>(dst));
      return;
  }
}

void DequantizeRow(DType t, const void* src, int64_t n, float* dst) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFloat(s[i]);
      return;
    }
    case DType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(s[i]);
      return;
    }
    case DType::kQ8_0: {
      const auto* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t k = 0; k < n / kQBlock; ++k) {
        const float d = Fp16ToFloat(b[k].d);
        for (int i = 0; i < kQBlock; ++i) dst[k * kQBlock + i] = d * b[k].qs[i];
      }
      return;
    }
    case DType::kQ4_0: {
      const auto* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t k = 0; k < n / kQBlock; ++k) {
        const float d = Fp16ToFloat(b[k].d);
        for (int j = 0; j < kQBlock / 2; ++j) {
          dst[k * kQBlock + j] = d * (static_cast<int>(b[k].qs[j] & 0x0f) - 8);
          dst[k * kQBlock + j + kQBlock / 2] = d * (static_cast<int>(b[k].qs[j] >> 4) - 8);
        }
      }
      return;
    }
  }
}

}  // namespace tessera
