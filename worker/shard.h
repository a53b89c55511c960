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

// Columns [begin, end) of the model matrix whose data starts at `source`,
// copied out. Shared, so a shard made with `previous` (a reshard) reuses the
// copy of an unchanged slice instead of copying it again.
struct ColumnCopy {
  const uint8_t* source = nullptr;
  int64_t begin = 0, end = 0;
  std::shared_ptr<const uint8_t[]> data;
  int64_t bytes = 0;
};

// Bytes [begin, end) of the model's memory: its mapping, or the small
// vectors (norms, biases) it loaded.
struct ByteSpan {
  uintptr_t begin = 0, end = 0;
  int64_t size() const { return static_cast<int64_t>(end - begin); }
};

// The parts of `spans` that no span of `cover` covers.
std::vector<ByteSpan> Uncovered(const std::vector<ByteSpan>& spans, const std::vector<ByteSpan>& cover);
int64_t TotalBytes(const std::vector<ByteSpan>& spans);

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
  std::vector<ColumnCopy> owned;
  int64_t owned_bytes = 0;
  // What the shard reads of the model in place (row slices) or copies whole
  // (norms, bias slices); one span per piece, none overlapping.
  std::vector<ByteSpan> viewed;
  // Bytes of weights this rank reads: viewed rows plus owned copies.
  int64_t weight_bytes = 0;
  // With MakeShard's `previous`: the part of weight_bytes that shard already
  // held (copies shared with it, rows and vectors it read too); the rest,
  // weight_bytes - kept_bytes, is what this rank loads anew.
  int64_t kept_bytes = 0;
};

// Slices `model` (which must outlive the shard: row slices view its mapping).
// Refuses ranges outside the model, a query range whose KV heads are not in
// the KV range, and column slices of quantized matrices that do not start
// and end on a block boundary. `previous`, a shard of the same model this
// rank still serves with (a live reshard builds the new shard beside it),
// lends its column copies where the new shard needs the same slice (shared
// ownership: either shard may be dropped first) and sets kept_bytes.
absl::StatusOr<std::unique_ptr<Shard>> MakeShard(const Model& model, const ShardRanges& ranges,
                                                 const Shard* previous = nullptr);

// The bytes MakeShard(model, ranges, previous) allocates for column copies
// it cannot share with `previous` (row slices are views and cost no new
// memory): what a live reshard must find room for before it builds.
int64_t NewColumnCopyBytes(const Model& model, const ShardRanges& ranges, const Shard* previous);

}  // namespace tessera
