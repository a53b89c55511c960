#include "worker/stage_runner.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "worker/rank_report.h"
#include "worker/resident_memory.h"
#include "worker/sampler.h"

namespace tessera {
namespace {

SamplingParams FromProto(const proto::Sampling& s) {
  return SamplingParams{s.temperature(), s.top_k(), s.top_p(), s.seed()};
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Steps that end a Serve loop: passed on, never run.
bool EndsServing(const proto::GroupStep& step) { return step.stop() || !step.reshard_plan().empty(); }

}  // namespace

absl::Duration PipelineSendTimeout(absl::Duration step_timeout, int pp) {
  return step_timeout * std::max(pp, 1);
}

StageRunner::StageRunner(const GroupLayout& layout, Communicator& group, Communicator* tp, Executor& executor,
                         std::vector<VocabSlice> last_stage_vocab, int64_t weight_bytes)
    : layout_(layout), group_(group), tp_(tp), executor_(&executor) {
  Rebind(executor, std::move(last_stage_vocab), weight_bytes);
}

void StageRunner::Rebind(Executor& executor, std::vector<VocabSlice> last_stage_vocab, int64_t weight_bytes) {
  executor_ = &executor;
  vocab_ = std::move(last_stage_vocab);
  max_vocab_slice_ = 0;
  for (const VocabSlice& v : vocab_) max_vocab_slice_ = std::max(max_vocab_slice_, v.end - v.begin);
  weight_bytes_ = weight_bytes;
  compute_seconds_ = 0.0;
  steps_computed_ = 0;
}

proto::RankReport StageRunner::Report() const {
  proto::RankReport r;
  r.set_rank(layout_.group_rank);
  r.set_stage(layout_.stage);
  r.set_steps(steps_computed_);
  r.set_compute_seconds(compute_seconds_);
  r.set_resident_bytes(ResidentBytes());
  r.set_weight_bytes(weight_bytes_);
  const KvCacheShape& kv = executor_->kv_cache().shape();
  // Keys and values, f32.
  r.set_kv_bytes(2 * kv.n_layers * kv.n_blocks * kv.block_size * kv.kv_dim * static_cast<int64_t>(sizeof(float)));
  return r;
}

absl::StatusOr<std::optional<proto::StepResult>> StageRunner::RunAsLeader(const proto::GroupStep& step) {
  proto::GroupStep mine = step;
  if (!layout_.leader()) return absl::FailedPreconditionError("only the group's leader runs RunAsLeader");
  if (tp_ != nullptr) {
    const std::string bytes = step.SerializeAsString();
    int64_t size = static_cast<int64_t>(bytes.size());
    if (auto s = tp_->Broadcast(std::as_writable_bytes(std::span<int64_t>(&size, 1)), 0); !s.ok()) return s;
    send_buf_.assign(Bytes(bytes).begin(), Bytes(bytes).end());
    if (auto s = tp_->Broadcast(send_buf_, 0); !s.ok()) return s;
  }
  std::optional<proto::StepResult> answer;
  if (EndsServing(mine)) {
    if (!layout_.last_stage()) {
      if (auto s = Forward(mine, {}); !s.ok()) return s;
    }
    return answer;
  }
  if (auto s = RunStep(mine, &answer); !s.ok()) return s;
  return answer;
}

absl::StatusOr<ServeExit> StageRunner::Serve() {
  while (true) {
    proto::GroupStep step;
    if (layout_.first_stage()) {
      if (tp_ == nullptr) return absl::FailedPreconditionError("the leader does not serve steps");
      // Waiting for work is not a failure: no timeout on the step's size.
      int64_t size = 0;
      if (auto s = tp_->Broadcast(std::as_writable_bytes(std::span<int64_t>(&size, 1)), 0,
                                  absl::InfiniteDuration());
          !s.ok()) {
        return s;
      }
      if (size < 0 || size > (int64_t{1} << 30)) {
        return absl::DataLossError(absl::StrCat(layout_.Describe(), ": step of ", size, " bytes announced"));
      }
      recv_buf_.resize(static_cast<size_t>(size));
      if (auto s = tp_->Broadcast(recv_buf_, 0); !s.ok()) return s;
    } else {
      auto bytes = group_.RecvAny(layout_.prev_stage_rank(), kTagStep, absl::InfiniteDuration());
      if (!bytes.ok()) return bytes.status();
      recv_buf_ = *std::move(bytes);
    }
    if (!step.ParseFromArray(recv_buf_.data(), static_cast<int>(recv_buf_.size()))) {
      return absl::DataLossError(
          absl::StrCat(layout_.Describe(), ": a step message of ", recv_buf_.size(), " bytes does not parse"));
    }
    if (EndsServing(step)) {
      // Passed on first: every later stage must hear it to join a reshard.
      if (!layout_.last_stage()) {
        if (auto s = Forward(step, {}); !s.ok()) return s;
      }
      ServeExit exit;
      if (step.stop()) return exit;
      exit.reshard = true;
      if (!exit.plan.ParseFromString(step.reshard_plan())) {
        exit.plan.Clear();
        exit.plan_status = absl::DataLossError(
            absl::StrCat("the plan of the reshard step (", step.reshard_plan().size(), " bytes) does not parse"));
      }
      return exit;
    }
    std::optional<proto::StepResult> answer;
    if (auto s = RunStep(step, &answer); !s.ok()) return s;
    if (answer.has_value()) {
      const std::string bytes = answer->SerializeAsString();
      // The leader may be computing a later step's first stage before it
      // collects this answer: a pipeline send.
      if (auto s = group_.Send(Bytes(bytes), 0, kTagResult, pipeline_send_timeout_); !s.ok()) return s;
    }
  }
}

absl::Status StageRunner::RunStep(proto::GroupStep& step, std::optional<proto::StepResult>* answer) {
  if (step.reset_stats()) {
    group_.ResetStats();
    if (tp_ != nullptr) tp_->ResetStats();
    compute_seconds_ = 0.0;
    steps_computed_ = 0;
  }
  for (int64_t seq : step.release()) executor_->kv_cache().Release(seq);

  std::vector<SequenceChunk> chunks;
  int64_t n_tokens = 0;
  for (const proto::StepChunk& c : step.chunks()) {
    chunks.push_back(SequenceChunk{c.seq_id(), std::span<const int32_t>(c.tokens().data(), c.tokens_size()),
                                   c.start_pos(), c.want_logits()});
    n_tokens += c.tokens_size();
  }
  const int64_t dim = executor_->config().dim;
  bool ran = false;
  if (step.error().empty() && !chunks.empty()) {
    if (!layout_.first_stage()) {
      hidden_in_.resize(static_cast<size_t>(n_tokens * dim));
      if (auto s = group_.Recv(std::as_writable_bytes(std::span<float>(hidden_in_)), layout_.prev_stage_rank(),
                               kTagHidden);
          !s.ok()) {
        return s;
      }
    }
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = executor_->RunStage(chunks, hidden_in_, &hidden_out_, &logits_);
    compute_seconds_ += Seconds(start);
    if (!s.ok()) {
      if (!IsStepRefusal(s)) return s;
      step.set_error(absl::StrCat(layout_.Describe(), ": ", std::string(s.message())));
      step.set_error_code(static_cast<int32_t>(s.code()));
    } else {
      ran = true;
      ++steps_computed_;
    }
  }
  // Every tensor rank of the stage holds this step (refused or not), so the
  // tp collective is safe here.
  if (step.collect_reports()) {
    if (auto s = GatherStageReports(tp_, Report(), &step); !s.ok()) return s;
  }
  if (!layout_.last_stage()) {
    return Forward(step, ran ? std::span<const float>(hidden_out_) : std::span<const float>());
  }
  proto::StepResult result;
  result.set_step_id(step.step_id());
  result.set_error(step.error());
  result.set_error_code(step.error_code());
  *result.mutable_reports() = step.reports();
  if (ran) {
    if (auto s = Sample(step, chunks, logits_, &result); !s.ok()) return s;
  }
  if (layout_.tp_rank == 0) *answer = std::move(result);
  return absl::OkStatus();
}

absl::Status StageRunner::Forward(const proto::GroupStep& step, std::span<const float> hidden) {
  const std::string bytes = step.SerializeAsString();
  if (auto s = group_.Send(Bytes(bytes), layout_.next_stage_rank(), kTagStep, pipeline_send_timeout_); !s.ok()) {
    return s;
  }
  if (hidden.empty()) return absl::OkStatus();
  return group_.Send(std::as_bytes(hidden), layout_.next_stage_rank(), kTagHidden, pipeline_send_timeout_);
}

absl::Status StageRunner::Sample(const proto::GroupStep& step, std::span<const SequenceChunk> chunks,
                                 std::span<const float> logits, proto::StepResult* result) {
  const int64_t local_vocab = executor_->ranges().n_vocab();
  const int64_t vocab = executor_->config().vocab_size;
  std::vector<const proto::StepChunk*> rows;
  for (const proto::StepChunk& c : step.chunks()) {
    if (c.want_logits()) rows.push_back(&c);
  }
  auto position = [](const proto::StepChunk& c) { return c.start_pos() + c.tokens_size(); };
  auto add = [&](const proto::StepChunk& c, int32_t token) {
    proto::SampledToken* t = result->add_tokens();
    t->set_seq_id(c.seq_id());
    t->set_token(token);
  };

  if (tp_ == nullptr) {
    for (size_t i = 0; i < rows.size(); ++i) {
      std::span<const float> row = logits.subspan(i * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
      Sampler sampler(FromProto(rows[i]->sampling()));
      add(*rows[i], sampler.Sample(row, position(*rows[i])));
      if (step.gather_logits()) result->mutable_logits()->Add(row.begin(), row.end());
    }
    return absl::OkStatus();
  }

  // Each rank offers, per row, its slice's best candidates (padded to a size
  // every rank agrees on); one all-gather gives every rank the union, and
  // every rank draws the same token from it.
  std::vector<int64_t> offer(rows.size());
  int64_t total = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t k = CandidatesNeeded(FromProto(rows[i]->sampling()));
    offer[i] = (k == 0 || k > max_vocab_slice_) ? max_vocab_slice_ : k;
    total += offer[i];
  }
  std::vector<Candidate> mine;
  mine.reserve(static_cast<size_t>(total));
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t before = mine.size();
    std::span<const float> row =
        logits.subspan(i * static_cast<size_t>(local_vocab), static_cast<size_t>(local_vocab));
    BestCandidates(row, static_cast<int32_t>(executor_->ranges().vocab_begin), offer[i], &mine);
    mine.resize(before + static_cast<size_t>(offer[i]), Candidate{-INFINITY, -1});
  }
  const int ranks = tp_->size();
  std::vector<Candidate> all(static_cast<size_t>(total) * ranks);
  if (auto s = tp_->AllGather(std::as_bytes(std::span<const Candidate>(mine)),
                              std::as_writable_bytes(std::span<Candidate>(all)));
      !s.ok()) {
    return s;
  }
  std::vector<Candidate> merged;
  int64_t offset = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    merged.clear();
    for (int r = 0; r < ranks; ++r) {
      for (int64_t j = 0; j < offer[i]; ++j) {
        const Candidate& c = all[static_cast<size_t>(r * total + offset + j)];
        if (c.id >= 0) merged.push_back(c);
      }
    }
    offset += offer[i];
    Sampler sampler(FromProto(rows[i]->sampling()));
    add(*rows[i], sampler.SampleCandidates(merged, position(*rows[i])));
  }

  if (step.gather_logits()) {
    const size_t n_rows = rows.size();
    std::vector<float> padded(n_rows * static_cast<size_t>(max_vocab_slice_), 0.0f);
    for (size_t i = 0; i < n_rows; ++i) {
      std::copy_n(logits.begin() + static_cast<std::ptrdiff_t>(i * local_vocab), local_vocab,
                  padded.begin() + static_cast<std::ptrdiff_t>(i * max_vocab_slice_));
    }
    std::vector<float> gathered(padded.size() * ranks);
    if (auto s = tp_->AllGather(std::as_bytes(std::span<const float>(padded)),
                                std::as_writable_bytes(std::span<float>(gathered)));
        !s.ok()) {
      return s;
    }
    for (size_t i = 0; i < n_rows; ++i) {
      for (int r = 0; r < ranks; ++r) {
        const VocabSlice& v = vocab_[static_cast<size_t>(r)];
        const float* src = &gathered[(static_cast<size_t>(r) * n_rows + i) * max_vocab_slice_];
        result->mutable_logits()->Add(src, src + (v.end - v.begin));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera
