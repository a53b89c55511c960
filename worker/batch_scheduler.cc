#include "worker/batch_scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "worker/sampler.h"

namespace tessera {
namespace {

proto::SequenceUpdate Done(uint64_t seq) {
  proto::SequenceUpdate u;
  u.set_seq(seq);
  u.set_done(true);
  return u;
}

}  // namespace

absl::Status ValidateSchedulerLimits(const SchedulerLimits& l) {
  if (l.max_sequences < 1 || l.max_batch_tokens < 1 || l.prefill_chunk < 1 || l.block_size < 1 ||
      l.kv_blocks < 1 || l.max_in_flight < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scheduler limits must be positive: max sequences ", l.max_sequences, ", max batch tokens ",
        l.max_batch_tokens, ", prefill chunk ", l.prefill_chunk, ", block size ", l.block_size, ", KV blocks ",
        l.kv_blocks, ", steps in flight ", l.max_in_flight));
  }
  return absl::OkStatus();
}

BatchScheduler::BatchScheduler(const SchedulerLimits& limits, int32_t eos) : limits_(limits), eos_(eos) {
  const absl::Status valid = ValidateSchedulerLimits(limits);
  CHECK(valid.ok()) << valid;
}

absl::Status BatchScheduler::Add(const proto::StartSequence& start) {
  const uint64_t id = start.seq();
  if (seqs_.contains(id)) {
    return absl::InvalidArgumentError(absl::StrCat("sequence ", id, " is already running or waiting"));
  }
  if (start.tokens().empty()) return absl::InvalidArgumentError(absl::StrCat("sequence ", id, ": no tokens"));
  if (start.max_new_tokens() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence ", id, ": max new tokens must be >= 1, got ", start.max_new_tokens()));
  }
  const proto::SamplingOptions& so = start.sampling();
  // The client API's top_p 0 means "no nucleus cut", as 1 does.
  const SamplingParams params{so.temperature(), so.top_k(), so.top_p() == 0.0f ? 1.0f : so.top_p(), so.seed()};
  if (absl::Status s = ValidateSamplingParams(params); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("sequence ", id, ": ", std::string(s.message())));
  }
  // The last new token is sampled, never fed: the sequence occupies at most
  // tokens + max_new_tokens - 1 positions.
  const int64_t positions = start.tokens_size() + int64_t{start.max_new_tokens()} - 1;
  if (BlocksFor(positions) > limits_.kv_blocks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence ", id, ": ", start.tokens_size(), " tokens plus ", start.max_new_tokens(), " new tokens need ",
        BlocksFor(positions), " KV blocks of ", limits_.block_size, " positions; the group has ", limits_.kv_blocks));
  }
  Sequence s;
  s.id = id;
  s.tokens.assign(start.tokens().begin(), start.tokens().end());
  s.prompt_size = start.tokens_size();
  s.max_new_tokens = start.max_new_tokens();
  s.sampling.set_temperature(params.temperature);
  s.sampling.set_top_k(params.top_k);
  s.sampling.set_top_p(params.top_p);
  s.sampling.set_seed(params.seed);
  s.stop_at_eos = start.stop_at_eos();
  seqs_.emplace(id, std::move(s));
  queue_.push_back(id);
  return absl::OkStatus();
}

void BatchScheduler::ReleaseKv(Sequence& s) {
  used_blocks_ -= s.blocks;
  s.blocks = 0;
  // A sequence with nothing sent holds nothing on any rank.
  if (s.fed > 0) release_.push_back(static_cast<int64_t>(s.id));
  s.fed = 0;
}

void BatchScheduler::Forget(uint64_t seq) { seqs_.erase(seq); }

void BatchScheduler::Preempt(Sequence& s) {
  ReleaseKv(s);
  admitted_.erase(std::find(admitted_.begin(), admitted_.end(), s.id));
  --running_;
  s.state = State::kWaiting;
  queue_.push_front(s.id);
  ++preemptions_;
}

