#include "worker/executor.h"

#include <cmath>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

// The rope of the config; its frequency factors come with the resident
// weights (Load).
RopeParams RopeOf(const ModelConfig& c) {
  RopeParams rope;
  rope.theta = c.rope_theta;
  rope.linear_scale = c.rope_linear_scale;
  rope.neox = c.rope_neox;
  rope.rope_dims = c.rope_dims;
  return rope;
}

float* F(const BackendBuffer& b) { return static_cast<float*>(b.get()); }
constexpr int64_t kFloat = sizeof(float);

// Blocks that hold positions [0, end) of a sequence.
int64_t BlocksFor(int64_t end, int64_t block_size) { return (end + block_size - 1) / block_size; }

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
      rope_(RopeOf(model.config)),
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
      rope_(RopeOf(shard.config)),
      q_dim_(shard.ranges.n_q_heads() * shard.config.head_dim),
      kv_dim_(shard.ranges.n_kv_heads() * shard.config.head_dim),
      ffn_dim_(shard.ranges.n_ffn()) {}

absl::Status Executor::Load() {
  if (resident_ != nullptr) return absl::OkStatus();
  auto resident = backend_.Resident(weights_);
  if (!resident.ok()) {
    // This rank's memory, not the step: never one of the refusal codes, which
    // every rank of a group must reach alike.
    const absl::StatusCode code = resident.status().code() == absl::StatusCode::kResourceExhausted
                                      ? absl::StatusCode::kUnavailable
                                      : absl::StatusCode::kInternal;
    return absl::Status(code, absl::StrCat("loading the weights onto ", std::string(backend_.name()), ": ",
                                           resident.status().message()));
  }
  resident_ = *std::move(resident);
  rope_.freq_factors = resident_->rope_freqs;
  return absl::OkStatus();
}

