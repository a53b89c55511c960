// CpuBackend: picks the kernel table for the ISA and spreads each op over the
// thread pool. Ops too small to repay a dispatch (~1 us) run on the caller.
#include "kernels/cpu/cpu_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/host_memory.h"
#include "kernels/cpu/thread_pool.h"
#include "model/quant.h"

namespace tessera {
namespace {

// Element counts below which an element-wise or row op stays on one thread.
constexpr int64_t kParallelElems = 1 << 16;
// Weight bytes below which a GEMV stays on one thread.
constexpr int64_t kParallelWeightBytes = 1 << 16;

// Rows from which the GEMM path beats the GEMV path (kernel_bench's crossover
// tables, 1024 -> 2816 and 2816 -> 1024 on 2 Zen 4 threads): float types
// from 4 rows; the AVX2 integer dot products of the quantized types stay
// ahead until 12 (Q8_0) and 16 (Q4_0) rows, and at 512 rows the GEMM is ~1.6x
// faster than them. With VNNI, the multi-row tiles of the integer path
// (quant_gemv_avx2.h) beat the GEMM at every row count (~2x at 512 rows), so
// quantized products never take it; a row's result then never depends on
// how many rows share its call.
int64_t DefaultGemmMinRows(DType t, CpuIsa isa) {
  const bool vnni = isa == CpuIsa::kAvx2Vnni;
  constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  switch (t) {
    case DType::kQ8_0:
      return vnni ? kNever : 12;
    case DType::kQ4_0:
      return vnni ? kNever : 16;
    default:
      return 4;
  }
}

bool IsQuantized(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, CpuIsa isa, int64_t gemm_min_rows)
      : isa_(isa),
        kernels_(&KernelsFor(isa)),
        gemm_min_rows_(gemm_min_rows),
        pool_(threads),
        scratch_(static_cast<size_t>(threads)) {}

  std::string_view name() const override {
    switch (isa_) {
      case CpuIsa::kAvx2: return "cpu-avx2";
      case CpuIsa::kAvx2Vnni: return "cpu-avx2-vnni";
      case CpuIsa::kScalar: break;
    }
    return "cpu-scalar";
  }
  int threads() const override { return pool_.size(); }
  bool SupportsMatMul(DType t) const override { return IsMatMulType(t); }

  // Host memory: the executor reads and writes it directly, copies are
  // memcpy, and nothing is ever queued.
  bool host_memory() const override { return true; }
  absl::StatusOr<BackendBuffer> Allocate(int64_t bytes) override { return AllocateHostMemory(bytes); }
  void CopyIn(void* dst, const void* host_src, int64_t bytes) override {
    if (bytes > 0) std::memcpy(dst, host_src, static_cast<size_t>(bytes));
  }
  absl::Status CopyOut(void* host_dst, const void* src, int64_t bytes) override {
    if (bytes > 0) std::memcpy(host_dst, src, static_cast<size_t>(bytes));
    return absl::OkStatus();
  }
  void Copy(void* dst, const void* src, int64_t bytes) override {
    if (bytes > 0) std::memcpy(dst, src, static_cast<size_t>(bytes));
  }
  void Zero(void* dst, int64_t bytes) override {
    if (bytes > 0) std::memset(dst, 0, static_cast<size_t>(bytes));
  }
  absl::Status Finish() override { return absl::OkStatus(); }
  absl::StatusOr<std::unique_ptr<ResidentWeights>> Resident(const ModelWeights& weights) override {
    return std::make_unique<ResidentWeights>(HostViews(weights));
  }

