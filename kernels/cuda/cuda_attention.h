// Attention of every sequence of a step in one launch. The host packs one
// descriptor per sequence and a token -> sequence map into one upload; the
// kernel runs a block per (token of the step, query head).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"

namespace tessera::cuda {

// One sequence of the step; every pointer is device memory.
struct AttnSeq {
  const float* q;               // n_tokens x n_heads x head_dim
  float* out;                   // n_tokens x n_heads x head_dim
  const int32_t* positions;     // n_tokens
  const float* k_store;
  const float* v_store;
  const int32_t* block_ids;
  int64_t block_size;
  int64_t token_begin;          // index of the sequence's first token in the step
};

// What every sequence of one launch shares.
struct AttnGeometry {
  int64_t n_heads;
  int64_t n_kv_heads;
  int64_t head_dim;             // at most kMaxHeadDim
  int64_t kv_group;             // resolved (never 0)
  int64_t q_head_offset;
  float scale;
};

inline constexpr int64_t kMaxHeadDim = 256;

// `seqs` (n_seqs entries) and `token_seq` (n_tokens entries: the index in
// `seqs` of each token of the step) are device memory, already uploaded on
// `stream`. `sm_count` sizes the blocks: few blocks get more warps each.
void LaunchAttention(cudaStream_t stream, StickyError* errors, const AttnSeq* seqs, const int32_t* token_seq,
                     int64_t n_tokens, const AttnGeometry& g, int sm_count);

}  // namespace tessera::cuda
