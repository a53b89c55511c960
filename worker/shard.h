// The part of a model one rank runs: a range of layers (its pipeline stage)
// and, inside it, ranges of query heads, KV heads and FFN columns (its tensor-
// parallel share), plus a range of the vocabulary for the embedding (first
// stage) and the output head (last stage). Matrices split by rows (Q, K, V,
// gate, up, embedding, output) stay views into the mapped file, so only the
// pages of this rank's rows are ever read; matrices split by columns (the
// attention output and FFN down projections) are copied out, and their mapped
// pages handed back, so a rank's resident memory is its share of the weights.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/model.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

struct ShardRanges {
  int64_t layer_begin = 0, layer_end = 0;
  int64_t q_head_begin = 0, q_head_end = 0;
  int64_t kv_head_begin = 0, kv_head_end = 0;
  int64_t ffn_begin = 0, ffn_end = 0;
  int64_t vocab_begin = 0, vocab_end = 0;

  int64_t n_layers() const { return layer_end - layer_begin; }
  int64_t n_q_heads() const { return q_head_end - q_head_begin; }
  int64_t n_kv_heads() const { return kv_head_end - kv_head_begin; }
  int64_t n_ffn() const { return ffn_end - ffn_begin; }
  int64_t n_vocab() const { return vocab_end - vocab_begin; }
  std::string DebugString() const;
};

// Everything of `config`, on one rank.
ShardRanges WholeModel(const ModelConfig& config);
ShardRanges RangesFromPlan(const proto::RankShard& rank);

struct Shard {
  ShardRanges ranges;
  ModelConfig config;  // the whole model's
  bool first_stage() const { return ranges.layer_begin == 0; }
  bool last_stage() const { return ranges.layer_end == config.n_layers; }
  // layers[i] is layer ranges.layer_begin + i, with sliced matrices:
  // wq (q heads) and wk/wv (kv heads) by rows, wo by columns (q heads),
  // gate/up by rows and down by columns (FFN range); biases sliced alike.
  // token_embd (first stage) and output (last stage) hold the vocabulary
  // range's rows; unused ones are empty views.
  ModelWeights weights;
  // The column-sliced copies the views above point into.
  std::vector<std::unique_ptr<uint8_t[]>> owned;
  int64_t owned_bytes = 0;
  // Bytes of weights this rank reads: viewed rows plus owned copies.
  int64_t weight_bytes = 0;
};

// Slices `model` (which must outlive the shard: row slices view its mapping).
// Refuses ranges outside the model, a query range whose KV heads are not in
// the KV range, and column slices of quantized matrices that do not start
// and end on a block boundary.
absl::StatusOr<std::unique_ptr<Shard>> MakeShard(const Model& model, const ShardRanges& ranges);

}  // namespace tessera
