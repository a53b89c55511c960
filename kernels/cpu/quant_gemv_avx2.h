// The row loop of the integer-dot GEMV of Q8_0/Q4_0 weights, shared by the
// AVX2 kernel (matmul_quant_avx2.cc) and its VNNI variant
// (matmul_quant_vnni.cc). Both form exact int32 block dot products, only by
// different instructions; this loop then scales and sums them in one fixed
// order, so the two variants give bit-identical results. Below it, the tiles
// that multiply several activation rows per weight row (the VNNI kernel's
// path for multi-row calls) in that same order.
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

// Adds blocks [b, nb) of a row's dot product to `total`, one at a time, in
// order: the end of DotRow, shared by every kernel that must match it.
template <typename K>
inline float DotTail(const uint8_t* w, const int8_t* xq, const float* xd, const int32_t* xsum,
                     int64_t b, int64_t nb, float total) {
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
  return DotTail<K>(w, xq, xd, xsum, b, nb, Hsum(_mm256_add_ps(acc0, acc1)));
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

// ---- Several activation rows per weight row (decode batches, prefill) ----
//
// DotRow per (weight row, activation row) redoes the weight loads, the scale
// conversion and an 8-to-1 reduction per block for every activation row. The
// tiles below load and convert one weight group once for up to kMaxTileRows
// activation rows, and lay both operands out so that the reduction almost
// disappears: in the "quad" layout each 32-bit lane of a dot product vector
// belongs to one block for the whole group, so the four products of a block
// set accumulate lane-wise and one horizontal add of lane pairs gives the
// eight block sums in order. On one Zen 4 core (VNNI, K = 1024 -> 2816, Q8_0)
// the row-by-row loop runs at 45 GMAC/s whatever the rows; the tiles at 62
// (2 rows), 88 (4), 112 (8 and more).
//
// A group's eight blocks form two sets, {0, 1, 4, 5} and {2, 3, 6, 7}; with
// qk = elements 8k..8k+7 of a block, vector k (0..3) of set {a, b, c, d} is
//   [a.qk b.qk | c.qk d.qk]   (lanes 0-1: a, 2-3: b, 4-5: c, 6-7: d),
// for the weights (K::Quad) and the activations (QuadActivations) alike. The
// set {0,1,4,5} sums to z0, {2,3,6,7} to z1, and hadd(z0, z1) is blocks 0..7.
// The integer sums are exact, so they equal DotRow's, and the float part
// below is DotRow's operation for operation (DotTail included): results are
// bit-identical to the single-row path whatever rows share a call.
//
// K additionally provides:
//   Quad(w, v)          v[0..3]: set {0,1,4,5} of blocks w[0..8), v[4..7]:
//                       set {2,3,6,7}, in the form QuadSums multiplies;
//   QuadSums(v, xp)     the eight block sums of the group, with the excess
//                       (sum(x) << kSumShift, lanes in block order) still in.
// Per group and activation row, kQuadGroupBytes bytes: the two sets' four
// vectors (256 bytes), the excess (8 int32) and the activation scales (8
// f32), so one pointer with fixed offsets reaches all of a tile's operands.
// Groups are outermost: [group][row][kQuadGroupBytes].
constexpr int64_t kQuadGroupBytes = 8 * kQBlock + 64;
constexpr int64_t kQuadExcess = 8 * kQBlock, kQuadScales = 8 * kQBlock + 32;
// Activation rows per tile: two accumulators per row, the eight weight
// vectors and the scales fill the 32 vector registers of AVX-512VL.
constexpr int kMaxTileRows = 8;
// Weight rows per block (see MatMulQuantByTiles).
constexpr int64_t kQuadOBlock = 16;
// The quad activations live on the stack: 64 KiB hold 51 rows of K = 1024,
// 18 of K = 2816, 8 of K = 6400.
constexpr int64_t kQuadBytes = 64 * 1024;
// A tile's activations up to this size stay in L1 over a block of weight
// rows; larger ones are taken in segments of kQuadSegGroups groups (8 rows x
// 8 groups x 320 bytes = 20 KiB). K = 8192, 8+ rows: 90 GMAC/s, 75 whole.
constexpr int64_t kQuadL1Bytes = 32 * 1024;
constexpr int64_t kQuadSegGroups = 8;
static_assert(kQuadSegGroups % 2 == 0, "segments must start on even groups (acc0/acc1 parity)");

// Rows [r_begin, r_end), groups [g_begin, g_end) of x in the quad layout.
template <int kSumShift>
void QuadActivations(const QuantizedRows& x, int64_t r_begin, int64_t r_end, int64_t g_begin,
                     int64_t g_end, int8_t* out) {
  const int64_t rows = r_end - r_begin;
  for (int64_t r = r_begin; r < r_end; ++r) {
    for (int64_t g = g_begin; g < g_end; ++g) {
      const int64_t b = r * x.blocks + 8 * g;
      const int8_t* src = x.qs + b * kQBlock;
      int8_t* dst = out + ((g - g_begin) * rows + r - r_begin) * kQuadGroupBytes;
      for (int s = 0; s < 2; ++s) {
        auto load = [&](int j) {
          return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + j * kQBlock));
        };
        const __m256i a = load(2 * s), bb = load(2 * s + 1), c = load(2 * s + 4), d = load(2 * s + 5);
        const __m256i ab_lo = _mm256_unpacklo_epi64(a, bb), ab_hi = _mm256_unpackhi_epi64(a, bb);
        const __m256i cd_lo = _mm256_unpacklo_epi64(c, d), cd_hi = _mm256_unpackhi_epi64(c, d);
        __m256i* v = reinterpret_cast<__m256i*>(dst + 128 * s);
        _mm256_storeu_si256(v + 0, _mm256_permute2x128_si256(ab_lo, cd_lo, 0x20));
        _mm256_storeu_si256(v + 1, _mm256_permute2x128_si256(ab_hi, cd_hi, 0x20));
        _mm256_storeu_si256(v + 2, _mm256_permute2x128_si256(ab_lo, cd_lo, 0x31));
        _mm256_storeu_si256(v + 3, _mm256_permute2x128_si256(ab_hi, cd_hi, 0x31));
      }
      const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.sums + b));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + kQuadExcess), _mm256_slli_epi32(sums, kSumShift));
      std::memcpy(dst + kQuadScales, x.d + b, 8 * sizeof(float));
    }
  }
}