absl::Status Executor::Validate(std::span<const SequenceChunk> batch) const {
  const ModelConfig& c = config_;
  if (&kv_.backend() != &backend_) {
    return absl::FailedPreconditionError(absl::StrCat("the KV cache lives on ", std::string(kv_.backend().name()),
                                                      " but this executor runs on ", std::string(backend_.name())));
  }
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

absl::Status Executor::EnsureScratch(int64_t n, int64_t n_logits, int64_t n_staged) {
  // Each buffer is freed before its replacement is allocated, so the old and
  // new sizes need not fit at once. A failure is this rank's memory, not the
  // step's: Unavailable, never a refusal code.
  auto grow = [this, n](BackendBuffer& b, int64_t bytes) -> absl::Status {
    b.reset();
    auto buffer = backend_.Allocate(bytes);
    if (!buffer.ok()) {
      return absl::UnavailableError(absl::StrCat("buffers for a step of ", n, " tokens on ",
                                                 std::string(backend_.name()), ": ", buffer.status().message()));
    }
    b = *std::move(buffer);
    return absl::OkStatus();
  };
  if (n > capacity_) {
    const ModelConfig& c = config_;
    capacity_ = 0;  // until every buffer has its new size
    const std::pair<BackendBuffer*, int64_t> widths[] = {
        {&x_, c.dim},      {&xn_, c.dim},   {&q_, q_dim_},      {&k_, kv_dim_}, {&v_, kv_dim_},
        {&attn_, q_dim_}, {&proj_, c.dim}, {&gate_, ffn_dim_}, {&up_, ffn_dim_}};
    for (const auto& [buffer, width] : widths) {
      if (auto s = grow(*buffer, n * width * kFloat); !s.ok()) return s;
    }
    capacity_ = n;
  }
  if (n_logits > logits_capacity_) {
    logits_capacity_ = 0;
    if (auto s = grow(logits_, n_logits * ranges_.n_vocab() * kFloat); !s.ok()) return s;
    logits_capacity_ = n_logits;
  }
  if (n_staged > staged_capacity_) {
    staged_capacity_ = 0;
    if (auto s = grow(staged_, n_staged * static_cast<int64_t>(sizeof(int32_t))); !s.ok()) return s;
    staged_capacity_ = n_staged;
  }
  return absl::OkStatus();
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
  int64_t n = 0, n_logits = 0, n_blocks = 0;
  for (const SequenceChunk& chunk : batch) {
    const int64_t size = static_cast<int64_t>(chunk.tokens.size());
    n += size;
    n_logits += chunk.want_logits ? 1 : 0;
    n_blocks += BlocksFor(chunk.start_pos + size, kv_.shape().block_size);
  }
  if (!first_stage() && static_cast<int64_t>(hidden_in.size()) != n * c.dim) {
    return absl::InvalidArgumentError(absl::StrCat("stage starting at layer ", ranges_.layer_begin,
                                                   " got ", hidden_in.size(), " hidden floats for ", n,
                                                   " tokens of width ", c.dim));
  }
  if (auto s = Load(); !s.ok()) return s;
  // Before the reservation, so a failure leaves the cache as it was.
  if (auto s = EnsureScratch(n, n_logits, 3 * n + n_blocks); !s.ok()) return s;
  if (auto s = ReserveKv(batch); !s.ok()) return s;
  if (n == 0) {
    // Nothing to run (and no zero-sized launches for a device backend).
    if (last_stage()) logits->clear();
    else hidden_out->clear();
    return absl::OkStatus();
  }

  Stage(batch, n);
  if (first_stage()) {
    if (auto s = Embed(n); !s.ok()) return s;
  } else {
    backend_.CopyIn(F(x_), hidden_in.data(), n * c.dim * kFloat);
  }
  for (int64_t layer = ranges_.layer_begin; layer < ranges_.layer_end; ++layer) {
    if (auto s = AttentionBlock(layer, n); !s.ok()) return s;
    if (auto s = FfnBlock(layer, n); !s.ok()) return s;
  }
  if (auto s = Output(batch, n, n_logits, hidden_out, logits); !s.ok()) return s;
  for (const SequenceChunk& chunk : batch) {
    kv_.SetLength(chunk.seq_id, chunk.start_pos + static_cast<int64_t>(chunk.tokens.size()));
  }
  return absl::OkStatus();
}

void Executor::Stage(std::span<const SequenceChunk> batch, int64_t n) {
  const ModelConfig& c = config_;
  const int64_t block_size = kv_.shape().block_size;
  // [tokens n][positions n][slots n][the chunks' block tables, in batch order]
  host_staged_.resize(static_cast<size_t>(3 * n));
  const int32_t* staged = static_cast<const int32_t*>(staged_.get());
  const int64_t group = c.n_heads / c.n_kv_heads;
  attention_.resize(batch.size());
  int64_t t = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const SequenceChunk& chunk = batch[i];
    const int64_t len = static_cast<int64_t>(chunk.tokens.size());
    for (int64_t j = 0; j < len; ++j) {
      const int64_t pos = chunk.start_pos + j;
      host_staged_[static_cast<size_t>(t + j)] = chunk.tokens[static_cast<size_t>(j)];
      host_staged_[static_cast<size_t>(n + t + j)] = static_cast<int32_t>(pos);
      host_staged_[static_cast<size_t>(2 * n + t + j)] = kv_.Slot(chunk.seq_id, pos);
    }
    // Only the blocks this step's attention reads.
    const std::span<const int32_t> ids =
        kv_.BlockIds(chunk.seq_id).first(static_cast<size_t>(BlocksFor(chunk.start_pos + len, block_size)));
    const int64_t table_at = static_cast<int64_t>(host_staged_.size());
    host_staged_.insert(host_staged_.end(), ids.begin(), ids.end());

    AttentionArgs& a = attention_[i];
    a = AttentionArgs{};
    a.q = F(q_) + t * q_dim_;
    a.n_tokens = len;
    a.positions = staged + n + t;
    a.n_heads = ranges_.n_q_heads();
    a.n_kv_heads = ranges_.n_kv_heads();
    a.head_dim = c.head_dim;
    a.kv_group = group;
    a.q_head_offset = ranges_.q_head_begin - ranges_.kv_head_begin * group;
    a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    a.kv.block_ids = staged + table_at;
    a.kv.block_size = block_size;
    a.out = F(attn_) + t * q_dim_;
    t += len;
  }
  backend_.CopyIn(staged_.get(), host_staged_.data(),
                  static_cast<int64_t>(host_staged_.size() * sizeof(int32_t)));
  tokens_ = staged;
  positions_ = staged + n;
  slots_ = staged + 2 * n;
}

