#include "worker/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

RopeParams RopeOf(const ModelConfig& c, const ModelWeights& w) {
  RopeParams rope;
  rope.theta = c.rope_theta;
  rope.linear_scale = c.rope_linear_scale;
  rope.neox = c.rope_neox;
  rope.rope_dims = c.rope_dims;
  rope.freq_factors = w.rope_freqs.empty() ? nullptr : w.rope_freqs.data();
  return rope;
}

}  // namespace

bool IsStepRefusal(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

Executor::Executor(const Model& model, Backend& backend, KvCache& kv)
    : model_(&model),
      config_(model.config),
      weights_(model.weights),
      ranges_(WholeModel(model.config)),
      backend_(backend),
      kv_(kv),
      rope_(RopeOf(model.config, model.weights)),
      q_dim_(model.config.q_dim()),
      kv_dim_(model.config.kv_dim()),
      ffn_dim_(model.config.ffn_dim) {}

Executor::Executor(const Shard& shard, Backend& backend, KvCache& kv, Communicator* tp)
    : config_(shard.config),
      weights_(shard.weights),
      ranges_(shard.ranges),
      backend_(backend),
      kv_(kv),
      tp_(tp),
      rope_(RopeOf(shard.config, shard.weights)),
      q_dim_(shard.ranges.n_q_heads() * shard.config.head_dim),
      kv_dim_(shard.ranges.n_kv_heads() * shard.config.head_dim),
      ffn_dim_(shard.ranges.n_ffn()) {}

absl::Status Executor::Validate(std::span<const SequenceChunk> batch) const {
  const ModelConfig& c = config_;
  if (kv_.shape().n_layers != ranges_.n_layers() || kv_.shape().kv_dim != kv_dim_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "KV cache shaped for ", kv_.shape().n_layers, " layers of width ", kv_.shape().kv_dim, " but this ",
        model_ != nullptr ? "model" : "shard", " has ", ranges_.n_layers(), " layers of KV width ", kv_dim_));
  }
  // The vocabulary matters only to the stages that embed or produce logits.
  const bool vocab_used = first_stage() || last_stage();
  if (tp_ == nullptr && (ranges_.n_q_heads() != c.n_heads || ranges_.n_ffn() != c.ffn_dim ||
                         (vocab_used && ranges_.n_vocab() != c.vocab_size))) {
    return absl::FailedPreconditionError(
        "a shard holding part of the heads, FFN or vocabulary needs a tensor-parallel communicator");
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

absl::Status Executor::ReserveKv(std::span<const SequenceChunk> batch) {
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
  return absl::OkStatus();
}

void Executor::EnsureScratch(int64_t n) {
  if (n <= capacity_) return;
  const ModelConfig& c = config_;
  auto grow = [n](std::vector<float>& v, int64_t width) { v.resize(static_cast<size_t>(n * width)); };
  tokens_.resize(static_cast<size_t>(n));
  positions_.resize(static_cast<size_t>(n));
  grow(x_, c.dim);
  grow(xn_, c.dim);
  grow(q_, q_dim_);
  grow(k_, kv_dim_);
  grow(v_, kv_dim_);
  grow(attn_, q_dim_);
  grow(proj_, c.dim);
  grow(gate_, ffn_dim_);
  grow(up_, ffn_dim_);
  capacity_ = n;
}

absl::Status Executor::Forward(std::span<const SequenceChunk> batch, std::vector<float>* logits) {
  if (!first_stage() || !last_stage() || ranges_.n_vocab() != config_.vocab_size) {
    return absl::FailedPreconditionError("Forward runs the whole model; a shard runs RunStage");
  }
  return RunStage(batch, {}, nullptr, logits);
}

absl::Status Executor::RunStage(std::span<const SequenceChunk> batch, std::span<const float> hidden_in,
                                std::vector<float>* hidden_out, std::vector<float>* logits) {
  if (auto s = Validate(batch); !s.ok()) return s;
  const ModelConfig& c = config_;
  int64_t n = 0;
  int64_t n_logits = 0;
  for (const SequenceChunk& chunk : batch) {
    n += static_cast<int64_t>(chunk.tokens.size());
    n_logits += chunk.want_logits ? 1 : 0;
  }
  if (!first_stage() && static_cast<int64_t>(hidden_in.size()) != n * c.dim) {
    return absl::InvalidArgumentError(absl::StrCat("stage starting at layer ", ranges_.layer_begin,
                                                   " got ", hidden_in.size(), " hidden floats for ", n,
                                                   " tokens of width ", c.dim));
  }
  if (auto s = ReserveKv(batch); !s.ok()) return s;

  EnsureScratch(n);
  {
    int64_t t = 0;
    for (const SequenceChunk& chunk : batch) {
      for (size_t i = 0; i < chunk.tokens.size(); ++i, ++t) {
        tokens_[t] = chunk.tokens[i];
        positions_[t] = static_cast<int32_t>(chunk.start_pos + static_cast<int64_t>(i));
      }
    }
  }

  if (first_stage()) {
    if (auto s = Embed(n); !s.ok()) return s;
  } else {
    std::copy(hidden_in.begin(), hidden_in.end(), x_.begin());
  }
  for (int64_t layer = ranges_.layer_begin; layer < ranges_.layer_end; ++layer) {
    if (auto s = AttentionBlock(layer, batch, n); !s.ok()) return s;
    if (auto s = FfnBlock(layer, n); !s.ok()) return s;
  }
  for (const SequenceChunk& chunk : batch) {
    kv_.SetLength(chunk.seq_id, chunk.start_pos + static_cast<int64_t>(chunk.tokens.size()));
  }

  if (!last_stage()) {
    hidden_out->assign(x_.begin(), x_.begin() + n * c.dim);
    return absl::OkStatus();
  }
  // Final norm and logits only for the rows that asked for them.
  int64_t row = 0, t = 0;
  for (const SequenceChunk& chunk : batch) {
    t += static_cast<int64_t>(chunk.tokens.size());
    if (!chunk.want_logits) continue;
    std::memcpy(&xn_[row * c.dim], &x_[(t - 1) * c.dim], sizeof(float) * c.dim);
    ++row;
  }
  const int64_t vocab = ranges_.n_vocab();
  logits->resize(static_cast<size_t>(n_logits * vocab));
  if (n_logits > 0) {
    backend_.RmsNorm(xn_.data(), weights_.output_norm.data(), n_logits, c.dim, c.rms_eps, xn_.data());
    if (vocab > 0) backend_.MatMul(weights_.output, xn_.data(), n_logits, logits->data());
  }
  return absl::OkStatus();
}

absl::Status Executor::AllReduce(float* x, int64_t n) {
  if (tp_ == nullptr) return absl::OkStatus();
  absl::Status s = tp_->AllReduceSum(std::span<float>(x, static_cast<size_t>(n)));
  if (s.ok() || !IsStepRefusal(s)) return s;
  // A communicator's InvalidArgument (sizes differing between ranks) is a
  // broken group, not a bad step: keep it out of the codes that say "this
  // step was refused and the group serves on".
  return absl::InternalError(absl::StrCat("tensor-parallel all-reduce: ", s.ToString()));
}

absl::Status Executor::Embed(int64_t n) {
  const int64_t dim = config_.dim;
  // Decided by the stage's shape, not this rank's slice: a tp rank whose
  // slice happens to be the whole vocabulary must still join the all-reduce
  // its peers make.
  if (tp_ == nullptr) {
    backend_.Embedding(weights_.token_embd, std::span<const int32_t>(tokens_.data(), n), x_.data());
    return absl::OkStatus();
  }
  // Vocabulary-parallel: each rank fills the rows of the tokens in its slice
  // and zeros elsewhere; the all-reduce assembles every row (x + 0 is exact).
  local_ids_.clear();
  local_rows_.clear();
  for (int64_t t = 0; t < n; ++t) {
    if (tokens_[t] >= ranges_.vocab_begin && tokens_[t] < ranges_.vocab_end) {
      local_ids_.push_back(static_cast<int32_t>(tokens_[t] - ranges_.vocab_begin));
      local_rows_.push_back(static_cast<int32_t>(t));
    }
  }
  std::fill(x_.begin(), x_.begin() + n * dim, 0.0f);
  if (!local_ids_.empty()) {
    // proj_ is free here and holds n rows of dim.
    backend_.Embedding(weights_.token_embd, local_ids_, proj_.data());
    for (size_t i = 0; i < local_rows_.size(); ++i) {
      std::memcpy(&x_[local_rows_[i] * dim], &proj_[i * dim], sizeof(float) * dim);
    }
  }
  return AllReduce(x_.data(), n * dim);
}

absl::Status Executor::AttentionBlock(int64_t layer, std::span<const SequenceChunk> batch, int64_t n) {
  const ModelConfig& c = config_;
  const int64_t local = layer - ranges_.layer_begin;
  const LayerWeights& w = weights_.layers[static_cast<size_t>(local)];
  if (q_dim_ == 0) {
    // A tensor-parallel rank with no heads adds nothing but must still join
    // the all-reduce.
    std::fill(proj_.begin(), proj_.begin() + n * c.dim, 0.0f);
  } else {
    backend_.RmsNorm(x_.data(), w.attn_norm.data(), n, c.dim, c.rms_eps, xn_.data());
    {
      const MatrixView* ws[] = {&w.wq, &w.wk, &w.wv};
      float* ys[] = {q_.data(), k_.data(), v_.data()};
      backend_.MatMulShared(ws, xn_.data(), n, ys);
    }
    if (c.qkv_bias) {
      backend_.AddBias(q_.data(), w.bq.data(), n, q_dim_);
      backend_.AddBias(k_.data(), w.bk.data(), n, kv_dim_);
      backend_.AddBias(v_.data(), w.bv.data(), n, kv_dim_);
    }
    const int64_t n_q = ranges_.n_q_heads(), n_kv = ranges_.n_kv_heads();
    backend_.Rope(q_.data(), n, n_q, c.head_dim, positions_.data(), rope_);
    backend_.Rope(k_.data(), n, n_kv, c.head_dim, positions_.data(), rope_);

    const int64_t group = c.n_heads / c.n_kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    int64_t t = 0;
    for (const SequenceChunk& chunk : batch) {
      const int64_t len = static_cast<int64_t>(chunk.tokens.size());
      for (int64_t i = 0; i < len; ++i) {
        const int64_t pos = chunk.start_pos + i;
        std::memcpy(kv_.KeyRow(local, chunk.seq_id, pos), &k_[(t + i) * kv_dim_], sizeof(float) * kv_dim_);
        std::memcpy(kv_.ValueRow(local, chunk.seq_id, pos), &v_[(t + i) * kv_dim_], sizeof(float) * kv_dim_);
      }
      AttentionArgs args;
      args.q = &q_[t * q_dim_];
      args.n_tokens = len;
      args.positions = &positions_[t];
      args.n_heads = n_q;
      args.n_kv_heads = n_kv;
      args.head_dim = c.head_dim;
      args.kv_group = group;
      args.q_head_offset = ranges_.q_head_begin - ranges_.kv_head_begin * group;
      args.scale = scale;
      args.kv = kv_.View(local, chunk.seq_id, k_ptrs_, v_ptrs_);
      args.out = &attn_[t * q_dim_];
      backend_.Attention(args);
      t += len;
    }
    backend_.MatMul(w.wo, attn_.data(), n, proj_.data());
  }
  if (auto s = AllReduce(proj_.data(), n * c.dim); !s.ok()) return s;
  backend_.Add(x_.data(), proj_.data(), n * c.dim);
  return absl::OkStatus();
}

absl::Status Executor::FfnBlock(int64_t layer, int64_t n) {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[static_cast<size_t>(layer - ranges_.layer_begin)];
  if (ffn_dim_ == 0) {
    std::fill(proj_.begin(), proj_.begin() + n * c.dim, 0.0f);
  } else {
    backend_.RmsNorm(x_.data(), w.ffn_norm.data(), n, c.dim, c.rms_eps, xn_.data());
    {
      const MatrixView* ws[] = {&w.w_gate, &w.w_up};
      float* ys[] = {gate_.data(), up_.data()};
      backend_.MatMulShared(ws, xn_.data(), n, ys);
    }
    backend_.SiluMul(gate_.data(), up_.data(), n * ffn_dim_, gate_.data());
    backend_.MatMul(w.w_down, gate_.data(), n, proj_.data());
  }
  if (auto s = AllReduce(proj_.data(), n * c.dim); !s.ok()) return s;
  backend_.Add(x_.data(), proj_.data(), n * c.dim);
  return absl::OkStatus();
}

}  // namespace tessera
