#include "worker/group_generate.h"

#include <chrono>
#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

struct SeqState {
  int64_t fed = 0;  // positions already sent through the group
  int32_t last = -1;
  bool in_flight = false;
  bool done = false;
};

proto::Sampling ToProto(const SamplingParams& p) {
  proto::Sampling s;
  s.set_temperature(p.temperature);
  s.set_top_k(p.top_k);
  s.set_top_p(p.top_p);
  s.set_seed(p.seed);
  return s;
}

}  // namespace

absl::StatusOr<std::vector<GroupOutput>> GenerateOnGroup(GroupLeader& leader, std::span<const GroupRequest> requests,
                                                         const GroupGenerateOptions& options) {
  if (options.prefill_chunk < 1) return absl::InvalidArgumentError("prefill chunk must be >= 1");
  absl::flat_hash_map<int64_t, size_t> index;
  for (size_t i = 0; i < requests.size(); ++i) {
    const GroupRequest& r = requests[i];
    if (r.prompt.empty()) return absl::InvalidArgumentError(absl::StrCat("sequence ", r.seq_id, ": empty prompt"));
    if (r.max_tokens < 1) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", r.seq_id, ": max tokens must be >= 1"));
    }
    if (auto s = ValidateSamplingParams(r.sampling); !s.ok()) return s;
    if (!index.emplace(r.seq_id, i).second) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", r.seq_id, " requested twice"));
    }
  }
  const int depth = options.max_in_flight > 0 ? options.max_in_flight : leader.pipeline_depth();
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };

  std::vector<SeqState> state(requests.size());
  std::vector<GroupOutput> out(requests.size());
  std::vector<int64_t> release;
  absl::Status failure;
  bool first_step = true;

  auto build_step = [&](size_t count) {
    proto::GroupStep step;
    step.set_gather_logits(options.gather_logits);
    step.set_reset_stats(options.reset_stats && first_step);
    first_step = false;
    for (int64_t id : release) step.add_release(id);
    release.clear();
    for (size_t i = 0; i < requests.size() && count > 0; ++i) {
      SeqState& s = state[i];
      if (s.done || s.in_flight) continue;
      const GroupRequest& r = requests[i];
      proto::StepChunk* c = step.add_chunks();
      c->set_seq_id(r.seq_id);
      c->set_start_pos(s.fed);
      const int64_t prompt = static_cast<int64_t>(r.prompt.size());
      if (s.fed < prompt) {
        const int64_t len = std::min(options.prefill_chunk, prompt - s.fed);
        c->mutable_tokens()->Add(r.prompt.begin() + s.fed, r.prompt.begin() + s.fed + len);
        c->set_want_logits(s.fed + len == prompt);
      } else {
        c->add_tokens(s.last);
        c->set_want_logits(true);
      }
      *c->mutable_sampling() = ToProto(r.sampling);
      s.in_flight = true;
      --count;
    }
    return step;
  };

  auto finish = [&](const proto::StepResult& result, const proto::GroupStep& step) -> absl::Status {
    if (!result.error().empty()) {
      const auto code = static_cast<absl::StatusCode>(result.error_code());
      return absl::Status(IsStepRefusal(code) ? code : absl::StatusCode::kFailedPrecondition, result.error());
    }
    const int64_t vocab = options.gather_logits && !result.tokens().empty()
                              ? result.logits_size() / result.tokens_size()
                              : 0;
    int token_i = 0;
    for (const proto::StepChunk& c : step.chunks()) {
      const size_t i = index.at(c.seq_id());
      SeqState& s = state[i];
      s.in_flight = false;
      s.fed += c.tokens_size();
      if (!c.want_logits()) continue;
      if (token_i >= result.tokens_size() || result.tokens(token_i).seq_id() != c.seq_id()) {
        return absl::DataLossError(absl::StrCat("step ", step.step_id(), " answered without sequence ", c.seq_id()));
      }
      const int32_t token = result.tokens(token_i).token();
      if (options.on_logits && vocab > 0) {
        options.on_logits(i, s.fed, std::span<const float>(result.logits().data() + token_i * vocab,
                                                           static_cast<size_t>(vocab)));
      }
      ++token_i;
      GroupOutput& o = out[i];
      if (o.tokens.empty()) o.first_token_seconds = elapsed();
      o.tokens.push_back(token);
      o.seconds = elapsed();
      s.last = token;
      if (options.on_token) options.on_token(i, token);
      if (token == options.eos) o.stopped_at_eos = true;
      if (o.stopped_at_eos || static_cast<int64_t>(o.tokens.size()) >= requests[i].max_tokens) {
        s.done = true;
        release.push_back(c.seq_id());
      }
    }
    return absl::OkStatus();
  };

  std::deque<proto::GroupStep> submitted;
  while (true) {
    size_t ready = 0;
    for (const SeqState& s : state) ready += (!s.done && !s.in_flight) ? 1 : 0;
    if (failure.ok() && ready > 0 && leader.in_flight() < depth) {
      const size_t slots = static_cast<size_t>(depth - leader.in_flight());
      proto::GroupStep step = build_step((ready + slots - 1) / slots);
      auto id = leader.Submit(step);
      if (!id.ok()) return id.status();
      step.set_step_id(*id);
      submitted.push_back(std::move(step));
      continue;
    }
    if (leader.in_flight() == 0) break;
    auto result = leader.Collect();
    if (!result.ok()) return result.status();
    proto::GroupStep step = std::move(submitted.front());
    submitted.pop_front();
    // After a failure, steps still in flight only drain: their tokens belong
    // to a run that has already ended.
    if (!failure.ok()) continue;
    if (absl::Status s = finish(*result, step); !s.ok()) {
      // Stop submitting, drain what is in flight, then release everything.
      failure = s;
      for (size_t i = 0; i < state.size(); ++i) {
        if (!state[i].done) {
          state[i].done = true;
          release.push_back(requests[i].seq_id);
        }
      }
    }
  }
  // Free the KV of sequences that finished last, on every rank.
  if (!release.empty()) {
    proto::GroupStep step = build_step(0);
    if (auto id = leader.Submit(step); !id.ok()) return id.status();
    auto result = leader.Collect();
    if (!result.ok()) return result.status();
  }
  if (!failure.ok()) return failure;
  return out;
}

}  // namespace tessera