absl::Status Executor::DeviceError(const absl::Status& s) const {
  return absl::InternalError(absl::StrCat("device error on ", std::string(backend_.name()), ": ", s.message()));
}

absl::Status Executor::AllReduce(float* x, int64_t n) {
  if (tp_ == nullptr) return absl::OkStatus();
  const std::span<float> data(x, static_cast<size_t>(n));
  absl::Status s;
  if (backend_.host_memory()) {
    s = tp_->AllReduceSum(data);
  } else if (tp_->takes_device_memory()) {
    // The communicator works on its own stream: what the backend queued to
    // write `x` must be done first.
    if (auto f = backend_.Finish(); !f.ok()) return DeviceError(f);
    s = tp_->AllReduceSum(data);
  } else {
    // A host-only communicator beside a device backend: through the host.
    const int64_t bytes = n * kFloat;
    if (host_reduce_.size() < static_cast<size_t>(n)) host_reduce_.resize(static_cast<size_t>(n));
    if (auto f = backend_.CopyOut(host_reduce_.data(), x, bytes); !f.ok()) return DeviceError(f);
    s = tp_->AllReduceSum(std::span<float>(host_reduce_.data(), static_cast<size_t>(n)));
    if (s.ok()) backend_.CopyIn(x, host_reduce_.data(), bytes);
  }
  if (s.ok() || !IsStepRefusal(s)) return s;
  // A communicator's InvalidArgument (sizes differing between ranks) is a
  // broken group, not a bad step: keep it out of the codes that say "this
  // step was refused and the group serves on".
  return absl::InternalError(absl::StrCat("tensor-parallel all-reduce: ", s.ToString()));
}

absl::Status Executor::Embed(int64_t n) {
  // Vocabulary-parallel ranks each fill the rows of the tokens in their slice
  // [vocab_begin, vocab_end) and zeros elsewhere; the all-reduce assembles
  // every row (x + 0 is exact). Whether to all-reduce is decided by the
  // stage's shape, not this rank's slice: a tp rank whose slice happens to
  // be the whole vocabulary must still join the all-reduce its peers make.
  backend_.Embedding(resident_->token_embd, tokens_, n, ranges_.vocab_begin, F(x_));
  return AllReduce(F(x_), n * config_.dim);
}

