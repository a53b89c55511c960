// AVX2 row and element-wise ops, and the row conversions (bit-exact against
// model/half.h and model/quant.h: F16C conversion is exact, and Q8_0/Q4_0
// dequantization is one f32 multiply per element, as in the scalar code).
#include "kernels/cpu/avx2_kernels.h"
#include "kernels/cpu/simd_avx2.h"
#include "model/quant.h"

namespace tessera {
namespace {

void DequantizeQ8_0(const uint8_t* src, int64_t n, float* dst) {
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    const uint8_t* blk = src + b * 34;
    const __m256 d = _mm256_set1_ps(BlockScale(blk));
    for (int i = 0; i < kQBlock; i += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + i));
      _mm256_storeu_ps(dst + b * kQBlock + i,
                       _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    }
  }
}

void DequantizeQ4_0(const uint8_t* src, int64_t n, float* dst) {
  const __m128i low = _mm_set1_epi8(0x0f);
  const __m128i eight = _mm_set1_epi8(8);
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    const uint8_t* blk = src + b * 18;
    const __m256 d = _mm256_set1_ps(BlockScale(blk));
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(packed, low), eight);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(packed, 4), low), eight);
    float* out = dst + b * kQBlock;
    _mm256_storeu_ps(out, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
    _mm256_storeu_ps(out + 8, _mm256_mul_ps(
                                  d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
    _mm256_storeu_ps(out + 16, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
    _mm256_storeu_ps(out + 24, _mm256_mul_ps(
                                   d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
  }
}

}  // namespace

namespace avx2 {

void F16ToF32(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, LoadF16(src + i));
  for (; i < n; ++i) dst[i] = F16Scalar(src[i]);
}

void Bf16ToF32(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, LoadBf16(src + i));
  for (; i < n; ++i) dst[i] = Bf16Scalar(src[i]);
}

void DequantizeRows(const QuantizedRows& q, int64_t r_begin, int64_t r_end, float* x) {
  for (int64_t xb = r_begin * q.blocks; xb < r_end * q.blocks; ++xb) {
    const __m256 d = _mm256_set1_ps(q.d[xb]);
    for (int i = 0; i < kQBlock; i += 8) {
      const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q.qs + xb * kQBlock + i));
      _mm256_storeu_ps(x + xb * kQBlock + i,
                       _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))));
    }
  }
}

}  // namespace avx2

void Avx2DequantizeRow(DType type, const uint8_t* src, int64_t n, float* dst) {
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16: return avx2::F16ToF32(reinterpret_cast<const uint16_t*>(src), n, dst);
    case DType::kBF16: return avx2::Bf16ToF32(reinterpret_cast<const uint16_t*>(src), n, dst);
    case DType::kQ8_0: return DequantizeQ8_0(src, n, dst);
    case DType::kQ4_0: return DequantizeQ4_0(src, n, dst);
  }
}

void Avx2RmsNorm(const float* x, const float* weight, int64_t dim, float eps, float* out) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_fmadd_ps(v0, v0, a0);
    a1 = _mm256_fmadd_ps(v1, v1, a1);
  }
  float sum_sq = Hsum(_mm256_add_ps(a0, a1));
  for (; i < dim; ++i) sum_sq += x[i] * x[i];
  const float scale = 1.0f / __builtin_sqrtf(sum_sq / static_cast<float>(dim) + eps);
  const __m256 vs = _mm256_set1_ps(scale);
  i = 0;
  for (; i + 8 <= dim; i += 8) {
    _mm256_storeu_ps(out + i,
                     _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(weight + i)));
  }
  for (; i < dim; ++i) out[i] = x[i] * scale * weight[i];
}

void Avx2RopeRow(float* x, int64_t n_heads, int64_t head_dim, int32_t position, const RopeParams& p,
                 float* scratch) {
  const int64_t half = p.rope_dims / 2;
  float* c = scratch;
  float* s = scratch + p.rope_dims;
  if (p.neox) {
    RopeCosSin(position, p, c, s);
    for (int64_t h = 0; h < n_heads; ++h) {
      float* lo = x + h * head_dim;
      float* hi = lo + half;
      int64_t i = 0;
      for (; i + 8 <= half; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(lo + i), x1 = _mm256_loadu_ps(hi + i);
        const __m256 vc = _mm256_loadu_ps(c + i), vs = _mm256_loadu_ps(s + i);
        _mm256_storeu_ps(lo + i, _mm256_fmsub_ps(x0, vc, _mm256_mul_ps(x1, vs)));
        _mm256_storeu_ps(hi + i, _mm256_fmadd_ps(x0, vs, _mm256_mul_ps(x1, vc)));
      }
      for (; i < half; ++i) {
        const float x0 = lo[i], x1 = hi[i];
        lo[i] = x0 * c[i] - x1 * s[i];
        hi[i] = x0 * s[i] + x1 * c[i];
      }
    }
    return;
  }
  // Adjacent pairs: expand to per-element tables c2 = {c0, c0, c1, c1, ...} and
  // s2 = {-s0, s0, -s1, s1, ...} so x' = x * c2 + swap_pairs(x) * s2.
  RopeCosSin(position, p, c + half, s + half);
  for (int64_t i = 0; i < half; ++i) {
    const float ci = c[half + i], si = s[half + i];
    c[2 * i] = ci;
    c[2 * i + 1] = ci;
    s[2 * i] = -si;
    s[2 * i + 1] = si;
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = x + h * head_dim;
    int64_t i = 0;
    for (; i + 8 <= p.rope_dims; i += 8) {
      const __m256 v = _mm256_loadu_ps(head + i);
      const __m256 swapped = _mm256_permute_ps(v, 0xb1);
      _mm256_storeu_ps(head + i, _mm256_fmadd_ps(v, _mm256_loadu_ps(c + i),
                                                 _mm256_mul_ps(swapped, _mm256_loadu_ps(s + i))));
    }
    for (; i < p.rope_dims; i += 2) {
      const float x0 = head[i], x1 = head[i + 1];
      head[i] = x0 * c[i] + x1 * s[i];
      head[i + 1] = x1 * c[i + 1] + x0 * s[i + 1];
    }
  }
}

void Avx2SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = Exp(_mm256_xor_ps(g, sign));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)),
                                            _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + __builtin_expf(-g)) * up[i];
  }
}

void Avx2Add(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) x[i] += y[i];
}

void Avx2Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float sum = SoftmaxNumerators(x, n);
  int64_t i = 0;
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  const float inv_s = 1.0f / sum;
  for (; i < n; ++i) x[i] *= inv_s;
}

}  // namespace tessera
