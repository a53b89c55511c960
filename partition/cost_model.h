// What the partitioner knows of a model: its config and the type and shape of
// every matrix, and the per-layer costs derived from them (weight bytes, FLOPs
// per token, KV bytes per token) for any slice a rank may hold.
#pragma once

#include <cstdint>
#include <vector>

#include "model/dtype.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace tessera {

struct MatrixShape {
  DType type = DType::kF32;
  int64_t rows = 0;  // output features
  int64_t cols = 0;  // input features (GGUF ne0)
};

struct LayerTensors {
  MatrixShape wq, wk, wv, wo, gate, up, down;
};

struct ModelTensors {
  ModelConfig config;
  std::vector<LayerTensors> layers;
  MatrixShape token_embd;
  MatrixShape output;  // == token_embd when config.tied_output
  int64_t rope_freqs = 0;  // f32 elements of rope_freqs.weight (0 when absent), on every rank
};

// From a loaded model (reads only shapes and types, never tensor data).
ModelTensors DescribeModel(const ModelConfig& config, const ModelWeights& weights);
// Every layer matrix of `matrices`, embedding and output of `embedding`: for
// tests and for planning a model that is not at hand.
ModelTensors UniformModel(const ModelConfig& config, DType matrices, DType embedding);

// Elements of one quantization block of `t` along a row (1 for float types):
// a column slice of a matrix of that type must start and end on a multiple.
int64_t SliceAlignment(DType t);

// The share of one layer a tensor rank holds, as counts (which heads it holds
// does not change the cost).
struct LayerSlice {
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t ffn = 0;  // FFN columns: rows of gate/up, columns of down
};

// Bytes of a rows x cols slice of a matrix of type `t`: RowBytes when cols is
// a whole number of blocks, else rounded up to whole blocks (an estimate for a
// slice no plan would make).
int64_t SliceBytes(DType t, int64_t rows, int64_t cols);

// Weight bytes of a layer share: wq/wk/wv rows, wo and down columns, gate/up
// rows, QKV biases (f32, with the heads) and both norms (f32, replicated on
// every tensor rank).
int64_t LayerWeightBytes(const ModelTensors& m, int64_t layer, const LayerSlice& s);
// FLOPs per token (2 per multiply-add) of the share's matrices, plus attention
// over `context` / 2 positions on average: 4 * q_heads * head_dim * context / 2.
double LayerFlopsPerToken(const ModelTensors& m, int64_t layer, const LayerSlice& s,
                          int64_t context);
// K and V of the share's KV heads for one position: 2 * kv_heads * head_dim *
// 4 bytes (the KV cache is f32).
int64_t LayerKvBytesPerToken(const ModelConfig& c, const LayerSlice& s);

// `vocab_rows` rows of the token embedding (first stage).
int64_t EmbeddingBytes(const ModelTensors& m, int64_t vocab_rows);
// The output norm (f32, replicated) plus `vocab_rows` rows of the output
// matrix (last stage).
int64_t OutputBytes(const ModelTensors& m, int64_t vocab_rows);
double OutputFlopsPerToken(const ModelTensors& m, int64_t vocab_rows);
// Every byte of the model once: what a single rank holding it all loads.
int64_t ModelWeightBytes(const ModelTensors& m);

}  // namespace tessera
