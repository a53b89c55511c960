// The quantized GEMV of matmul_quant_avx2.cc with AVX-512 VNNI dot products:
// vpdpbusd multiplies unsigned by signed bytes and sums each group of four
// into an int32 lane, with no int16 step to saturate, in one instruction
// where AVX2 needs abs + sign + maddubs + madd.
//   Q8_0: w XOR 0x80 is w + 128 as an unsigned byte, so the dot product is
//         sum(w * x) + 128 * sum(x); the row loop subtracts sum(x) << 7.
//   Q4_0: nibbles 0..15 are unsigned as they are; sum(x) << 3 is subtracted.
// The integer sums are exact either way and the row loop (quant_gemv_avx2.h)
// is the AVX2 one, so results are bit-identical to the AVX2 kernel's.
//
// Measured on Zen 4 (one core, weights in L2/L3; kernel_bench for DRAM), each
// kept only where faster than the plain translation of the AVX2 kernel:
//   - Q4_0 pairs blocks j and j+4 of each 8-block group in one vector: the
//     nibbles of two blocks are split with one and/shift/and, two chained
//     vpdpbusd leave block j's sums in the low half and j+4's in the high
//     half, and the reduction shrinks to three levels. It needs the
//     activations rearranged to match (PairActivations, once per call):
//     +20%. Where they do not fit the stack buffer, the plain layout runs.
//   - Q4_0 scales by word permutes (vpermt2w) of four 256-bit loads: +9%
//     (two 512-bit loads and one permute: 3% less).
//   - Q8_0 scales from eight 32-bit vector loads merged by unpacks, and the
//     reduction by unpacks instead of hadd: +4-6% together.
//   Slower, so not used: 512-bit dot products of two blocks per vector (Zen 4
//   runs 512-bit ops as two 256-bit halves, and two blocks 34 or 18 bytes
//   apart need an insert: -3 to -10%), Q8_0 in the paired layout (-2%),
//   gathered scales (-10%), Q8_0 scales by 512-bit loads and a permute (-5%).
// Several activation rows (decode batches, prefill) take the tiles of
// quant_gemv_avx2.h instead, with the kernels' Quad/QuadSums below: 2.5x the
// row-by-row loop from 8 rows. Measured there and not kept: two chains of two
// dpbusd per set, or vphaddd for the final pair sums (no gain; vphaddd
// issues at half the rate of the two shuffles and add used instead), 16 xmm
// loads and inserts for the Q8_0 weight sets (-3% against 8 ymm loads and
// permutes), two weight rows per 512-bit vector sharing each activation load
// (-28%).
#include "kernels/cpu/avx2_kernels.h"
#include "kernels/cpu/quant_gemv_avx2.h"
#include "kernels/cpu/simd_avx2.h"
#include "model/quant.h"

namespace tessera {
namespace {

// Lane j = the sum of the eight lanes of s[j], by three levels of unpack+add.
inline __m256i ReduceUnpack8(const __m256i* s) {
  __m256i t[4];
  for (int i = 0; i < 4; ++i) {
    // Lanes alternate the partial sums of s[2i] and s[2i+1].
    t[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(s[2 * i], s[2 * i + 1]),
                            _mm256_unpackhi_epi32(s[2 * i], s[2 * i + 1]));
  }
  // Each 128-bit half holds partial sums of blocks 0..3 (u0) or 4..7 (u1).
  const __m256i u0 = _mm256_add_epi32(_mm256_unpacklo_epi64(t[0], t[1]), _mm256_unpackhi_epi64(t[0], t[1]));
  const __m256i u1 = _mm256_add_epi32(_mm256_unpacklo_epi64(t[2], t[3]), _mm256_unpackhi_epi64(t[2], t[3]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

// The eight block sums of one group in the quad layout (quant_gemv_avx2.h):
// each set's four vectors accumulate lane-wise, hadd adds the lane pairs.
[[gnu::always_inline]] inline __m256i QuadSumsVnni(const __m256i* v, const int8_t* xp) {
  auto x = [xp](int i) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + 32 * i)); };
  __m256i z0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v[0], x(0));
  __m256i z1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v[4], x(4));
#pragma GCC unroll 3
  for (int k = 1; k < 4; ++k) {
    z0 = _mm256_dpbusd_epi32(z0, v[k], x(k));
    z1 = _mm256_dpbusd_epi32(z1, v[4 + k], x(4 + k));
  }
  // hadd(z0, z1) by two shuffles and an add: vphaddd issues at half the rate.
  const __m256 a = _mm256_castsi256_ps(z0), b = _mm256_castsi256_ps(z1);
  return _mm256_add_epi32(_mm256_castps_si256(_mm256_shuffle_ps(a, b, 0x88)),
                          _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0xdd)));
}

