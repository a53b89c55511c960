// MatMul with Q8_0/Q4_0 weights against Q8_0-quantized activations, by integer
// dot products per 32-element block: maddubs multiplies unsigned by signed
// bytes into pairs of int16 and madd against ones widens them to int32.
//   Q8_0: weights are signed, so the sign trick feeds maddubs |w| and x with
//         w's sign (|w| <= 128, |x| <= 127: a pair never saturates int16).
//   Q4_0: nibbles 0..15 are already unsigned; the -8 offset is applied once
//         per block as -8 * sum(x_q).
// Eight blocks are reduced together to one vector of eight block sums, which
// is scaled by eight d_w * d_x at once: converting and broadcasting every
// block's scale on its own measured ~10% slower. The row loop
// (quant_gemv_avx2.h) is shared with the VNNI variant (matmul_quant_vnni.cc).
#include "kernels/cpu/avx2_kernels.h"
#include "kernels/cpu/quant_gemv_avx2.h"
#include "kernels/cpu/simd_avx2.h"
#include "model/quant.h"

namespace tessera {
namespace {

struct Q8Block {
  static constexpr int kBytes = 34;
  static constexpr int kSumShift = 0;
  static inline __m256i Dot(const uint8_t* blk, __m256i xv) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
  }
  static inline __m256i Sums8(const uint8_t* w, const int8_t* xq) { return Sums8ByDot<Q8Block>(w, xq); }
  static inline __m256 Scales8(const uint8_t* w) { return Scales8Gpr<kBytes>(w); }
};

// Dot products carry 8 * sum(x_q): the nibbles are not offset by -8.
struct Q4Block {
  static constexpr int kBytes = 18;
  static constexpr int kSumShift = 3;
  static inline __m256i Dot(const uint8_t* blk, __m256i xv) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(UnpackQ4(blk), xv), _mm256_set1_epi16(1));
  }
  static inline __m256i Sums8(const uint8_t* w, const int8_t* xq) { return Sums8ByDot<Q4Block>(w, xq); }
  static inline __m256 Scales8(const uint8_t* w) { return Scales8Gpr<kBytes>(w); }
};

}  // namespace

void Avx2MatMulQuant(const MatrixView& w, const QuantizedRows& x, int64_t o_begin, int64_t o_end,
                     float* y) {
  if (w.type == DType::kQ8_0) {
    MatMulQuantRows<Q8Block>(w, x, x.qs, o_begin, o_end, y);
  } else if (w.type == DType::kQ4_0) {
    MatMulQuantRows<Q4Block>(w, x, x.qs, o_begin, o_end, y);
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
