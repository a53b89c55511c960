// AVX2 attention for one query token and the query heads of one kv head:
// scores for eight keys at a time (eight FMA chains, one transposing
// reduction), a vectorised softmax, then the value rows weighted 64 dimensions
// at a time in registers.
#include "kernels/cpu/avx2_kernels.h"
#include "kernels/cpu/simd_avx2.h"

namespace tessera {
namespace {

// Walks the rows of one kv head through the paged cache (see KvView) without
// a division per key.
class KvCursor {
 public:
  KvCursor(const float* store, const int32_t* block_ids, int64_t block_size, int64_t stride,
           int64_t offset)
      : store_(store), block_ids_(block_ids), block_size_(block_size), stride_(stride), offset_(offset) {}
  const float* Next() {
    const float* p = store_ + (block_ids_[block_] * block_size_ + row_) * stride_ + offset_;
    if (++row_ == block_size_) {
      row_ = 0;
      ++block_;
    }
    return p;
  }

 private:
  const float* store_;
  const int32_t* block_ids_;
  int64_t block_size_, stride_, offset_;
  int64_t block_ = 0, row_ = 0;
};

float Dot(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), acc);
  float s = Hsum(acc);
  for (; d < n; ++d) s += a[d] * b[d];
  return s;
}

void Scores(const float* q, KvCursor keys, int64_t n_keys, int64_t head_dim, float scale,
            float* scores) {
  const int64_t vec_dim = head_dim & ~int64_t{7};
  const __m256 vscale = _mm256_set1_ps(scale);
  int64_t j = 0;
  for (; j + 8 <= n_keys; j += 8) {
    const float* k[8];
    __m256 acc[8];
    for (int t = 0; t < 8; ++t) {
      k[t] = keys.Next();
      acc[t] = _mm256_setzero_ps();
    }
    for (int64_t d = 0; d < vec_dim; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      for (int t = 0; t < 8; ++t) acc[t] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[t] + d), acc[t]);
    }
    __m256 s = Hsum8(acc);
    if (vec_dim < head_dim) {
      float tail[8];
      for (int t = 0; t < 8; ++t) {
        tail[t] = 0.0f;
        for (int64_t d = vec_dim; d < head_dim; ++d) tail[t] += q[d] * k[t][d];
      }
      s = _mm256_add_ps(s, _mm256_loadu_ps(tail));
    }
    _mm256_storeu_ps(scores + j, _mm256_mul_ps(s, vscale));
  }
  for (; j < n_keys; ++j) scores[j] = Dot(q, keys.Next(), head_dim) * scale;
}

// out[d] = sum_j p[j] * v_j[d] * inv_sum for d in [d0, d0 + 64).
void WeightedValues64(const float* p, KvCursor values, int64_t n_keys, int64_t d0, float inv_sum,
                      float* out) {
  __m256 acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t j = 0; j < n_keys; ++j) {
    const __m256 pj = _mm256_broadcast_ss(p + j);
    const float* v = values.Next() + d0;
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * i), acc[i]);
  }
  const __m256 inv = _mm256_set1_ps(inv_sum);
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + d0 + 8 * i, _mm256_mul_ps(acc[i], inv));
}

// The same for the last d0..head_dim dims when fewer than 64 remain.
void WeightedValuesTail(const float* p, KvCursor values, int64_t n_keys, int64_t d0,
                        int64_t head_dim, float inv_sum, float* out) {
  for (int64_t d = d0; d < head_dim; ++d) out[d] = 0.0f;
  const int64_t vec_end = d0 + ((head_dim - d0) & ~int64_t{7});
  for (int64_t j = 0; j < n_keys; ++j) {
    const __m256 pj = _mm256_broadcast_ss(p + j);
    const float* v = values.Next();
    int64_t d = d0;
    for (; d < vec_end; d += 8) {
      _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + d), _mm256_loadu_ps(out + d)));
    }
    for (; d < head_dim; ++d) out[d] += p[j] * v[d];
  }
  for (int64_t d = d0; d < head_dim; ++d) out[d] *= inv_sum;
}

}  // namespace

void Avx2AttentionTask(const AttentionArgs& a, int64_t token, int64_t kv_head, float* scratch) {
  const HeadRange heads = QueryHeadsOf(a, kv_head);
  const int64_t n_keys = static_cast<int64_t>(a.positions[token]) + 1;
  const int64_t stride = a.n_kv_heads * a.head_dim;
  const int64_t offset = kv_head * a.head_dim;
  for (int64_t h = heads.first; h < heads.last; ++h) {
    const float* q = a.q + (token * a.n_heads + h) * a.head_dim;
    float* p = scratch + (h - heads.first) * n_keys;
    const KvCursor keys(a.kv.k_store, a.kv.block_ids, a.kv.block_size, stride, offset);
    Scores(q, keys, n_keys, a.head_dim, a.scale, p);

    // Softmax numerators; the 1 / sum is folded into the output.
    const float sum = SoftmaxNumerators(p, n_keys);

    float* out = a.out + (token * a.n_heads + h) * a.head_dim;
    const KvCursor values(a.kv.v_store, a.kv.block_ids, a.kv.block_size, stride, offset);
    int64_t d0 = 0;
    for (; d0 + 64 <= a.head_dim; d0 += 64) WeightedValues64(p, values, n_keys, d0, 1.0f / sum, out);
    if (d0 < a.head_dim) WeightedValuesTail(p, values, n_keys, d0, a.head_dim, 1.0f / sum, out);
  }
}

}  // namespace tessera
