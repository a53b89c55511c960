// Scalar reference MatMul and activation quantization: the semantics the AVX2
// kernels are tested against. Sums run in double so the reference is the more
// accurate side of every comparison.
#include <cmath>
#include <cstring>

#include "kernels/cpu/reference_kernels.h"
#include "model/half.h"
#include "model/quant.h"

namespace tessera {
namespace {

float FloatWeight(DType type, const uint8_t* row, int64_t k) {
  switch (type) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, row + 4 * k, 4);
      return v;
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, row + 2 * k, 2);
      return Fp16ToFloat(h);
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, row + 2 * k, 2);
      return Bf16ToFloat(h);
    }
    default:
      return 0.0f;  // quantized types go through RefMatMulQuant
  }
}

}  // namespace

void RefMatMulFloat(const MatrixView& w, const float* x, int64_t n_rows, int64_t o_begin,
                    int64_t o_end, float* y) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * w.cols;
    for (int64_t o = o_begin; o < o_end; ++o) {
      const uint8_t* row = w.data + o * w.row_bytes;
      double sum = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) sum += static_cast<double>(xr[k]) * FloatWeight(w.type, row, k);
      y[r * w.rows + o] = static_cast<float>(sum);
    }
  }
}

namespace {

// Integer dot product of one weight block with one activation block.
int32_t BlockDot(DType type, const uint8_t* wblock, const int8_t* xq, float* d_w) {
  int32_t sum = 0;
  if (type == DType::kQ8_0) {
    BlockQ8_0 b;
    std::memcpy(&b, wblock, sizeof(b));
    *d_w = Fp16ToFloat(b.d);
    for (int i = 0; i < kQBlock; ++i) sum += static_cast<int32_t>(b.qs[i]) * xq[i];
  } else {
    BlockQ4_0 b;
    std::memcpy(&b, wblock, sizeof(b));
    *d_w = Fp16ToFloat(b.d);
    for (int j = 0; j < kQBlock / 2; ++j) {
      sum += (static_cast<int32_t>(b.qs[j] & 0x0f) - 8) * xq[j];
      sum += (static_cast<int32_t>(b.qs[j] >> 4) - 8) * xq[j + kQBlock / 2];
    }
  }
  return sum;
}

}  // namespace

void RefMatMulQuant(const MatrixView& w, const QuantizedRows& x, int64_t o_begin, int64_t o_end,
                    float* y) {
  const int64_t block_bytes = BlockBytes(w.type);
  for (int64_t r = 0; r < x.n_rows; ++r) {
    for (int64_t o = o_begin; o < o_end; ++o) {
      const uint8_t* row = w.data + o * w.row_bytes;
      double sum = 0.0;
      for (int64_t b = 0; b < x.blocks; ++b) {
        const int64_t xb = r * x.blocks + b;
        float d_w = 0.0f;
        const int32_t isum = BlockDot(w.type, row + b * block_bytes, x.qs + xb * kQBlock, &d_w);
        sum += static_cast<double>(d_w) * x.d[xb] * isum;
      }
      y[r * w.rows + o] = static_cast<float>(sum);
    }
  }
}

void RefQuantizeRows(const float* x, int64_t r_begin, int64_t r_end, const QuantizedRows& out) {
  for (int64_t r = r_begin; r < r_end; ++r) {
    for (int64_t b = 0; b < out.blocks; ++b) {
      const int64_t xb = r * out.blocks + b;
      const float* src = x + xb * kQBlock;
      float amax = 0.0f;
      for (int i = 0; i < kQBlock; ++i) amax = std::fmax(amax, std::fabs(src[i]));
      const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
      out.d[xb] = amax / 127.0f;
      int32_t sum = 0;
      for (int i = 0; i < kQBlock; ++i) {
        // nearbyint rounds half to even, as the SIMD conversion does.
        const int q = static_cast<int>(std::nearbyint(src[i] * id));
        out.qs[xb * kQBlock + i] = static_cast<int8_t>(q);
        sum += q;
      }
      out.sums[xb] = sum;
    }
  }
}

}  // namespace tessera
