// Blocked f32 GEMM for prefill, y[r][o] = sum_k x[r][k] * W[o][k].
//
// Weights are converted to f32 one panel (16 output features x up to 256 of
// K) at a time into a transposed buffer [k][16] that stays in L1, so the cost
// of F16/BF16/Q8_0/Q4_0 decoding is paid once per panel and amortised over all
// activation rows. The 6 x 16 microkernel keeps 12 ymm accumulators, loads two
// weight vectors and broadcasts one activation per row for each k: 12 FMAs per
// 8 loads, enough to keep both FMA pipes busy. Threads own disjoint panels.
#include "kernels/cpu/avx2_kernels.h"
#include "kernels/cpu/simd_avx2.h"
#include "model/quant.h"

namespace tessera {
namespace {

constexpr int kMr = 6;
constexpr int64_t kNr = avx2::kGemmPanel;
static_assert(kNr == 16);
constexpr int64_t kKc = 256;  // a multiple of 32 so quantized blocks never straddle
constexpr int64_t kMc = 512;  // rows whose kKc-slice of x (512 KiB) stays in L2
// Panels whose outputs are finished together: without grouping, a wide
// output (1024 -> 32000) re-reads y from DRAM for every K-slice (measured
// 80 vs 100 GFLOP/s on one Zen 4 core).
constexpr int64_t kGroup = 8;

// Eight consecutive weights W[row][k..k+8) as f32 (k % 8 == 0 for quantized types).
template <DType T>
inline __m256 Load8(const uint8_t* row, int64_t k) {
  if constexpr (T == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  } else if constexpr (T == DType::kF16) {
    return LoadF16(reinterpret_cast<const uint16_t*>(row) + k);
  } else if constexpr (T == DType::kBF16) {
    return LoadBf16(reinterpret_cast<const uint16_t*>(row) + k);
  } else if constexpr (T == DType::kQ8_0) {
    const uint8_t* blk = row + (k / kQBlock) * 34;
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + k % kQBlock));
    return _mm256_mul_ps(_mm256_set1_ps(BlockScale(blk)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  } else {
    const uint8_t* blk = row + (k / kQBlock) * 18;
    const int64_t i = k % kQBlock;
    __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + (i & 15)));
    if (i >= 16) q = _mm_srli_epi16(q, 4);
    q = _mm_sub_epi8(_mm_and_si128(q, _mm_set1_epi8(0x0f)), _mm_set1_epi8(8));
    return _mm256_mul_ps(_mm256_set1_ps(BlockScale(blk)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  }
}


inline void Transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// dst[k * 16 + j] = W[o0 + j][k0 + k] for j < n_valid, zero for the padding.
template <DType T>
void PackPanel(const MatrixView& w, int64_t o0, int64_t n_valid, int64_t k0, int64_t kc, float* dst) {
  for (int64_t jg = 0; jg < kNr; jg += 8) {
    const uint8_t* rows[8];
    bool valid[8];
    for (int t = 0; t < 8; ++t) {
      valid[t] = jg + t < n_valid;
      rows[t] = valid[t] ? w.data + (o0 + jg + t) * w.row_bytes : nullptr;
    }
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 r[8];
      for (int t = 0; t < 8; ++t) r[t] = valid[t] ? Load8<T>(rows[t], k0 + k) : _mm256_setzero_ps();
      Transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k + i) * kNr + jg, r[i]);
    }
    if constexpr (T == DType::kF32 || T == DType::kF16 || T == DType::kBF16) {
      for (; k < kc; ++k) {
        for (int t = 0; t < 8; ++t) dst[k * kNr + jg + t] = valid[t] ? Load1<T>(rows[t], k0 + k) : 0.0f;
      }
    }
  }
}

// c[m][0..16) (+)= sum_k a[m * lda + k] * b[k * 16 + 0..16) for m < M.
template <int M>
void Micro(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
           bool accumulate) {
  __m256 c0[M], c1[M];
#pragma GCC unroll 6
  for (int m = 0; m < M; ++m) {
    c0[m] = accumulate ? _mm256_loadu_ps(c + m * ldc) : _mm256_setzero_ps();
    c1[m] = accumulate ? _mm256_loadu_ps(c + m * ldc + 8) : _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b + k * kNr);
    const __m256 b1 = _mm256_load_ps(b + k * kNr + 8);
#pragma GCC unroll 6
    for (int m = 0; m < M; ++m) {
      const __m256 av = _mm256_broadcast_ss(a + m * lda + k);
      c0[m] = _mm256_fmadd_ps(av, b0, c0[m]);
      c1[m] = _mm256_fmadd_ps(av, b1, c1[m]);
    }
  }
