// Causal attention over the paged KV cache: a block per (token of the step,
// query head). The block's warps take turns over chunks of keys; in a warp,
// lane L holds dimensions L, L + 32, ... of the query, of each key and value
// row and of the output, so a row is read with coalesced loads and a score is
// one warp sum. Each warp keeps an online softmax (running max, running sum,
// rescaled output) over its keys, so contexts of any length need no score
// buffer; at the end the block merges its warps' partial results.
#include <cmath>

#include "kernels/cuda/cuda_attention.h"
#include "kernels/cuda/cuda_reduce.cuh"

namespace tessera::cuda {
namespace {

constexpr int kMaxWarps = 16;

// DPL: dimensions per lane (head_dim <= 32 * DPL). KEYS: keys a warp loads
// before it reduces any of them, so their memory latencies overlap; fewer
// for wide heads to bound the registers the K and V rows take.
template <int DPL>
__global__ void __launch_bounds__(kMaxWarps * 32)
    AttentionKernel(const AttnSeq* __restrict__ seqs, const int32_t* __restrict__ token_seq, AttnGeometry g) {
  constexpr int KEYS = DPL <= 2 ? 16 : 32 / DPL;
  __shared__ float s_max[kMaxWarps];
  __shared__ float s_sum[kMaxWarps];
  __shared__ float s_acc[kMaxWarps][DPL * 32];

  const int64_t t = blockIdx.x;
  const int64_t h = blockIdx.y;
  const AttnSeq s = seqs[token_seq[t]];
  const int64_t i = t - s.token_begin;  // token within its sequence
  const int64_t n_keys = static_cast<int64_t>(s.positions[i]) + 1;
  const int64_t kv_head = (g.q_head_offset + h) / g.kv_group;
  const int64_t row_floats = g.n_kv_heads * g.head_dim;
  const int64_t head_offset = kv_head * g.head_dim;
  const uint32_t block_size = static_cast<uint32_t>(s.block_size);
  const int hd = static_cast<int>(g.head_dim);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_warps = blockDim.x >> 5;

  const float* q = s.q + (i * g.n_heads + h) * g.head_dim;
  float qr[DPL];
#pragma unroll
  for (int c = 0; c < DPL; ++c) qr[c] = lane + 32 * c < hd ? q[lane + 32 * c] : 0.0f;

  float run_max = -INFINITY;  // this warp's running max of scores
  float run_sum = 0.0f;       // sum of exp(score - run_max) over its keys
  float acc[DPL];             // sum of exp(score - run_max) * v
#pragma unroll
  for (int c = 0; c < DPL; ++c) acc[c] = 0.0f;

  // base is warp-uniform, so every lane runs the same iterations and the
  // shuffles in WarpSum see the whole warp.
  for (int64_t base = static_cast<int64_t>(warp) * KEYS; base < n_keys;
       base += static_cast<int64_t>(n_warps) * KEYS) {
    float kr[KEYS][DPL], vr[KEYS][DPL];
#pragma unroll
    for (int k = 0; k < KEYS; ++k) {
      const int64_t j = base + k;
      if (j < n_keys) {
        const uint32_t blk = static_cast<uint32_t>(j) / block_size;
        const uint32_t in_block = static_cast<uint32_t>(j) - blk * block_size;
        const int64_t row = static_cast<int64_t>(s.block_ids[blk]) * block_size + in_block;
        const float* kp = s.k_store + row * row_floats + head_offset;
        const float* vp = s.v_store + row * row_floats + head_offset;
#pragma unroll
        for (int c = 0; c < DPL; ++c) {
          const int d = lane + 32 * c;
          kr[k][c] = d < hd ? __ldg(kp + d) : 0.0f;
          vr[k][c] = d < hd ? __ldg(vp + d) : 0.0f;
        }
      } else {
#pragma unroll
        for (int c = 0; c < DPL; ++c) kr[k][c] = vr[k][c] = 0.0f;
      }
    }
    float score[KEYS];
    float chunk_max = -INFINITY;
#pragma unroll
    for (int k = 0; k < KEYS; ++k) {
      float part = 0.0f;
#pragma unroll
      for (int c = 0; c < DPL; ++c) part += qr[c] * kr[k][c];
      score[k] = WarpSum(part) * g.scale;
      if (base + k < n_keys) chunk_max = fmaxf(chunk_max, score[k]);
    }
    // The chunk holds at least key `base`, so new_max is finite and the
    // first rescale is exp(-inf) = 0.
    const float new_max = fmaxf(run_max, chunk_max);
    const float rescale = expf(run_max - new_max);
    run_sum *= rescale;
#pragma unroll
    for (int c = 0; c < DPL; ++c) acc[c] *= rescale;
#pragma unroll
    for (int k = 0; k < KEYS; ++k) {
      if (base + k < n_keys) {
        const float p = expf(score[k] - new_max);
        run_sum += p;
#pragma unroll
        for (int c = 0; c < DPL; ++c) acc[c] += p * vr[k][c];
      }
    }
    run_max = new_max;
  }

  // Merge the warps: out = sum_w acc_w * exp(max_w - M) / sum_w sum_w *
  // exp(max_w - M). A warp that had no keys has max -inf and contributes 0.
  if (lane == 0) {
    s_max[warp] = run_max;
    s_sum[warp] = run_sum;
  }
#pragma unroll
  for (int c = 0; c < DPL; ++c) {
    if (lane + 32 * c < hd) s_acc[warp][lane + 32 * c] = acc[c];
  }
  __syncthreads();
  float m = -INFINITY;
  for (int w = 0; w < n_warps; ++w) m = fmaxf(m, s_max[w]);
  float total = 0.0f;
  for (int w = 0; w < n_warps; ++w) total += s_sum[w] * expf(s_max[w] - m);
  const float inv_total = 1.0f / total;
  float* out = s.out + (i * g.n_heads + h) * g.head_dim;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int w = 0; w < n_warps; ++w) o += s_acc[w][d] * expf(s_max[w] - m);
    out[d] = o * inv_total;
  }
}

