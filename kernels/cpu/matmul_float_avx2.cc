// MatMul with F32/F16/BF16 weights for few activation rows (decode): each
// weight row is streamed once per call and multiplied against every activation
// row while it sits in L1.
#include "kernels/cpu/avx2_kernels.h"
#include "kernels/cpu/simd_avx2.h"

namespace tessera {
namespace {

template <DType T>
inline __m256 Load8(const uint8_t* row, int64_t k) {
  if constexpr (T == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  } else if constexpr (T == DType::kF16) {
    return LoadF16(reinterpret_cast<const uint16_t*>(row) + k);
  } else {
    return LoadBf16(reinterpret_cast<const uint16_t*>(row) + k);
  }
}


// Eight accumulators cover the FMA latency (4 cycles) x 2 FMA pipes.
template <DType T>
inline float Dot(const uint8_t* w, const float* x, int64_t n) {
  __m256 a[8];
  for (int j = 0; j < 8; ++j) a[j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 64 <= n; k += 64) {
    for (int j = 0; j < 8; ++j) {
      a[j] = _mm256_fmadd_ps(Load8<T>(w, k + 8 * j), _mm256_loadu_ps(x + k + 8 * j), a[j]);
    }
  }
  for (; k + 8 <= n; k += 8) a[0] = _mm256_fmadd_ps(Load8<T>(w, k), _mm256_loadu_ps(x + k), a[0]);
  for (int j = 0; j < 4; ++j) a[j] = _mm256_add_ps(a[j], a[j + 4]);
  float s = Hsum(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
  for (; k < n; ++k) s += Load1<T>(w, k) * x[k];
  return s;
}

// Rows are processed one after another so each thread reads its share of W
// as one sequential stream, which the hardware prefetchers follow at full
// DRAM bandwidth (interleaving several rows measured 2-3x slower).
template <DType T>
void MatMulFloatT(const MatrixView& w, const float* x, int64_t n_rows, int64_t o_begin,
                  int64_t o_end, float* y) {
  const int64_t n = w.cols;
  for (int64_t o = o_begin; o < o_end; ++o) {
    const uint8_t* row = w.data + o * w.row_bytes;
    for (int64_t r = 0; r < n_rows; ++r) y[r * w.rows + o] = Dot<T>(row, x + r * n, n);
  }
}

}  // namespace

void Avx2MatMulFloat(const MatrixView& w, const float* x, int64_t n_rows, int64_t o_begin,
                     int64_t o_end, float* y) {
  switch (w.type) {
    case DType::kF32: return MatMulFloatT<DType::kF32>(w, x, n_rows, o_begin, o_end, y);
    case DType::kF16: return MatMulFloatT<DType::kF16>(w, x, n_rows, o_begin, o_end, y);
    case DType::kBF16: return MatMulFloatT<DType::kBF16>(w, x, n_rows, o_begin, o_end, y);
    default: return;  // quantized types go through Avx2MatMulQuant
  }
}

}  // namespace tessera
