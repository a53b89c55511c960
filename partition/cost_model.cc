#include "partition/cost_model.h"

namespace tessera {
namespace {

constexpr int64_t kF32Bytes = 4;

MatrixShape Shape(const MatrixView& v) { return MatrixShape{v.type, v.rows, v.cols}; }

}  // namespace

ModelTensors DescribeModel(const ModelConfig& config, const ModelWeights& weights) {
  ModelTensors m;
  m.config = config;
  m.layers.reserve(weights.layers.size());
  for (const LayerWeights& l : weights.layers) {
    m.layers.push_back(LayerTensors{Shape(l.wq), Shape(l.wk), Shape(l.wv), Shape(l.wo),
                                    Shape(l.w_gate), Shape(l.w_up), Shape(l.w_down)});
  }
  m.token_embd = Shape(weights.token_embd);
  m.output = Shape(weights.output);
  m.rope_freqs = static_cast<int64_t>(weights.rope_freqs.size());
  return m;
}

ModelTensors UniformModel(const ModelConfig& c, DType matrices, DType embedding) {
  ModelTensors m;
  m.config = c;
  const LayerTensors layer{
      {matrices, c.q_dim(), c.dim},  {matrices, c.kv_dim(), c.dim}, {matrices, c.kv_dim(), c.dim},
      {matrices, c.dim, c.q_dim()},  {matrices, c.ffn_dim, c.dim},  {matrices, c.ffn_dim, c.dim},
      {matrices, c.dim, c.ffn_dim}};
  m.layers.assign(static_cast<size_t>(c.n_layers), layer);
  m.token_embd = {embedding, c.vocab_size, c.dim};
  m.output = m.token_embd;
  return m;
}

int64_t SliceAlignment(DType t) { return BlockElems(t); }

int64_t SliceBytes(DType t, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return 0;
  auto row = RowBytes(t, cols);
  if (row.ok()) return rows * *row;
  const int64_t be = BlockElems(t);
  return rows * ((cols + be - 1) / be) * BlockBytes(t);
}

int64_t LayerWeightBytes(const ModelTensors& m, int64_t layer, const LayerSlice& s) {
  const ModelConfig& c = m.config;
  const LayerTensors& l = m.layers[static_cast<size_t>(layer)];
  const int64_t q_rows = s.q_heads * c.head_dim;
  const int64_t kv_rows = s.kv_heads * c.head_dim;
  int64_t bytes = SliceBytes(l.wq.type, q_rows, l.wq.cols) +
                  SliceBytes(l.wk.type, kv_rows, l.wk.cols) +
                  SliceBytes(l.wv.type, kv_rows, l.wv.cols) +
                  SliceBytes(l.wo.type, l.wo.rows, q_rows) +  // columns of wo
                  SliceBytes(l.gate.type, s.ffn, l.gate.cols) +
                  SliceBytes(l.up.type, s.ffn, l.up.cols) +
                  SliceBytes(l.down.type, l.down.rows, s.ffn);  // columns of down
  if (c.qkv_bias) bytes += (q_rows + 2 * kv_rows) * kF32Bytes;
  bytes += 2 * c.dim * kF32Bytes;  // attn_norm and ffn_norm: every rank normalises its input
  return bytes;
}

double LayerFlopsPerToken(const ModelTensors& m, int64_t layer, const LayerSlice& s,
                          int64_t context) {
  const ModelConfig& c = m.config;
  const double q_rows = static_cast<double>(s.q_heads * c.head_dim);
  const double kv_rows = static_cast<double>(s.kv_heads * c.head_dim);
  const double dim = static_cast<double>(c.dim);
  const double ffn = static_cast<double>(s.ffn);
  const double mads = q_rows * dim + 2 * kv_rows * dim + dim * q_rows + 3 * ffn * dim;
  // Scores and the weighted sum of values: 2 FLOPs each per head dimension
  // and position, over half the context on average.
  const double attention = 4.0 * q_rows * static_cast<double>(context) / 2.0;
  return 2.0 * mads + attention;
}

int64_t LayerKvBytesPerToken(const ModelConfig& c, const LayerSlice& s) {
  return 2 * s.kv_heads * c.head_dim * kF32Bytes;
}

int64_t EmbeddingBytes(const ModelTensors& m, int64_t vocab_rows) {
  return SliceBytes(m.token_embd.type, vocab_rows, m.token_embd.cols);
}

int64_t OutputBytes(const ModelTensors& m, int64_t vocab_rows) {
  return m.config.dim * kF32Bytes + SliceBytes(m.output.type, vocab_rows, m.output.cols);
}

double OutputFlopsPerToken(const ModelTensors& m, int64_t vocab_rows) {
  return 2.0 * static_cast<double>(vocab_rows) * static_cast<double>(m.output.cols);
}

int64_t ModelWeightBytes(const ModelTensors& m) {
  const ModelConfig& c = m.config;
  const LayerSlice all{c.n_heads, c.n_kv_heads, c.ffn_dim};
  int64_t bytes = EmbeddingBytes(m, c.vocab_size) + m.rope_freqs * kF32Bytes;
  for (size_t i = 0; i < m.layers.size(); ++i) bytes += LayerWeightBytes(m, static_cast<int64_t>(i), all);
  bytes += OutputBytes(m, c.vocab_size);
  if (c.tied_output) bytes -= SliceBytes(m.output.type, c.vocab_size, m.output.cols);
  return bytes;
}

}  // namespace tessera