template <int DPL>
void Launch(cudaStream_t stream, const AttnSeq* seqs, const int32_t* token_seq, int64_t n_tokens,
            const AttnGeometry& g, int warps) {
  const dim3 grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>(g.n_heads));
  AttentionKernel<DPL><<<grid, warps * 32, 0, stream>>>(seqs, token_seq, g);
}

}  // namespace

void LaunchAttention(cudaStream_t stream, StickyError* errors, const AttnSeq* seqs, const int32_t* token_seq,
                     int64_t n_tokens, const AttnGeometry& g, int sm_count) {
  if (n_tokens <= 0 || g.n_heads <= 0 || g.head_dim <= 0) return;
  if (g.head_dim > kMaxHeadDim || g.n_heads > 65535) {
    errors->Note(cudaErrorInvalidValue, "attention (head_dim above 256 or more than 65535 heads)");
    return;
  }
  // Decode steps have few (token, head) blocks, each over a long context:
  // give them more warps so more keys are in flight per block.
  const int64_t blocks = n_tokens * g.n_heads;
  const int warps = blocks >= 4 * static_cast<int64_t>(sm_count) ? 4 : blocks >= sm_count ? 8 : kMaxWarps;
  if (g.head_dim <= 32) {
    Launch<1>(stream, seqs, token_seq, n_tokens, g, warps);
  } else if (g.head_dim <= 64) {
    Launch<2>(stream, seqs, token_seq, n_tokens, g, warps);
  } else if (g.head_dim <= 128) {
    Launch<4>(stream, seqs, token_seq, n_tokens, g, warps);
  } else {
    Launch<8>(stream, seqs, token_seq, n_tokens, g, warps);
  }
  errors->NoteLaunch("attention kernel");
}

}  // namespace tessera::cuda