BatchScheduler::Sequence* BatchScheduler::PreemptionVictim() {
  for (auto it = admitted_.rbegin(); it != admitted_.rend(); ++it) {
    Sequence& s = seqs_.at(*it);
    if (!s.in_flight) return &s;
  }
  return nullptr;
}

std::optional<proto::SequenceUpdate> BatchScheduler::Cancel(uint64_t seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end() || it->second.state == State::kCancelled) return std::nullopt;
  Sequence& s = it->second;
  proto::SequenceUpdate u = Done(seq);
  u.set_finish(proto::FINISH_CANCELLED);
  if (s.state == State::kWaiting) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), seq));
    Forget(seq);
    return u;
  }
  ReleaseKv(s);
  admitted_.erase(std::find(admitted_.begin(), admitted_.end(), seq));
  --running_;
  // A token still in flight is dropped when its step answers.
  if (s.in_flight) {
    s.state = State::kCancelled;
  } else {
    Forget(seq);
  }
  return u;
}

void BatchScheduler::AddChunk(proto::GroupStep& step, Sequence& s, int64_t len, std::vector<ChunkRecord>& record) {
  proto::StepChunk* c = step.add_chunks();
  c->set_seq_id(static_cast<int64_t>(s.id));
  c->set_start_pos(s.fed);
  c->mutable_tokens()->Add(s.tokens.begin() + s.fed, s.tokens.begin() + s.fed + len);
  // Only the chunk that completes the prefill (and every decode) samples.
  const bool want = s.fed + len >= s.prefill_end;
  c->set_want_logits(want);
  *c->mutable_sampling() = s.sampling;
  s.fed += len;
  s.in_flight = true;
  record.push_back(ChunkRecord{s.id, want});
}

std::optional<proto::GroupStep> BatchScheduler::NextStep() {
  if (static_cast<int>(in_flight_.size()) >= limits_.max_in_flight) return std::nullopt;
  proto::GroupStep step;
  std::vector<ChunkRecord> record;
  int64_t budget = limits_.max_batch_tokens;

  // Decode: one token each, oldest first. With several steps in flight each
  // takes about its share of the decoding sequences, so every pipeline stage
  // has work.
  int64_t active = 0;
  for (uint64_t id : admitted_) active += decoding(seqs_.at(id)) ? 1 : 0;
  const int64_t share = (active + limits_.max_in_flight - 1) / limits_.max_in_flight;
  int64_t taken = 0;
  const std::vector<uint64_t> by_age = admitted_;
  for (uint64_t id : by_age) {
    if (taken >= share || budget == 0) break;
    Sequence& s = seqs_.at(id);
    if (s.state != State::kRunning || s.in_flight || !decoding(s)) continue;
    const int64_t need = BlocksFor(s.fed + 1) - s.blocks;
    while (need > free_blocks()) {
      Sequence* victim = PreemptionVictim();
      if (victim == nullptr) break;
      Preempt(*victim);
      if (victim == &s) break;
    }
    // Preempted itself, or everything it could take from is in flight: it
    // tries again once those answer.
    if (s.state != State::kRunning || need > free_blocks()) continue;
    s.blocks += need;
    used_blocks_ += need;
    AddChunk(step, s, 1, record);
    ++taken;
    --budget;
  }

  // Prefill: sequences already admitted, oldest first, then admissions.
  for (uint64_t id : admitted_) {
    if (budget == 0) break;
    Sequence& s = seqs_.at(id);
    if (s.in_flight || decoding(s)) continue;
    const int64_t len = std::min({limits_.prefill_chunk, s.prefill_end - s.fed, budget});
    AddChunk(step, s, len, record);
    budget -= len;
  }
  while (budget > 0 && !queue_.empty() && running_ < limits_.max_sequences) {
    Sequence& s = seqs_.at(queue_.front());
    const int64_t need = BlocksFor(static_cast<int64_t>(s.tokens.size()));
    if (need > free_blocks()) break;  // first come, first served: nobody overtakes
    queue_.pop_front();
    s.state = State::kRunning;
    s.fed = 0;
    s.prefill_end = static_cast<int64_t>(s.tokens.size());
    s.blocks = need;
    used_blocks_ += need;
    admitted_.push_back(s.id);
    ++running_;
    const int64_t len = std::min({limits_.prefill_chunk, s.prefill_end, budget});
    AddChunk(step, s, len, record);
    budget -= len;
  }

  if (step.chunks().empty() && release_.empty()) return std::nullopt;
  for (int64_t id : release_) step.add_release(id);
  release_.clear();
  in_flight_.push_back(std::move(record));
  return step;
}