  void MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y) override;
  void MatMulShared(std::span<const MatrixView* const> ws, const float* x, int64_t n_rows,
                    std::span<float* const> ys) override;
  void Embedding(const MatrixView& table, const int32_t* tokens, int64_t n, int64_t id_offset,
                 float* out) override;
  void StoreKv(const float* k, const float* v, int64_t n_rows, int64_t row_floats,
               const int32_t* slots, float* k_store, float* v_store) override;
  void RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
               float* out) override;
  void Rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
            const RopeParams& p) override;
  void Attention(const AttentionArgs& args) override;
  void AttentionBatch(std::span<const AttentionArgs> seqs) override;
  void SiluMul(const float* gate, const float* up, int64_t n, float* out) override;
  void Add(float* x, const float* y, int64_t n) override;
  void AddBias(float* x, const float* bias, int64_t n_rows, int64_t n) override;
  void Softmax(float* x, int64_t n) override;

 private:
  bool UseGemm(DType t, int64_t n_rows) const {
    if (!UsesAvx2(isa_)) return false;
    return n_rows >= (gemm_min_rows_ > 0 ? gemm_min_rows_ : DefaultGemmMinRows(t, isa_));
  }
  QuantizedRows QuantizeActivations(const float* x, int64_t n_rows, int64_t cols);
  // Makes the scratch hold what any attention task of `seqs` needs.
  void ReserveAttentionScratch(std::span<const AttentionArgs> seqs);
  // Makes every thread's scratch hold at least `floats` floats. Runs on the
  // caller before a parallel op, so kernels never allocate.
  void ReserveScratch(size_t floats) {
    for (std::vector<float>& s : scratch_) {
      if (s.size() < floats) s.resize(floats);
    }
  }

  const CpuIsa isa_;
  const CpuKernels* const kernels_;
  const int64_t gemm_min_rows_;
  ThreadPool pool_;
  std::vector<std::vector<float>> scratch_;  // one per pool thread
  // AttentionBatch: index of each sequence's first task, and the total last.
  std::vector<int64_t> batch_task_begin_;
  // Quantized activations and their f32 round trip, reused across calls.
  std::vector<float> q_d_;
  std::vector<int8_t> q_qs_;
  std::vector<int32_t> q_sums_;
  std::vector<float> q_x_;
};

QuantizedRows CpuBackend::QuantizeActivations(const float* x, int64_t n_rows, int64_t cols) {
  const int64_t blocks = cols / kQBlock;
  const size_t n_blocks = static_cast<size_t>(n_rows * blocks);
  if (q_d_.size() < n_blocks) {
    q_d_.resize(n_blocks);
    q_sums_.resize(n_blocks);
    q_qs_.resize(n_blocks * kQBlock);
  }
  const QuantizedRows q{n_rows, blocks, q_d_.data(), q_qs_.data(), q_sums_.data()};
  if (n_rows * cols >= kParallelElems) {
    pool_.ParallelFor(n_rows, [&](int64_t b, int64_t e) { kernels_->quantize_rows(x, b, e, q); });
  } else {
    kernels_->quantize_rows(x, 0, n_rows, q);
  }
  return q;
}

void CpuBackend::MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y) {
  if (n_rows <= 0 || w.rows <= 0) return;
  if (w.cols == 0) {
    std::fill(y, y + n_rows * w.rows, 0.0f);
    return;
  }
  const bool quantized = IsQuantized(w.type);
  QuantizedRows q;
  if (quantized) q = QuantizeActivations(x, n_rows, w.cols);

  if (UseGemm(w.type, n_rows)) {
    const float* xf = x;
    if (quantized) {
      // The GEMM multiplies by the same quantized activations as the integer
      // path, so results do not depend on which path n_rows selects.
      const size_t n = static_cast<size_t>(n_rows * w.cols);
      if (q_x_.size() < n) q_x_.resize(n);
      float* dst = q_x_.data();
      pool_.ParallelFor(n_rows, [&](int64_t b, int64_t e) { avx2::DequantizeRows(q, b, e, dst); });
      xf = dst;
    }
    const int64_t panels = (w.rows + avx2::kGemmPanel - 1) / avx2::kGemmPanel;
    pool_.ParallelFor(panels, [&](int64_t b, int64_t e) { avx2::Gemm(w, xf, n_rows, b, e, y); });
    return;
  }

  // GEMV: each chunk is a contiguous run of output rows, one stream of W.
  auto run = [&](int64_t ob, int64_t oe) {
    if (quantized) {
      kernels_->matmul_quant(w, q, ob, oe, y);
    } else {
      kernels_->matmul_float(w, x, n_rows, ob, oe, y);
    }
  };
  if (w.rows * w.row_bytes < kParallelWeightBytes) {
    run(0, w.rows);
  } else {
    pool_.ParallelFor(w.rows, run);
  }
}