absl::Status Executor::AttentionBlock(int64_t layer, int64_t n) {
  const ModelConfig& c = config_;
  const int64_t local = layer - ranges_.layer_begin;
  const ResidentLayer& w = resident_->layers[static_cast<size_t>(local)];
  float* proj = F(proj_);
  if (q_dim_ == 0) {
    // A tensor-parallel rank with no heads adds nothing but must still join
    // the all-reduce.
    backend_.Zero(proj, n * c.dim * kFloat);
  } else {
    backend_.RmsNorm(F(x_), w.attn_norm, n, c.dim, c.rms_eps, F(xn_));
    {
      const MatrixView* ws[] = {&w.wq, &w.wk, &w.wv};
      float* ys[] = {F(q_), F(k_), F(v_)};
      backend_.MatMulShared(ws, F(xn_), n, ys);
    }
    if (c.qkv_bias) {
      backend_.AddBias(F(q_), w.bq, n, q_dim_);
      backend_.AddBias(F(k_), w.bk, n, kv_dim_);
      backend_.AddBias(F(v_), w.bv, n, kv_dim_);
    }
    backend_.Rope(F(q_), n, ranges_.n_q_heads(), c.head_dim, positions_, rope_);
    backend_.Rope(F(k_), n, ranges_.n_kv_heads(), c.head_dim, positions_, rope_);
    // Every chunk's keys and values first, then every chunk's attention:
    // the sequences of a step own disjoint blocks, so the order is free.
    backend_.StoreKv(F(k_), F(v_), n, kv_dim_, slots_, kv_.KeyStore(local), kv_.ValueStore(local));
    for (AttentionArgs& a : attention_) {
      a.kv.k_store = kv_.KeyStore(local);
      a.kv.v_store = kv_.ValueStore(local);
    }
    backend_.AttentionBatch(attention_);
    backend_.MatMul(w.wo, F(attn_), n, proj);
  }
  if (auto s = AllReduce(proj, n * c.dim); !s.ok()) return s;
  backend_.Add(F(x_), proj, n * c.dim);
  return absl::OkStatus();
}

absl::Status Executor::FfnBlock(int64_t layer, int64_t n) {
  const ModelConfig& c = config_;
  const ResidentLayer& w = resident_->layers[static_cast<size_t>(layer - ranges_.layer_begin)];
  float* proj = F(proj_);
  if (ffn_dim_ == 0) {
    backend_.Zero(proj, n * c.dim * kFloat);
  } else {
    backend_.RmsNorm(F(x_), w.ffn_norm, n, c.dim, c.rms_eps, F(xn_));
    {
      const MatrixView* ws[] = {&w.w_gate, &w.w_up};
      float* ys[] = {F(gate_), F(up_)};
      backend_.MatMulShared(ws, F(xn_), n, ys);
    }
    backend_.SiluMul(F(gate_), F(up_), n * ffn_dim_, F(gate_));
    backend_.MatMul(w.w_down, F(gate_), n, proj);
  }
  if (auto s = AllReduce(proj, n * c.dim); !s.ok()) return s;
  backend_.Add(F(x_), proj, n * c.dim);
  return absl::OkStatus();
}

absl::Status Executor::Output(std::span<const SequenceChunk> batch, int64_t n, int64_t n_logits,
                              std::vector<float>* hidden_out, std::vector<float>* logits) {
  const ModelConfig& c = config_;
  const int64_t row_bytes = c.dim * kFloat;
  absl::Status done;
  if (!last_stage()) {
    hidden_out->resize(static_cast<size_t>(n * c.dim));
    done = backend_.CopyOut(hidden_out->data(), F(x_), n * row_bytes);
  } else {
    // Final norm and logits only for the rows that asked for them, gathered
    // into xn_.
    int64_t row = 0, t = 0;
    for (const SequenceChunk& chunk : batch) {
      t += static_cast<int64_t>(chunk.tokens.size());
      if (!chunk.want_logits) continue;
      backend_.Copy(F(xn_) + row * c.dim, F(x_) + (t - 1) * c.dim, row_bytes);
      ++row;
    }
    const int64_t vocab = ranges_.n_vocab();
    logits->resize(static_cast<size_t>(n_logits * vocab));
    if (n_logits > 0) {
      backend_.RmsNorm(F(xn_), resident_->output_norm, n_logits, c.dim, c.rms_eps, F(xn_));
      if (vocab > 0) backend_.MatMul(resident_->output, F(xn_), n_logits, F(logits_));
    }
    // Finish: a step with no logits still waits for its KV writes, so a
    // device fault is this step's.
    done = n_logits * vocab > 0
               ? backend_.CopyOut(logits->data(), F(logits_), n_logits * vocab * kFloat)
               : backend_.Finish();
  }
  return done.ok() ? done : DeviceError(done);
}

}  // namespace tessera
