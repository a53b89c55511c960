// How one pipeline stage splits a layer between its tensor ranks: query heads,
// KV heads (the GQA rule), FFN columns and vocabulary rows, in proportion to
// each rank's speed, on quantization block boundaries. Internal to partition/.
#pragma once

#include <cstdint>
#include <vector>

#include "partition/cost_model.h"

namespace tessera {

struct Span {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const Span&) const = default;
};

struct TensorShare {
  Span q_heads, kv_heads, ffn, vocab;
  LayerSlice slice() const { return {q_heads.size(), kv_heads.size(), ffn.size()}; }
};

// Splits `units` between ranks in proportion to `weights` (all > 0) by
// largest remainders, every rank getting at least `min_each` (the caller
// guarantees units >= min_each * ranks). Ties go to the lower rank.
std::vector<int64_t> Apportion(int64_t units, const std::vector<double>& weights, int64_t min_each);

// [0, n) cut into consecutive ranges, one per rank, at multiples of `unit`
// (the last ends at n), with unit counts from Apportion.
std::vector<Span> SplitRange(int64_t n, int64_t unit, const std::vector<double>& weights,
                             int64_t min_each);

// The KV heads a range of query heads reads: [q.begin / group,
// ceil(q.end / group)), empty for no query heads.
Span KvHeadsFor(Span q, int64_t group);

// wo is split by columns at query head * head_dim, so a cut after k steps of
// `heads_per_step` query heads (1 when splitting query heads, the GQA group
// when splitting KV heads) must fall on a block boundary of every layer's wo:
// the number of steps in the smallest unit that does.
int64_t HeadUnit(const ModelTensors& m, int64_t heads_per_step);
// FFN columns per unit: the alignment of every layer's ffn_down columns.
int64_t FfnUnit(const ModelTensors& m);

// The shares of a stage's ranks: heads and vocabulary rows in proportion to
// speed, FFN columns so that each rank's bytes per layer are (as near as
// whole blocks allow) in proportion to its speed even where the heads could
// not be. `holds_vocab`: the stage holds the embedding or the output, so the
// vocabulary is split too (else every vocab range is empty). Deterministic:
// the same speeds give the same shares.
std::vector<TensorShare> SplitStage(const ModelTensors& m, const std::vector<double>& speeds,
                                    bool holds_vocab);

}  // namespace tessera