void CpuBackend::MatMulShared(std::span<const MatrixView* const> ws, const float* x, int64_t n_rows,
                              std::span<float* const> ys) {
  // Fused only on the GEMV path, where one parallel dispatch per matrix and
  // re-quantizing the same input are a visible share of a decode step; a
  // GEMM is long enough to amortise both.
  bool fuse = !ws.empty() && n_rows > 0;
  for (const MatrixView* w : ws) {
    fuse = fuse && w->type == ws[0]->type && w->cols == ws[0]->cols && w->rows > 0 &&
           !UseGemm(w->type, n_rows);
  }
  if (!fuse || ws[0]->cols == 0) {
    Backend::MatMulShared(ws, x, n_rows, ys);
    return;
  }
  const bool quantized = IsQuantized(ws[0]->type);
  QuantizedRows q;
  if (quantized) q = QuantizeActivations(x, n_rows, ws[0]->cols);
  // Output rows of all matrices in one index space, split over the threads;
  // each chunk visits the slices of the matrices it overlaps, in order, so a
  // thread still streams contiguous weight memory.
  int64_t total_rows = 0, total_bytes = 0;
  for (const MatrixView* w : ws) {
    total_rows += w->rows;
    total_bytes += w->rows * w->row_bytes;
  }
  auto run = [&](int64_t b, int64_t e) {
    int64_t offset = 0;
    for (size_t i = 0; i < ws.size() && offset < e; ++i) {
      const MatrixView& w = *ws[i];
      const int64_t ob = std::max(b, offset) - offset;
      const int64_t oe = std::min(e, offset + w.rows) - offset;
      if (ob < oe) {
        if (quantized) {
          kernels_->matmul_quant(w, q, ob, oe, ys[i]);
        } else {
          kernels_->matmul_float(w, x, n_rows, ob, oe, ys[i]);
        }
      }
      offset += w.rows;
    }
  };
  if (total_bytes < kParallelWeightBytes) {
    run(0, total_rows);
  } else {
    pool_.ParallelFor(total_rows, run);
  }
}

void CpuBackend::Embedding(const MatrixView& table, const int32_t* tokens, int64_t n,
                           int64_t id_offset, float* out) {
  auto run = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Ids outside this table's slice of the vocabulary belong to another
      // rank, whose rows are summed with these zeros.
      const int64_t row = static_cast<int64_t>(tokens[i]) - id_offset;
      float* dst = out + i * table.cols;
      if (row < 0 || row >= table.rows) {
        std::fill(dst, dst + table.cols, 0.0f);
      } else {
        kernels_->dequantize_row(table.type, table.data + row * table.row_bytes, table.cols, dst);
      }
    }
  };
  if (n * table.cols >= kParallelElems) {
    pool_.ParallelFor(n, run);
  } else {
    run(0, n);
  }
}

void CpuBackend::StoreKv(const float* k, const float* v, int64_t n_rows, int64_t row_floats,
                         const int32_t* slots, float* k_store, float* v_store) {
  const size_t row_bytes = static_cast<size_t>(row_floats) * sizeof(float);
  auto run = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t slot = slots[i];
      std::memcpy(k_store + slot * row_floats, k + i * row_floats, row_bytes);
      std::memcpy(v_store + slot * row_floats, v + i * row_floats, row_bytes);
    }
  };
  if (n_rows * row_floats >= kParallelElems) {
    pool_.ParallelFor(n_rows, run);
  } else {
    run(0, n_rows);
  }
}

void CpuBackend::RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                         float* out) {
  auto run = [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) kernels_->rms_norm(x + r * dim, weight, dim, eps, out + r * dim);
  };
  if (n_rows * dim >= kParallelElems) {
    pool_.ParallelFor(n_rows, run);
  } else {
    run(0, n_rows);
  }
}