std::vector<proto::SequenceUpdate> BatchScheduler::OnResult(const proto::StepResult& result) {
  CHECK(!in_flight_.empty()) << "a step result with no step in flight";
  const std::vector<ChunkRecord> record = std::move(in_flight_.front());
  in_flight_.pop_front();
  std::vector<proto::SequenceUpdate> updates;

  auto finish = [&](Sequence& s, proto::SequenceUpdate u) {
    ReleaseKv(s);
    admitted_.erase(std::find(admitted_.begin(), admitted_.end(), s.id));
    --running_;
    updates.push_back(std::move(u));
    Forget(s.id);
  };

  if (!result.error().empty()) {
    const bool full = result.error_code() == static_cast<int32_t>(absl::StatusCode::kResourceExhausted);
    // Newest first, so the oldest ends up at the front of the queue.
    for (auto it = record.rbegin(); it != record.rend(); ++it) {
      Sequence& s = seqs_.at(it->seq);
      s.in_flight = false;
      if (s.state == State::kCancelled) {
        Forget(s.id);
      } else if (full) {
        // The mirror should have kept this from happening; recompute later.
        LOG(WARNING) << "sequence " << s.id << " preempted after a refused step: " << result.error();
        Preempt(s);
      } else {
        proto::SequenceUpdate u = Done(s.id);
        u.set_error_code(proto::ERROR_INTERNAL);
        u.set_error(result.error());
        finish(s, std::move(u));
      }
    }
    std::reverse(updates.begin(), updates.end());
    return updates;
  }

  int token_i = 0;
  for (const ChunkRecord& rec : record) {
    Sequence& s = seqs_.at(rec.seq);
    s.in_flight = false;
    std::optional<int32_t> token;
    if (rec.want_logits && token_i < result.tokens_size() &&
        result.tokens(token_i).seq_id() == static_cast<int64_t>(rec.seq)) {
      token = result.tokens(token_i++).token();
    }
    if (s.state == State::kCancelled) {
      Forget(s.id);
      continue;
    }
    if (!rec.want_logits) continue;
    if (!token.has_value()) {
      proto::SequenceUpdate u = Done(s.id);
      u.set_error_code(proto::ERROR_INTERNAL);
      u.set_error(absl::StrCat("the group's answer to a step has no token for sequence ", s.id));
      finish(s, std::move(u));
      continue;
    }
    s.tokens.push_back(*token);
    proto::SequenceUpdate u;
    u.set_seq(s.id);
    if (s.stop_at_eos && *token == eos_) {
      // Unlike Generate() (generate.cc), whose token list ends with the EOS
      // that stopped it, the serving API never reports EOS as a token:
      // FINISH_EOS says it.
      u.set_done(true);
      u.set_finish(proto::FINISH_EOS);
      finish(s, std::move(u));
      continue;
    }
    u.add_tokens(*token);
    if (generated(s) >= s.max_new_tokens) {
      u.set_done(true);
      u.set_finish(proto::FINISH_LENGTH);
      finish(s, std::move(u));
      continue;
    }
    updates.push_back(std::move(u));
  }
  return updates;
}

}  // namespace tessera
