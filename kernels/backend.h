// The compute backend interface: every op the transformer forward pass needs.
// Shapes are row-major; "rows" are tokens.
//
// Memory: every pointer an op takes (activations, positions, token ids, slot
// and block tables, KV stores, norm weights) lives in the backend's memory,
// obtained from Allocate: ordinary host memory for the CPU backend, device
// memory for the CUDA backend. Weight matrices and vectors are made resident
// once (Resident); host data reaches an op only through CopyIn, and results
// leave only through CopyOut. So one executor drives every backend, and on a
// GPU only tokens, positions and logits (or a stage's hidden rows) cross the
// bus.
//
// Ordering: ops run in call order. A device backend may queue them and return
// at once; CopyOut and Finish wait for everything queued before them. An op
// cannot fail on bad arguments (callers validate); a device fault (a launch
// or allocation failure, an illegal address) is sticky and reported by the
// next CopyOut/Finish.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/resident_weights.h"
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

// Keys and values of one sequence in one layer of a paged KV cache. The
// layer's store is an array of blocks of block_size rows; each row holds
// n_kv_heads * head_dim floats, head-major. Position p of the sequence lives
// in block block_ids[p / block_size] at row p % block_size, that is at
// store + (block_ids[p / block_size] * block_size + p % block_size) * row
// floats. block_ids lives in backend memory (the same table serves every
// layer; only the stores differ).
struct KvView {
  const float* k_store = nullptr;
  const float* v_store = nullptr;
  const int32_t* block_ids = nullptr;
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

// Whether `t` is a weight type the backends multiply: every DType tessera
// reads (both backends implement all of them).
constexpr bool IsMatMulType(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
      return true;
  }
  return false;
}

// Memory from Backend::Allocate, freed by its deleter (which the backend
// supplies) when the handle goes.
using BackendBuffer = std::unique_ptr<void, std::function<void(void*)>>;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  virtual int threads() const = 0;
  virtual bool SupportsMatMul(DType t) const = 0;

  // True when the backend's memory is ordinary host memory (the CPU
  // backend): host code may then read and write it directly, and an MPI
  // communicator may take it.
  virtual bool host_memory() const = 0;

  // `bytes` of backend memory, uninitialised, aligned to at least 64 bytes;
  // ResourceExhausted (saying how much was asked and how much is free) when
  // it cannot be had. Zero bytes gives a valid, empty handle.
  virtual absl::StatusOr<BackendBuffer> Allocate(int64_t bytes) = 0;
  // host -> backend. The host source may be reused as soon as it returns.
  virtual void CopyIn(void* dst, const void* host_src, int64_t bytes) = 0;
  // backend -> host; waits for the ops queued before it. Returns the sticky
  // device error, if any (the host bytes are then unspecified).
  virtual absl::Status CopyOut(void* host_dst, const void* src, int64_t bytes) = 0;
  // backend -> backend.
  virtual void Copy(void* dst, const void* src, int64_t bytes) = 0;
  virtual void Zero(void* dst, int64_t bytes) = 0;
  // Waits for every queued op; the sticky device error, if any.
  virtual absl::Status Finish() = 0;

  // The weights of a model or shard in this backend's memory. The CPU backend
  // returns views of `weights` themselves (no copy; `weights` must outlive the
  // result); a device backend uploads every matrix and vector once and owns
  // the copies. ResourceExhausted when they do not fit.
  virtual absl::StatusOr<std::unique_ptr<ResidentWeights>> Resident(const ModelWeights& weights) = 0;

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

  // out[i] = dequantized row tokens[i] - id_offset of `table` (table.cols
  // floats each) for i < n; a row whose id falls outside [id_offset,
  // id_offset + table.rows) is zeros (a vocabulary-parallel rank embeds only
  // its slice). `tokens` is in backend memory.
  virtual void Embedding(const MatrixView& table, const int32_t* tokens, int64_t n, int64_t id_offset,
                         float* out) = 0;

  // Writes the keys and values of n_rows tokens into a paged KV store:
  // row i of k (and of v), row_floats floats, goes to row slots[i] of
  // k_store (v_store), i.e. to k_store + slots[i] * row_floats. `slots` is in
  // backend memory; the slots of one call are distinct.
  virtual void StoreKv(const float* k, const float* v, int64_t n_rows, int64_t row_floats,
                       const int32_t* slots, float* k_store, float* v_store) = 0;

  // out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight; out may alias x.
  virtual void RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim,
                       float eps, float* out) = 0;

  // Rotates, in place, the first p.rope_dims dims of each of n_heads heads of
  // each row r by angles derived from positions[r].
  virtual void Rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim,
                    const int32_t* positions, const RopeParams& p) = 0;

  // Causal grouped-query attention of one sequence's query tokens over its KV.
  virtual void Attention(const AttentionArgs& args) = 0;

  // The attention of every sequence of a step (each entry as for Attention;
  // the entries write disjoint outputs). One call lets a device backend run
  // them all in one launch. The default runs them one by one.
  virtual void AttentionBatch(std::span<const AttentionArgs> seqs) {
    for (const AttentionArgs& a : seqs) Attention(a);
  }

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
