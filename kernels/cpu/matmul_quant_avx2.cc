// MatMul with Q8_0/Q4_0 weights against Q8_0-quantized activations, by integer
// dot products per 32-element block: maddubs multiplies unsigned by signed
// bytes into pairs of int16 and madd against ones widens them to int32.
//   Q8_0: weights are signed, so the sign trick feeds maddubs |w| and x with
//         w's sign (|w| <= 128, |x| <= 127: a pair never saturates int16).
//   Q4_0: nibbles 0..15 are already unsigned; the -8 offset is applied once
//         per block as -8 * sum(x_q).
// Eight blocks are reduced together to one vector of eight block sums, which
// is scaled by eight d_w * d_x at once: converting and broadcasting every
// block's scale on its own measured ~10% slower.
// Weight rows are processed one after another so each thread reads its share
// of W as one sequential stream, which the hardware prefetchers follow at
// full DRAM bandwidth (interleaving several rows measured 2-3x slower).
#include "kernels/cpu/avx2_kernels.h"
#include "kernels/cpu/simd_avx2.h"
#include "model/quant.h"

namespace tessera {
namespace {

struct Q8Block {
  static constexpr int kBytes = 34;
  static constexpr bool kOffset = false;
  static inline __m256i Dot(const uint8_t* blk, __m256i xv, __m256i ones) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
    return _mm256_madd_epi16(p, ones);
  }
};

struct Q4Block {
  static constexpr int kBytes = 18;
  static constexpr bool kOffset = true;
  static inline __m256i Dot(const uint8_t* blk, __m256i xv, __m256i ones) {
    // Both 128-bit halves hold the 16 packed bytes; shifting the upper half by
    // 4 puts elements 16..31 (high nibbles) there, elements 0..15 below.
    const __m256i packed =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
    const __m256i q = _mm256_and_si256(_mm256_srlv_epi64(packed, _mm256_setr_epi64x(0, 0, 4, 4)),
                                       _mm256_set1_epi8(0x0f));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), ones);
  }
};

// Lane j = the sum of the eight lanes of s[j].
inline __m256i Reduce8(const __m256i* s) {
  const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
  const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// The fp16 scales of eight consecutive blocks as f32. Assembling them in
// general registers keeps the vector load pipes free for the blocks (a
// gather, or inserting each scale into a vector, measured 3-30% slower).
template <typename B>
inline __m256 Scales8(const uint8_t* blocks) {
  uint64_t lo = 0, hi = 0;
  for (int j = 0; j < 4; ++j) {
    uint16_t a, c;
    std::memcpy(&a, blocks + j * B::kBytes, 2);
    std::memcpy(&c, blocks + (j + 4) * B::kBytes, 2);
    lo |= static_cast<uint64_t>(a) << (16 * j);
    hi |= static_cast<uint64_t>(c) << (16 * j);
  }
  return _mm256_cvtph_ps(_mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)));
}

template <typename B>
float DotRow(const uint8_t* w, const int8_t* xq, const float* xd, const int32_t* xsum, int64_t nb) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256i s[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + (b + j) * kQBlock));
      s[j] = B::Dot(w + (b + j) * B::kBytes, xv, ones);
    }
    __m256i sums = Reduce8(s);
    if constexpr (B::kOffset) {
      sums = _mm256_sub_epi32(
          sums, _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xsum + b)), 3));
    }
    const __m256 d = _mm256_mul_ps(Scales8<B>(w + b * B::kBytes), _mm256_loadu_ps(xd + b));
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
    const __m256i s = B::Dot(w + b * B::kBytes, xv, ones);
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    int32_t isum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
    if constexpr (B::kOffset) isum -= 8 * xsum[b];
    total += BlockScale(w + b * B::kBytes) * xd[b] * static_cast<float>(isum);
  }
  return total;
}

template <typename B>
void MatMulQuantT(const MatrixView& w, const QuantizedRows& x, int64_t o_begin, int64_t o_end,
                  float* y) {
  const int64_t nb = x.blocks;
  for (int64_t o = o_begin; o < o_end; ++o) {
    const uint8_t* row = w.data + o * w.row_bytes;
    for (int64_t r = 0; r < x.n_rows; ++r) {
      y[r * w.rows + o] =
          DotRow<B>(row, x.qs + r * nb * kQBlock, x.d + r * nb, x.sums + r * nb, nb);
    }
  }
}

}  // namespace

void Avx2MatMulQuant(const MatrixView& w, const QuantizedRows& x, int64_t o_begin, int64_t o_end,
                     float* y) {
  if (w.type == DType::kQ8_0) {
    MatMulQuantT<Q8Block>(w, x, o_begin, o_end, y);
  } else if (w.type == DType::kQ4_0) {
    MatMulQuantT<Q4Block>(w, x, o_begin, o_end, y);
  }
}

void Avx2QuantizeRows(const float* x, int64_t r_begin, int64_t r_end, const QuantizedRows& out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  // packs interleaves 128-bit lanes; this restores element order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t xb = r_begin * out.blocks; xb < r_end * out.blocks; ++xb) {
    const float* src = x + xb * kQBlock;
    const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8);
    const __m256 v2 = _mm256_loadu_ps(src + 16), v3 = _mm256_loadu_ps(src + 24);
    const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                   _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    const float amax = Hmax(m);
    const __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    out.d[xb] = amax / 127.0f;
    // cvtps rounds half to even (the default MXCSR mode), like nearbyint.
    const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id));
    const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id));
    const __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id));
    const __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3));
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    out.sums[xb] = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
    const __m256i packed =
        _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.qs + xb * kQBlock),
                        _mm256_permutevar8x32_epi32(packed, order));
  }
}

}  // namespace tessera