struct Q8Vnni {
  static constexpr int kBytes = 34;
  static constexpr int kSumShift = 7;
  static inline __m256i Dot(const uint8_t* blk, __m256i xv) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(),
                               _mm256_xor_si256(wv, _mm256_set1_epi8(static_cast<char>(0x80))), xv);
  }
  static inline __m256i Sums8(const uint8_t* w, const int8_t* xq) {
    __m256i s[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      s[j] = Dot(w + j * kBytes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + j * kQBlock)));
    }
    return ReduceUnpack8(s);
  }
  // The scale is the low word of each 32-bit load.
  [[gnu::always_inline]] static inline __m256 Scales8(const uint8_t* w) {
    __m128i v[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) v[j] = _mm_loadu_si32(w + j * kBytes);
    const __m128i a = _mm_unpacklo_epi32(_mm_unpacklo_epi16(v[0], v[1]), _mm_unpacklo_epi16(v[2], v[3]));
    const __m128i b = _mm_unpacklo_epi32(_mm_unpacklo_epi16(v[4], v[5]), _mm_unpacklo_epi16(v[6], v[7]));
    return _mm256_cvtph_ps(_mm_unpacklo_epi64(a, b));
  }
  // Blocks a, b (and c, d) interleaved by 64 bits give [a.q0 b.q0 | a.q2
  // b.q2] and [a.q1 b.q1 | a.q3 b.q3]; the 128-bit permutes pair them with
  // c and d. XOR as in Dot.
  [[gnu::always_inline]] static inline void Quad(const uint8_t* w, __m256i* v) {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
#pragma GCC unroll 2
    for (int s = 0; s < 2; ++s) {
      auto load = [w, flip](int j) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * kBytes + 2));
        return _mm256_xor_si256(wv, flip);
      };
      const __m256i a = load(2 * s), b = load(2 * s + 1), c = load(2 * s + 4), d = load(2 * s + 5);
      const __m256i ab_lo = _mm256_unpacklo_epi64(a, b), ab_hi = _mm256_unpackhi_epi64(a, b);
      const __m256i cd_lo = _mm256_unpacklo_epi64(c, d), cd_hi = _mm256_unpackhi_epi64(c, d);
      v[4 * s + 0] = _mm256_permute2x128_si256(ab_lo, cd_lo, 0x20);
      v[4 * s + 1] = _mm256_permute2x128_si256(ab_hi, cd_hi, 0x20);
      v[4 * s + 2] = _mm256_permute2x128_si256(ab_lo, cd_lo, 0x31);
      v[4 * s + 3] = _mm256_permute2x128_si256(ab_hi, cd_hi, 0x31);
    }
  }
  [[gnu::always_inline]] static inline __m256i QuadSums(const __m256i* v, const int8_t* xp) {
    return QuadSumsVnni(v, xp);
  }
};

// Q4_0 in the plain activation layout: one block per vector.
struct Q4Vnni {
  static constexpr int kBytes = 18;
  static constexpr int kSumShift = 3;
  static inline __m256i Dot(const uint8_t* blk, __m256i xv) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), UnpackQ4(blk), xv);
  }
  static inline __m256i Sums8(const uint8_t* w, const int8_t* xq) {
    __m256i s[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      s[j] = Dot(w + j * kBytes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + j * kQBlock)));
    }
    return ReduceUnpack8(s);
  }
  // Block j's scale is word 9j of the group (18-byte blocks): words 0, 9,
  // 18, 27 of 64 bytes from block 0, and the same from block 4.
  [[gnu::always_inline]] static inline __m256 Scales8(const uint8_t* w) {
    const __m256i idx = _mm256_setr_epi16(0, 9, 18, 27, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i lo = _mm256_permutex2var_epi16(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)), idx,
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32)));
    const __m256i hi = _mm256_permutex2var_epi16(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 4 * kBytes)), idx,
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 4 * kBytes + 32)));
    return _mm256_cvtph_ps(_mm_unpacklo_epi64(_mm256_castsi256_si128(lo), _mm256_castsi256_si128(hi)));
  }
  // Packed byte i holds elements i (low nibble) and 16 + i (high), so the
  // 64-bit interleave of [a | c] and [b | d] gives q0 (low nibbles of its
  // first 8 bytes), q2 (their high nibbles), and q1, q3 from the next 8.
  [[gnu::always_inline]] static inline void Quad(const uint8_t* w, __m256i* v) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
