#include "worker/executor.h"

#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace tessera {

Executor::Executor(const Model& model, Backend& backend, KvCache& kv)
    : model_(model), backend_(backend), kv_(kv) {
  const ModelConfig& c = model.config;
  rope_.theta = c.rope_theta;
  rope_.linear_scale = c.rope_linear_scale;
  rope_.neox = c.rope_neox;
  rope_.rope_dims = c.rope_dims;
  rope_.freq_factors = model.weights.rope_freqs.empty() ? nullptr : model.weights.rope_freqs.data();
}

absl::Status Executor::Validate(std::span<const SequenceChunk> batch) const {
  const ModelConfig& c = model_.config;
  if (kv_.shape().n_layers != c.n_layers || kv_.shape().kv_dim != c.kv_dim()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "KV cache shaped for ", kv_.shape().n_layers, " layers of width ", kv_.shape().kv_dim,
        " but the model has ", c.n_layers, " layers of KV width ", c.kv_dim()));
  }
  absl::flat_hash_set<int64_t> seen;
  for (const SequenceChunk& chunk : batch) {
    if (chunk.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", chunk.seq_id, ": empty chunk"));
    }
    if (!seen.insert(chunk.seq_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", chunk.seq_id, " appears twice in one step"));
    }
    for (int32_t t : chunk.tokens) {
      if (t < 0 || t >= c.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("sequence ", chunk.seq_id, ": token id ", t,
                                                       " outside the vocabulary [0, ", c.vocab_size,
                                                       ")"));
      }
    }
    const int64_t size = static_cast<int64_t>(chunk.tokens.size());
    if (chunk.start_pos < 0 || size > c.context_length || chunk.start_pos > c.context_length - size) {
      return absl::OutOfRangeError(absl::StrCat("sequence ", chunk.seq_id, ": ", size,
                                                " tokens from position ", chunk.start_pos,
                                                " do not fit the model's context of ",
                                                c.context_length));
    }
    // Attention reads positions [0, start_pos): a previous step must have
    // written them.
    if (chunk.start_pos > kv_.Length(chunk.seq_id)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sequence ", chunk.seq_id, " starts at position ", chunk.start_pos, " but only positions [0, ",
          kv_.Length(chunk.seq_id), ") of it are in the KV cache"));
    }
  }
  return absl::OkStatus();
}

void Executor::EnsureScratch(int64_t n) {
  if (n <= capacity_) return;
  const ModelConfig& c = model_.config;
  auto grow = [n](std::vector<float>& v, int64_t width) { v.resize(static_cast<size_t>(n * width)); };
  tokens_.resize(static_cast<size_t>(n));
  positions_.resize(static_cast<size_t>(n));
  grow(x_, c.dim);
  grow(xn_, c.dim);
  grow(q_, c.q_dim());
  grow(k_, c.kv_dim());
  grow(v_, c.kv_dim());
  grow(attn_, c.q_dim());
  grow(proj_, c.dim);
  grow(gate_, c.ffn_dim);
  grow(up_, c.ffn_dim);
  capacity_ = n;
}

absl::Status Executor::Forward(std::span<const SequenceChunk> batch, std::vector<float>* logits) {
  if (auto s = Validate(batch); !s.ok()) return s;
  // Check the whole step fits before reserving anything, so a full cache
  // leaves every sequence as it was.
  int64_t blocks_needed = 0;
  for (const SequenceChunk& chunk : batch) {
    blocks_needed += kv_.BlocksMissing(chunk.seq_id, chunk.start_pos + static_cast<int64_t>(chunk.tokens.size()));
  }
  if (blocks_needed > kv_.free_blocks()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache full: this step needs ", blocks_needed, " more blocks of ",
        kv_.shape().block_size, " positions, ", kv_.free_blocks(), " free of ", kv_.shape().n_blocks));
  }
  for (const SequenceChunk& chunk : batch) {
    const int64_t end = chunk.start_pos + static_cast<int64_t>(chunk.tokens.size());
    if (auto s = kv_.Reserve(chunk.seq_id, end); !s.ok()) return s;
  }

  const ModelConfig& c = model_.config;
  int64_t n = 0;
  int64_t n_logits = 0;
  for (const SequenceChunk& chunk : batch) n += static_cast<int64_t>(chunk.tokens.size());
  EnsureScratch(n);
  {
    int64_t t = 0;
    for (const SequenceChunk& chunk : batch) {
      for (size_t i = 0; i < chunk.tokens.size(); ++i, ++t) {
        tokens_[t] = chunk.tokens[i];
        positions_[t] = static_cast<int32_t>(chunk.start_pos + static_cast<int64_t>(i));
      }
      n_logits += chunk.want_logits ? 1 : 0;
    }
  }

  backend_.Embedding(model_.weights.token_embd, std::span<const int32_t>(tokens_.data(), n), x_.data());
  for (int64_t layer = 0; layer < c.n_layers; ++layer) {
    AttentionBlock(layer, batch, n);
    FfnBlock(layer, n);
  }

  // Final norm and logits only for the rows that asked for them.
  int64_t row = 0, t = 0;
  for (const SequenceChunk& chunk : batch) {
    t += static_cast<int64_t>(chunk.tokens.size());
    if (!chunk.want_logits) continue;
    std::memcpy(&xn_[row * c.dim], &x_[(t - 1) * c.dim], sizeof(float) * c.dim);
    ++row;
  }
  for (const SequenceChunk& chunk : batch) {
    kv_.SetLength(chunk.seq_id, chunk.start_pos + static_cast<int64_t>(chunk.tokens.size()));
  }
  logits->resize(static_cast<size_t>(n_logits * c.vocab_size));
  if (n_logits > 0) {
    backend_.RmsNorm(xn_.data(), model_.weights.output_norm.data(), n_logits, c.dim, c.rms_eps,
                     xn_.data());
    backend_.MatMul(model_.weights.output, xn_.data(), n_logits, logits->data());
  }
  return absl::OkStatus();
}