// One group (8 blocks from w) for R activation rows, kQuadGroupBytes apart
// from xp: DotRow's loop body, with the weight work done once.
template <typename K, int R>
[[gnu::always_inline]] inline void QuadGroup(const uint8_t* w, const int8_t* xp, __m256* acc) {
  __m256i v[8];
  K::Quad(w, v);
  const __m256 scales = K::Scales8(w);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const int8_t* x = xp + r * kQuadGroupBytes;
    __m256i sums = K::QuadSums(v, x);
    if constexpr (K::kSumShift > 0) {
      sums = _mm256_sub_epi32(sums, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + kQuadExcess)));
    }
    const __m256 d = _mm256_mul_ps(scales, _mm256_loadu_ps(reinterpret_cast<const float*>(x + kQuadScales)));
    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc[r]);
  }
}

// Activation rows [r, r + R) against weight row w over groups [g_begin,
// g_end) (g_begin even), whose quad activations start at xp (row r, group
// g_begin), groups g_stride bytes apart. The accumulators start at zero
// where g_begin is 0, else from state (2R vectors); they end in y[i *
// y_stride] for row r + i where g_end is the last group, else in state.
template <typename K, int R>
void QuadTile(const uint8_t* w, const QuantizedRows& x, int64_t r, const int8_t* xp, int64_t g_stride,
              int64_t g_begin, int64_t g_end, __m256* state, float* y, int64_t y_stride) {
  const int64_t nb = x.blocks, groups = nb / 8;
  __m256 acc0[R], acc1[R];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    acc0[i] = g_begin == 0 ? _mm256_setzero_ps() : state[i];
    acc1[i] = g_begin == 0 ? _mm256_setzero_ps() : state[R + i];
  }
  // Even groups into acc0, odd ones into acc1, as DotRow.
  int64_t g = g_begin;
  for (; g + 2 <= g_end; g += 2) {
    QuadGroup<K, R>(w + 8 * g * K::kBytes, xp + (g - g_begin) * g_stride, acc0);
    QuadGroup<K, R>(w + 8 * (g + 1) * K::kBytes, xp + (g + 1 - g_begin) * g_stride, acc1);
  }
  if (g < g_end) QuadGroup<K, R>(w + 8 * g * K::kBytes, xp + (g - g_begin) * g_stride, acc0);
  if (g_end < groups) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      state[i] = acc0[i];
      state[R + i] = acc1[i];
    }
    return;
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    const int64_t row = r + i;
    y[i * y_stride] = DotTail<K>(w, x.qs + row * nb * kQBlock, x.d + row * nb, x.sums + row * nb,
                                 8 * groups, nb, Hsum(_mm256_add_ps(acc0[i], acc1[i])));
  }
}

// QuadTile for n (1..kMaxTileRows) rows.
template <typename K>
void QuadTileN(int64_t n, const uint8_t* w, const QuantizedRows& x, int64_t r, const int8_t* xp,
               int64_t g_stride, int64_t g_begin, int64_t g_end, __m256* state, float* y, int64_t y_stride) {
  static_assert(kMaxTileRows == 8, "the cases below cover 1..8 rows");
  switch (n) {
#define TESSERA_QUAD_TILE(R) \
  case R: QuadTile<K, R>(w, x, r, xp, g_stride, g_begin, g_end, state, y, y_stride); break;
    TESSERA_QUAD_TILE(1) TESSERA_QUAD_TILE(2) TESSERA_QUAD_TILE(3) TESSERA_QUAD_TILE(4)
    TESSERA_QUAD_TILE(5) TESSERA_QUAD_TILE(6) TESSERA_QUAD_TILE(7) TESSERA_QUAD_TILE(8)
#undef TESSERA_QUAD_TILE
    default: break;
  }
}

