// The row loop of the integer-dot GEMV of Q8_0/Q4_0 weights, shared by the
// AVX2 kernel (matmul_quant_avx2.cc) and its VNNI variant
// (matmul_quant_vnni.cc). Both form exact int32 block dot products, only by
// different instructions; this loop then scales and sums them in one fixed
// order, so the two variants give bit-identical results.
//
// Like simd_avx2.h, everything here has internal linkage: each including file
// (compiled with its own -m flags) gets its own copy.
#pragma once

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd_avx2.h"
#include "model/matrix_view.h"
#include "model/quant.h"

namespace tessera {
namespace {

// The 32 nibbles of a Q4_0 block as bytes 0..15 in element order: both
// 128-bit halves hold the 16 packed bytes, and shifting the upper half by 4
// puts elements 16..31 (the high nibbles) there, elements 0..15 below.
inline __m256i UnpackQ4(const uint8_t* blk) {
  const __m256i packed =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
  return _mm256_and_si256(_mm256_srlv_epi64(packed, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
}

// Lane j = the sum of the eight lanes of s[j] (the AVX2 kernel's reduction).
inline __m256i Reduce8(const __m256i* s) {
  const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
  const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// The fp16 scales of eight consecutive blocks of kBlockBytes bytes as f32,
// assembled in general registers: for the AVX2 kernel that keeps the vector
// load pipes free for the blocks (a gather, or inserting each scale into a
// vector, measured 3-30% slower).
template <int kBlockBytes>
inline __m256 Scales8Gpr(const uint8_t* blocks) {
  uint64_t lo = 0, hi = 0;
  for (int j = 0; j < 4; ++j) {
    uint16_t a, c;
    std::memcpy(&a, blocks + j * kBlockBytes, 2);
    std::memcpy(&c, blocks + (j + 4) * kBlockBytes, 2);
    lo |= static_cast<uint64_t>(a) << (16 * j);
    hi |= static_cast<uint64_t>(c) << (16 * j);
  }
  return _mm256_cvtph_ps(_mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)));
}

// K, a block kernel, provides:
//   kBytes      bytes per weight block (34 for Q8_0, 18 for Q4_0);
//   kSumShift   its dot products exceed sum(q_w * q_x) by sum(q_x) << kSumShift
//               (0: no excess);
//   Sums8(w, xg)  the eight (excess-carrying) dot products of blocks w[0..8)
//                 with the activations of the same eight blocks, lane j for
//                 block j; xg points at the group's 256 activation bytes, in
//                 the layout K asks for (see MatMulQuantRows);
//   Scales8(w)    the eight fp16 scales of blocks w[0..8) as f32;
//   Dot(blk, xv)  eight lanes summing to one block's dot product with xv, the
//                 block's activations in plain layout.
// xg: the activations in K's layout, xq: in plain layout (for the blocks past
// the last whole group).
template <typename K>
float DotRow(const uint8_t* w, const int8_t* xg, const int8_t* xq, const float* xd,
             const int32_t* xsum, int64_t nb) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256i sums = K::Sums8(w + b * K::kBytes, xg + b * kQBlock);
    if constexpr (K::kSumShift > 0) {
      sums = _mm256_sub_epi32(
          sums, _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xsum + b)),
                                  K::kSumShift));
    }
    const __m256 d = _mm256_mul_ps(K::Scales8(w + b * K::kBytes), _mm256_loadu_ps(xd + b));
    // Two accumulators so consecutive groups do not wait on each other's FMA.
    if ((b & 8) == 0) {
      acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc0);
    } else {
      acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc1);
    }
  }
  float total = Hsum(_mm256_add_ps(acc0, acc1));
  for (; b < nb; ++b) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * kQBlock));
    const __m256i s = K::Dot(w + b * K::kBytes, xv);
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    int32_t isum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
    if constexpr (K::kSumShift > 0) isum -= xsum[b] << K::kSumShift;
    total += BlockScale(w + b * K::kBytes) * xd[b] * static_cast<float>(isum);
  }
  return total;
}

// Sums8 by eight Dot calls (plain layout) and one Reduce8.
template <typename K>
inline __m256i Sums8ByDot(const uint8_t* w, const int8_t* xq) {
  __m256i s[8];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + j * kQBlock));
    s[j] = K::Dot(w + j * K::kBytes, xv);
  }
  return Reduce8(s);
}

// Rows [o_begin, o_end) of W, one after another, so each thread reads its
// share of W as one sequential stream, which the hardware prefetchers follow
// at full DRAM bandwidth (interleaving several rows measured 2-3x slower).
// xg: x.qs rearranged for K::Sums8 (same size and row stride), or x.qs itself
// where K reads the plain layout.
template <typename K>
void MatMulQuantRows(const MatrixView& w, const QuantizedRows& x, const int8_t* xg, int64_t o_begin,
                     int64_t o_end, float* y) {
  const int64_t nb = x.blocks;
  for (int64_t o = o_begin; o < o_end; ++o) {
    const uint8_t* row = w.data + o * w.row_bytes;
    for (int64_t r = 0; r < x.n_rows; ++r) {
      const int64_t xr = r * nb * kQBlock;
      y[r * w.rows + o] = DotRow<K>(row, xg + xr, x.qs + xr, x.d + r * nb, x.sums + r * nb, nb);
    }
  }
}

}  // namespace
}  // namespace tessera