void Executor::AttentionBlock(int64_t layer, std::span<const SequenceChunk> batch, int64_t n) {
  const ModelConfig& c = model_.config;
  const LayerWeights& w = model_.weights.layers[layer];
  backend_.RmsNorm(x_.data(), w.attn_norm.data(), n, c.dim, c.rms_eps, xn_.data());
  {
    const MatrixView* ws[] = {&w.wq, &w.wk, &w.wv};
    float* ys[] = {q_.data(), k_.data(), v_.data()};
    backend_.MatMulShared(ws, xn_.data(), n, ys);
  }
  if (c.qkv_bias) {
    backend_.AddBias(q_.data(), w.bq.data(), n, c.q_dim());
    backend_.AddBias(k_.data(), w.bk.data(), n, c.kv_dim());
    backend_.AddBias(v_.data(), w.bv.data(), n, c.kv_dim());
  }
  backend_.Rope(q_.data(), n, c.n_heads, c.head_dim, positions_.data(), rope_);
  backend_.Rope(k_.data(), n, c.n_kv_heads, c.head_dim, positions_.data(), rope_);

  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  int64_t t = 0;
  for (const SequenceChunk& chunk : batch) {
    const int64_t len = static_cast<int64_t>(chunk.tokens.size());
    for (int64_t i = 0; i < len; ++i) {
      const int64_t pos = chunk.start_pos + i;
      std::memcpy(kv_.KeyRow(layer, chunk.seq_id, pos), &k_[(t + i) * c.kv_dim()],
                  sizeof(float) * c.kv_dim());
      std::memcpy(kv_.ValueRow(layer, chunk.seq_id, pos), &v_[(t + i) * c.kv_dim()],
                  sizeof(float) * c.kv_dim());
    }
    AttentionArgs args;
    args.q = &q_[t * c.q_dim()];
    args.n_tokens = len;
    args.positions = &positions_[t];
    args.n_heads = c.n_heads;
    args.n_kv_heads = c.n_kv_heads;
    args.head_dim = c.head_dim;
    args.scale = scale;
    args.kv = kv_.View(layer, chunk.seq_id, k_ptrs_, v_ptrs_);
    args.out = &attn_[t * c.q_dim()];
    backend_.Attention(args);
    t += len;
  }
  backend_.MatMul(w.wo, attn_.data(), n, proj_.data());
  backend_.Add(x_.data(), proj_.data(), n * c.dim);
}

void Executor::FfnBlock(int64_t layer, int64_t n) {
  const ModelConfig& c = model_.config;
  const LayerWeights& w = model_.weights.layers[layer];
  backend_.RmsNorm(x_.data(), w.ffn_norm.data(), n, c.dim, c.rms_eps, xn_.data());
  {
    const MatrixView* ws[] = {&w.w_gate, &w.w_up};
    float* ys[] = {gate_.data(), up_.data()};
    backend_.MatMulShared(ws, xn_.data(), n, ys);
  }
  backend_.SiluMul(gate_.data(), up_.data(), n * c.ffn_dim, gate_.data());
  backend_.MatMul(w.w_down, gate_.data(), n, proj_.data());
  backend_.Add(x_.data(), proj_.data(), n * c.dim);
}

}  // namespace tessera