// Rows [r, r + n) against weight rows [o0, o1) over groups [g_begin,
// g_end), in segments of `seg` groups. xq holds the quad layout of rows from
// r_base (`rows` of them) and groups from g_base.
template <typename K>
void QuadBlock(const MatrixView& w, const QuantizedRows& x, const int8_t* xq, int64_t rows, int64_t r_base,
               int64_t g_base, int64_t r, int64_t n, int64_t o0, int64_t o1, int64_t g_begin, int64_t g_end,
               int64_t seg, __m256 (*state)[2 * kMaxTileRows], float* y) {
  for (int64_t g0 = g_begin; g0 < g_end; g0 += seg) {
    const int64_t g1 = MinI(g_end, g0 + seg);
    const int8_t* xp = xq + ((g0 - g_base) * rows + r - r_base) * kQuadGroupBytes;
    for (int64_t o = o0; o < o1; ++o) {
      QuadTileN<K>(n, w.data + o * w.row_bytes, x, r, xp, rows * kQuadGroupBytes, g0, g1, state[o - o0],
                   y + r * w.rows + o, w.rows);
    }
  }
}

// Whether MatMulQuantByTiles applies: several rows and a whole group.
inline bool UseQuadTiles(const QuantizedRows& x) { return x.n_rows >= 2 && x.blocks >= 8; }

// Outputs [o_begin, o_end) of a multi-row product (UseQuadTiles) by tiles.
//
// Blocks of kQuadOBlock weight rows (contiguous, so their first pass reads W
// as one sequential stream) meet every tile of activation rows in turn, so a
// tile's activations stay in L1 over the block's rows: one weight row at a
// time against all tiles streamed them from L2 (16 rows of K = 2816: 81
// against 103 GMAC/s on one Zen 4 core). Activation rows whose quad layout
// does not fit kQuadBytes whole are taken in chunks that do (each streaming W
// again); where not even kMaxTileRows rows fit, one tile at a time, its quad
// layout made per block of weight rows and part of K. Not inlined: its frame
// holds the 64 KiB buffer, which single-row calls should not pay for.
template <typename K>
[[gnu::noinline]] void MatMulQuantByTiles(const MatrixView& w, const QuantizedRows& x, int64_t o_begin,
                                          int64_t o_end, float* y) {
  const int64_t groups = x.blocks / 8, n_rows = x.n_rows;
  alignas(64) int8_t quad[kQuadBytes];
  __m256 state[kQuadOBlock][2 * kMaxTileRows];
  const int64_t fit = kQuadBytes / (groups * kQuadGroupBytes);
  const int64_t seg =
      MinI(n_rows, kMaxTileRows) * groups * kQuadGroupBytes <= kQuadL1Bytes ? groups : kQuadSegGroups;
  if (fit >= MinI(n_rows, kMaxTileRows)) {
    const int64_t chunks = (n_rows + fit - 1) / fit;
    const int64_t per_chunk = (n_rows + chunks - 1) / chunks;
    for (int64_t r0 = 0; r0 < n_rows; r0 += per_chunk) {
      const int64_t r1 = MinI(n_rows, r0 + per_chunk);
      QuadActivations<K::kSumShift>(x, r0, r1, 0, groups, quad);
      for (int64_t o0 = o_begin; o0 < o_end; o0 += kQuadOBlock) {
        for (int64_t r = r0; r < r1; r += kMaxTileRows) {
          QuadBlock<K>(w, x, quad, r1 - r0, r0, 0, r, MinI(kMaxTileRows, r1 - r), o0,
                       MinI(o_end, o0 + kQuadOBlock), 0, groups, seg, state, y);
        }
      }
    }
    return;
  }
  // Here the tiles' activations exceed kQuadL1Bytes, so seg is
  // kQuadSegGroups; each buffer fill holds a whole number of segments.
  const int64_t fill = kQuadBytes / (kMaxTileRows * kQuadGroupBytes) / kQuadSegGroups * kQuadSegGroups;
  for (int64_t r = 0; r < n_rows; r += kMaxTileRows) {
    const int64_t n = MinI(kMaxTileRows, n_rows - r);
    for (int64_t o0 = o_begin; o0 < o_end; o0 += kQuadOBlock) {
      for (int64_t g0 = 0; g0 < groups; g0 += fill) {
        const int64_t g1 = MinI(groups, g0 + fill);
        QuadActivations<K::kSumShift>(x, r, r + n, g0, g1, quad);
        QuadBlock<K>(w, x, quad, n, r, g0, r, n, o0, MinI(o_end, o0 + kQuadOBlock), g0, g1, seg, state, y);
      }
    }
  }
}

}  // namespace
}  // namespace tessera