#pragma GCC unroll 6
  for (int m = 0; m < M; ++m) {
    _mm256_storeu_ps(c + m * ldc, c0[m]);
    _mm256_storeu_ps(c + m * ldc + 8, c1[m]);
  }
}

void MicroAny(int m, int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
              bool accumulate) {
  switch (m) {
    case 6: return Micro<6>(kc, a, lda, b, c, ldc, accumulate);
    case 5: return Micro<5>(kc, a, lda, b, c, ldc, accumulate);
    case 4: return Micro<4>(kc, a, lda, b, c, ldc, accumulate);
    case 3: return Micro<3>(kc, a, lda, b, c, ldc, accumulate);
    case 2: return Micro<2>(kc, a, lda, b, c, ldc, accumulate);
    default: return Micro<1>(kc, a, lda, b, c, ldc, accumulate);
  }
}

// y[r][o0..o0+16) for one panel, rows [r0, r0 + mc), from the packed
// K-slice [k0, k0 + kc).
void PanelRows(const float* x, int64_t K, const float* pack, int64_t k0, int64_t kc, int64_t r0,
               int64_t mc, int64_t o0, int64_t n_valid, float* y, int64_t N) {
  const bool accumulate = k0 > 0;
  alignas(64) float tile[kMr * kNr];
  for (int64_t r = r0; r < r0 + mc; r += kMr) {
    const int m = static_cast<int>(MinI(kMr, r0 + mc - r));
    const float* a = x + r * K + k0;
    float* c = y + r * N + o0;
    if (n_valid == kNr) {
      MicroAny(m, kc, a, K, pack, c, N, accumulate);
      continue;
    }
    // A partial panel computes into a full-width tile and copies back only
    // the real outputs.
    for (int i = 0; i < m; ++i) {
      for (int64_t j = 0; j < kNr; ++j) tile[i * kNr + j] = j < n_valid && accumulate ? c[i * N + j] : 0.0f;
    }
    MicroAny(m, kc, a, K, pack, tile, kNr, true);
    for (int i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n_valid; ++j) c[i * N + j] = tile[i * kNr + j];
    }
  }
}

// Loops, outermost first: groups of kGroup panels (their slice of y, 512 x 128
// floats, stays in L2 across the K-slices), blocks of kMc rows, K-slices of
// kKc (the rows' x slice stays in L2), panels (packed once per slice, in L1),
// then 6-row strips through the microkernel.
template <DType T>
void GemmT(const MatrixView& w, const float* x, int64_t n_rows, int64_t panel_begin,
           int64_t panel_end, float* y) {
  const int64_t K = w.cols;
  const int64_t N = w.rows;
  alignas(64) float pack[kKc * kNr];
  for (int64_t g0 = panel_begin; g0 < panel_end; g0 += kGroup) {
    const int64_t g1 = MinI(panel_end, g0 + kGroup);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kMc) {
      const int64_t mc = MinI(kMc, n_rows - r0);
      for (int64_t k0 = 0; k0 < K; k0 += kKc) {
        const int64_t kc = MinI(kKc, K - k0);
        for (int64_t p = g0; p < g1; ++p) {
          const int64_t o0 = p * kNr;
          const int64_t n_valid = MinI(kNr, N - o0);
          PackPanel<T>(w, o0, n_valid, k0, kc, pack);
          PanelRows(x, K, pack, k0, kc, r0, mc, o0, n_valid, y, N);
        }
      }
    }
  }
}

}  // namespace

namespace avx2 {

void Gemm(const MatrixView& w, const float* x, int64_t n_rows, int64_t panel_begin,
          int64_t panel_end, float* y) {
  switch (w.type) {
    case DType::kF32: return GemmT<DType::kF32>(w, x, n_rows, panel_begin, panel_end, y);
    case DType::kF16: return GemmT<DType::kF16>(w, x, n_rows, panel_begin, panel_end, y);
    case DType::kBF16: return GemmT<DType::kBF16>(w, x, n_rows, panel_begin, panel_end, y);
    case DType::kQ8_0: return GemmT<DType::kQ8_0>(w, x, n_rows, panel_begin, panel_end, y);
    case DType::kQ4_0: return GemmT<DType::kQ4_0>(w, x, n_rows, panel_begin, panel_end, y);
  }
}

}  // namespace avx2
}  // namespace tessera
