#include "worker/leader_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace tessera {

LeaderServiceOptions ServiceOptionsFor(const GroupMember& member, const SchedulerLimits& limits, uint64_t group_id,
                                       uint64_t epoch) {
  LeaderServiceOptions o;
  o.limits = limits;
  o.limits.block_size = member.kv->shape().block_size;
  o.limits.kv_blocks = member.kv->shape().n_blocks;
  o.limits.max_in_flight = member.layout.pp;
  o.eos = member.model->tokenizer->eos_id();
  o.vocab_size = member.model->config.vocab_size;
  o.context_length = member.model->config.context_length;
  o.group_id = group_id;
  o.epoch = epoch;
  return o;
}

namespace {

// More steps in flight than stages would only queue at the first stage.
LeaderServiceOptions Clamped(LeaderServiceOptions o, const GroupLeader& leader) {
  o.limits.max_in_flight = std::min(o.limits.max_in_flight, leader.pipeline_depth());
  return o;
}

}  // namespace

LeaderService::LeaderService(GroupLeader& leader, LeaderLink& link, const LeaderServiceOptions& options)
    : leader_(leader),
      link_(link),
      options_(Clamped(options, leader)),
      scheduler_(options_.limits, options_.eos) {}

absl::Status LeaderService::Validate(const proto::StartSequence& start) const {
  for (int32_t t : start.tokens()) {
    if (t < 0 || t >= options_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", start.seq(), ": token id ", t,
                                                     " outside the vocabulary [0, ", options_.vocab_size, ")"));
    }
  }
  // As Generate() counts: the last new token is never fed.
  const int64_t positions = start.tokens_size() + int64_t{start.max_new_tokens()} - 1;
  if (start.max_new_tokens() > 0 && positions > options_.context_length) {
    return absl::InvalidArgumentError(absl::StrCat("sequence ", start.seq(), ": ", start.tokens_size(),
                                                   " tokens plus ", start.max_new_tokens(),
                                                   " new tokens exceed the model's context of ",
                                                   options_.context_length));
  }
  return absl::OkStatus();
}

void LeaderService::Handle(const proto::CoordinatorMessage& message) {
  switch (message.kind_case()) {
    case proto::CoordinatorMessage::kStart: {
      const proto::StartSequence& start = message.start();
      absl::Status s = Validate(start);
      if (s.ok()) s = scheduler_.Add(start);
      if (!s.ok()) {
        VLOG(1) << "refused: " << s.message();
        proto::SequenceUpdate u;
        u.set_seq(start.seq());
        u.set_done(true);
        u.set_error_code(proto::ERROR_INVALID_ARGUMENT);
        u.set_error(std::string(s.message()));
        pending_.push_back(std::move(u));
      }
      break;
    }
    case proto::CoordinatorMessage::kCancel:
      // An unknown id is a cancel that crossed the sequence's last update.
      if (auto u = scheduler_.Cancel(message.cancel().seq())) pending_.push_back(*std::move(u));
      break;
    case proto::CoordinatorMessage::kShutdown:
      shutdown_reason_ = message.shutdown().reason();
      stop_ = true;
      break;
    default:
      LOG(WARNING) << "ignoring an unexpected coordinator message (kind " << message.kind_case() << ") while serving";
      break;
  }
}

absl::Status LeaderService::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  proto::WorkerMessage m;
  proto::SequenceUpdates* u = m.mutable_updates();
  u->set_group_id(options_.group_id);
  u->set_epoch(options_.epoch);
  for (proto::SequenceUpdate& x : pending_) *u->add_updates() = std::move(x);
  pending_.clear();
  return link_.Send(m);
}

void LeaderService::PublishHeartbeat() {
  proto::Heartbeat h;
  h.set_group_id(options_.group_id);
  h.set_epoch(options_.epoch);
  h.set_running(scheduler_.running());
  h.set_waiting(scheduler_.waiting());
  h.set_kv_blocks_free(scheduler_.free_blocks());
  h.set_steps(steps_);
  h.set_preemptions(scheduler_.preemptions());
  link_.SetHeartbeat(h);
}

absl::Status LeaderService::Broken(absl::Status s) {
  group_broken_ = true;
  return s;
}

absl::Status LeaderService::Run() {
  PublishHeartbeat();
  auto receive = [&](absl::Duration wait) -> absl::StatusOr<bool> {
    auto m = link_.Receive(wait);
    if (!m.ok()) return m.status();
    if (!m->has_value()) return false;
    Handle(**m);
    return true;
  };
  while (!stop_) {
    // Everything that arrived, without waiting, so a step sees every join
    // and cancel made before it.
    while (true) {
      auto got = receive(absl::ZeroDuration());
      if (!got.ok()) return got.status();
      if (!*got || stop_) break;
    }
    if (absl::Status s = Flush(); !s.ok()) return s;
    if (stop_) break;

    while (leader_.in_flight() < options_.limits.max_in_flight) {
      std::optional<proto::GroupStep> step = scheduler_.NextStep();
      if (!step.has_value()) break;
      if (auto id = leader_.Submit(*std::move(step)); !id.ok()) return Broken(id.status());
      ++steps_;
    }
    if (leader_.in_flight() > 0) {
      auto result = leader_.Collect();
      if (!result.ok()) return Broken(result.status());
      std::vector<proto::SequenceUpdate> updates = scheduler_.OnResult(*result);
      pending_.insert(pending_.end(), std::make_move_iterator(updates.begin()),
                      std::make_move_iterator(updates.end()));
      if (absl::Status s = Flush(); !s.ok()) return s;
      PublishHeartbeat();
      continue;
    }
    PublishHeartbeat();
    if (auto got = receive(options_.idle_wait); !got.ok()) return got.status();
  }
  // The coordinator no longer wants these steps' tokens; their answers only
  // have to be collected before the group stops.
  while (leader_.in_flight() > 0) {
    if (auto r = leader_.Collect(); !r.ok()) return Broken(r.status());
  }
  return absl::OkStatus();
}

}  // namespace tessera