void CpuBackend::Rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim,
                      const int32_t* positions, const RopeParams& p) {
  if (p.rope_dims <= 0) return;
  ReserveScratch(static_cast<size_t>(2 * p.rope_dims));
  auto run = [&](int64_t b, int64_t e, int t) {
    float* scratch = scratch_[static_cast<size_t>(t)].data();
    for (int64_t r = b; r < e; ++r) {
      kernels_->rope_row(x + r * n_heads * head_dim, n_heads, head_dim, positions[r], p, scratch);
    }
  };
  if (n_rows * n_heads * p.rope_dims >= kParallelElems) {
    pool_.ParallelFor(n_rows, run);
  } else {
    run(0, n_rows, 0);
  }
}

void CpuBackend::ReserveAttentionScratch(std::span<const AttentionArgs> seqs) {
  int64_t floats = 0;
  for (const AttentionArgs& a : seqs) {
    int32_t max_pos = 0;
    for (int64_t i = 0; i < a.n_tokens; ++i) max_pos = std::max(max_pos, a.positions[i]);
    floats = std::max(floats, KvGroup(a) * (static_cast<int64_t>(max_pos) + 1));
  }
  ReserveScratch(static_cast<size_t>(floats));
}

void CpuBackend::Attention(const AttentionArgs& a) {
  AttentionBatch(std::span<const AttentionArgs>(&a, 1));
}

void CpuBackend::AttentionBatch(std::span<const AttentionArgs> seqs) {
  // One dispatch for the (sequence, token, kv head) tasks of every sequence:
  // a decode step of many one-token sequences would otherwise be one small
  // parallel call per sequence, each too short to keep the threads busy.
  // Every task runs the kernel table's attention_task on its own sequence's
  // numbers, so the results do not depend on how sequences are batched.
  // Within a sequence tasks run from the last token backwards: causal tasks
  // grow with the position, and starting with the largest balances the
  // dynamic schedule.
  std::vector<int64_t>& first = batch_task_begin_;
  first.assign(1, 0);
  for (const AttentionArgs& a : seqs) {
    const int64_t n = a.n_heads > 0 && a.n_tokens > 0 ? a.n_tokens * a.n_kv_heads : 0;
    first.push_back(first.back() + n);
  }
  const int64_t tasks = first.back();
  if (tasks == 0) return;
  ReserveAttentionScratch(seqs);
  pool_.ParallelForDynamic(tasks, 1, [&](int64_t b, int64_t e, int t) {
    float* scratch = scratch_[static_cast<size_t>(t)].data();
    for (int64_t i = b; i < e; ++i) {
      const auto s = static_cast<size_t>(std::upper_bound(first.begin(), first.end(), i) - first.begin()) - 1;
      const AttentionArgs& a = seqs[s];
      const int64_t task = first[s + 1] - 1 - i;
      kernels_->attention_task(a, task / a.n_kv_heads, task % a.n_kv_heads, scratch);
    }
  });
}

void CpuBackend::SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  if (n >= kParallelElems) {
    pool_.ParallelFor(n, [&](int64_t b, int64_t e) { kernels_->silu_mul(gate + b, up + b, e - b, out + b); });
  } else {
    kernels_->silu_mul(gate, up, n, out);
  }
}

void CpuBackend::Add(float* x, const float* y, int64_t n) {
  if (n >= kParallelElems) {
    pool_.ParallelFor(n, [&](int64_t b, int64_t e) { kernels_->add(x + b, y + b, e - b); });
  } else {
    kernels_->add(x, y, n);
  }
}

void CpuBackend::AddBias(float* x, const float* bias, int64_t n_rows, int64_t n) {
  auto run = [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) kernels_->add(x + r * n, bias, n);
  };
  if (n_rows * n >= kParallelElems) {
    pool_.ParallelFor(n_rows, run);
  } else {
    run(0, n_rows);
  }
}

void CpuBackend::Softmax(float* x, int64_t n) { kernels_->softmax(x, n); }

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options) {
  int threads = options.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  return std::make_unique<CpuBackend>(threads, ResolveCpuIsa(options.isa), options.gemm_min_rows);
}

}  // namespace tessera