#pragma GCC unroll 2
    for (int s = 0; s < 2; ++s) {
      auto pair = [w](int j, int k) {
        return _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + j * kBytes + 2))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k * kBytes + 2)), 1);
      };
      const __m256i ac = pair(2 * s, 2 * s + 4), bd = pair(2 * s + 1, 2 * s + 5);
      const __m256i p0 = _mm256_unpacklo_epi64(ac, bd), p1 = _mm256_unpackhi_epi64(ac, bd);
      v[4 * s + 0] = _mm256_and_si256(p0, mask);
      v[4 * s + 1] = _mm256_and_si256(p1, mask);
      v[4 * s + 2] = _mm256_and_si256(_mm256_srli_epi16(p0, 4), mask);
      v[4 * s + 3] = _mm256_and_si256(_mm256_srli_epi16(p1, 4), mask);
    }
  }
  [[gnu::always_inline]] static inline __m256i QuadSums(const __m256i* v, const int8_t* xp) {
    return QuadSumsVnni(v, xp);
  }
};

// Q4_0 with activations in the paired layout of PairActivations: in each
// 8-block group, pair i (0..3) is 64 bytes, elements 0..15 of blocks i and
// i + 4, then elements 16..31 of the same two blocks.
struct Q4VnniPaired : Q4Vnni {
  static inline __m256i Sums8(const uint8_t* w, const int8_t* xp) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    __m256i z[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m256i packed = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i * kBytes + 2))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + (i + 4) * kBytes + 2)), 1);
      const __m256i lo = _mm256_and_si256(packed, mask);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask);
      const __m256i x_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + 64 * i));
      const __m256i x_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + 64 * i + 32));
      // Lanes 0..3: block i, lanes 4..7: block i + 4.
      z[i] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, x_lo), hi, x_hi);
    }
    // t01's lanes alternate blocks 0 and 1 (low half) and 4 and 5 (high),
    // t23's 2 and 3, 6 and 7; the 64-bit unpacks put blocks 0..7 in order.
    const __m256i t01 = _mm256_add_epi32(_mm256_unpacklo_epi32(z[0], z[1]), _mm256_unpackhi_epi32(z[0], z[1]));
    const __m256i t23 = _mm256_add_epi32(_mm256_unpacklo_epi32(z[2], z[3]), _mm256_unpackhi_epi32(z[2], z[3]));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
  }
};

// The paired layout needs a copy of the activations; it lives on the stack,
// which bounds it to 32 KiB (one L1 data cache of Zen 4): one row of up to
// 32768 columns, as decode has, or as many rows as fit.
constexpr int64_t kPairedBytes = 32 * 1024;

// x.qs in the paired layout of Q4VnniPaired, same row stride; the blocks
// past each row's last whole group are left out (DotRow reads them plain).
void PairActivations(const QuantizedRows& x, int8_t* out) {
  const int64_t row_bytes = x.blocks * kQBlock;
  for (int64_t r = 0; r < x.n_rows; ++r) {
    for (int64_t b = 0; b + 8 <= x.blocks; b += 8) {
      const int8_t* src = x.qs + r * row_bytes + b * kQBlock;
      int8_t* dst = out + r * row_bytes + b * kQBlock;
      for (int i = 0; i < 4; ++i) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i * kQBlock));
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + (i + 4) * kQBlock));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 64 * i), _mm256_permute2x128_si256(a, c, 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 64 * i + 32),
                            _mm256_permute2x128_si256(a, c, 0x31));
      }
    }
  }
}

}  // namespace

void Avx2VnniMatMulQuant(const MatrixView& w, const QuantizedRows& x, int64_t o_begin,
                         int64_t o_end, float* y) {
  if (UseQuadTiles(x)) {
    if (w.type == DType::kQ8_0) {
      MatMulQuantByTiles<Q8Vnni>(w, x, o_begin, o_end, y);
    } else if (w.type == DType::kQ4_0) {
      MatMulQuantByTiles<Q4Vnni>(w, x, o_begin, o_end, y);
    }
    return;
  }
  if (w.type == DType::kQ8_0) {
    MatMulQuantRows<Q8Vnni>(w, x, x.qs, o_begin, o_end, y);
  } else if (w.type == DType::kQ4_0) {
    if (x.n_rows * x.blocks * kQBlock <= kPairedBytes) {
      alignas(64) int8_t paired[kPairedBytes];
      PairActivations(x, paired);
      MatMulQuantRows<Q4VnniPaired>(w, x, paired, o_begin, o_end, y);
    } else {
      MatMulQuantRows<Q4Vnni>(w, x, x.qs, o_begin, o_end, y);
    }
  }
}

}  // namespace tessera
