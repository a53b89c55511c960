// The compute backend interface: every op the transformer forward pass needs.
// A backend owns its threads; callers pass host pointers to f32 activations.
// Shapes are row-major; "rows" are tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "model/dtype.h"
#include "model/matrix_view.h"

namespace tessera {

struct RopeParams {
  float theta = 10000.0f;
  // Linear position scaling: angle uses position / linear_scale.
  float linear_scale = 1.0f;
  // NeoX ordering rotates pairs (i, i + rope_dims/2); the normal (GPT-J/llama)
  // ordering rotates adjacent pairs (2i, 2i + 1).
  bool neox = false;
  // Rotated leading dimensions of each head (<= head_dim, even).
  int64_t rope_dims = 0;
  // Optional per-frequency divisors (rope_dims/2 values, Llama 3 style
  // "rope_freqs"); nullptr means all ones.
  const float* freq_factors = nullptr;
};

// Keys and values of one sequence, in fixed-size blocks (a paged KV cache).
// Position p lives in block p / block_size at row p % block_size; each row holds
// n_kv_heads * head_dim floats, head-major.
struct KvView {
  const float* const* k_blocks = nullptr;
  const float* const* v_blocks = nullptr;
  int64_t block_size = 0;
};

struct AttentionArgs {
  const float* q = nullptr;          // n_tokens x n_heads x head_dim
  int64_t n_tokens = 0;
  const int32_t* positions = nullptr;  // query i attends keys [0, positions[i]]
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  // Grouped-query layout. Query head h (0-based in q) reads kv head
  // (q_head_offset + h) / kv_group. The defaults (kv_group 0 = n_heads /
  // n_kv_heads, offset 0) are the whole model; a tensor-parallel rank holding
  // query heads [qb, qe) of a model with group g and kv heads [qb / g, ...)
  // passes kv_group g and q_head_offset qb - (qb / g) * g.
  int64_t kv_group = 0;
  int64_t q_head_offset = 0;
  float scale = 1.0f;                  // usually 1/sqrt(head_dim)
  KvView kv;
  float* out = nullptr;                // n_tokens x n_heads x head_dim
};

// Query heads [first, last) of `a` that read kv head `kv_head`.
struct HeadRange {
  int64_t first = 0;
  int64_t last = 0;
};
inline int64_t KvGroup(const AttentionArgs& a) {
  return a.kv_group > 0 ? a.kv_group : a.n_heads / a.n_kv_heads;
}
inline HeadRange QueryHeadsOf(const AttentionArgs& a, int64_t kv_head) {
  const int64_t g = KvGroup(a);
  const int64_t first = kv_head * g - a.q_head_offset;
  const int64_t last = first + g;
  return HeadRange{first < 0 ? 0 : first, last > a.n_heads ? a.n_heads : last};
}

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  virtual int threads() const = 0;
  virtual bool SupportsMatMul(DType t) const = 0;

  // y[r][o] = sum_k x[r][k] * W[o][k] for r < n_rows, o < W.rows.
  // x: n_rows x W.cols, y: n_rows x W.rows, both dense f32.
  virtual void MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y) = 0;

  // The products of one input with several matrices of the same width and
  // type (Q, K and V; gate and up): y[i] = x W[i]^T, each n_rows x W[i].rows.
  // One call lets a backend share the input's preparation and split all rows
  // over its threads at once. The default runs them one by one.
  virtual void MatMulShared(std::span<const MatrixView* const> ws, const float* x, int64_t n_rows,
                            std::span<float* const> ys) {
    for (size_t i = 0; i < ws.size(); ++i) MatMul(*ws[i], x, n_rows, ys[i]);
  }

  // out[i] = dequantized row tokens[i] of `table` (table.cols floats each).
  // Token ids must be < table.rows (validated by the caller).
  virtual void Embedding(const MatrixView& table, std::span<const int32_t> tokens,
                         float* out) = 0;

  // out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight; out may alias x.
  virtual void RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim,
                       float eps, float* out) = 0;

  // Rotates, in place, the first p.rope_dims dims of each of n_heads heads of
  // each row r by angles derived from positions[r].
  virtual void Rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim,
                    const int32_t* positions, const RopeParams& p) = 0;

  // Causal grouped-query attention of one sequence's query tokens over its KV.
  virtual void Attention(const AttentionArgs& args) = 0;

  // out[i] = silu(gate[i]) * up[i]; out may alias gate.
  virtual void SiluMul(const float* gate, const float* up, int64_t n, float* out) = 0;

  // x[i] += y[i].
  virtual void Add(float* x, const float* y, int64_t n) = 0;

  // x[r] = bias + x[r] for each of n_rows rows of width n.
  virtual void AddBias(float* x, const float* bias, int64_t n_rows, int64_t n) = 0;

  // Numerically stable in-place softmax of n values.
  virtual void Softmax(float* x, int64_t n) = 0;
};

}  // namespace tessera
