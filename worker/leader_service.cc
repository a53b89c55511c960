#include "worker/leader_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "worker/rank_report.h"

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
  for (int s = 0; s < member.plan.pp(); ++s) {
    const proto::Range& layers = member.plan.ranks(s * member.plan.tp()).layers();
    o.stage_layers.push_back(layers.end() - layers.begin());
  }
  return o;
}

namespace {

// An idle group still refreshes its reports every this many report periods:
// its ranks' resident memory changes without steps (a soak watches it).
constexpr int kIdleRefreshPeriods = 10;

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
    case proto::CoordinatorMessage::kReshard:
      TakeUpReshard(message.reshard());
      break;
    default:
      LOG(WARNING) << "ignoring an unexpected coordinator message (kind " << message.kind_case() << ") while serving";
      break;
  }
}

void LeaderService::TakeUpReshard(const proto::Reshard& reshard) {
  if (reshard.group_id() != options_.group_id || reshard.epoch() <= options_.epoch) {
    LOG(WARNING) << "refusing a Reshard for group " << reshard.group_id() << " epoch " << reshard.epoch()
                 << " (this is group " << options_.group_id << " at epoch " << options_.epoch << ")";
    const std::string why = absl::StrCat("a Reshard for group ", reshard.group_id(), " epoch ", reshard.epoch(),
                                         " does not fit group ", options_.group_id, " at epoch ", options_.epoch);
    // The coordinator waits for the Reshard's own group id and epoch (any
    // other answer it drops, and the group would stay RESHARDING); a newer
    // epoch is adopted as a reshard that goes through adopts it.
    options_.epoch = std::max(options_.epoch, reshard.epoch());
    proto::WorkerMessage m;
    proto::Resharded* r = m.mutable_resharded();
    r->set_group_id(reshard.group_id());
    r->set_epoch(reshard.epoch());
    r->set_message(why);
    r->set_kv_blocks(options_.limits.kv_blocks);
    r->set_block_size(static_cast<int32_t>(options_.limits.block_size));
    PublishHeartbeat();
    if (absl::Status s = link_.Send(m); !s.ok()) LOG(WARNING) << "could not answer the Reshard: " << s;
    return;
  }
  // Whatever comes of it, the group serves under the new epoch: the
  // coordinator drops what the old one still says.
  options_.epoch = reshard.epoch();
  reshard_ = reshard;
  reshard_received_ = absl::Now();
  PublishHeartbeat();
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
  // After every step: the stages and ranks are rebuilt only when new
  // reports came (about once a report period).
  if (reports_changed_) {
    FillHeartbeatReports(reports_, options_.stage_layers, &heartbeat_);
    reports_changed_ = false;
  }
  heartbeat_.set_group_id(options_.group_id);
  heartbeat_.set_epoch(options_.epoch);
  heartbeat_.set_running(scheduler_.running());
  heartbeat_.set_waiting(scheduler_.waiting());
  heartbeat_.set_kv_blocks_free(scheduler_.free_blocks());
  heartbeat_.set_steps(steps_);
  heartbeat_.set_preemptions(preemptions());
  link_.SetHeartbeat(heartbeat_);
}

absl::Status LeaderService::Broken(absl::Status s) {
  group_broken_ = true;
  return s;
}

absl::Status LeaderService::Submit(proto::GroupStep step) {
  const absl::Time now = absl::Now();
  if (now - last_report_request_ >= options_.report_period) {
    step.set_collect_reports(true);
    last_report_request_ = now;
    reports_stale_ = false;
  } else {
    reports_stale_ = true;
  }
  if (auto id = leader_.Submit(std::move(step)); !id.ok()) return Broken(id.status());
  ++steps_;
  return absl::OkStatus();
}

void LeaderService::TakeReports(const proto::StepResult& result) {
  if (result.reports().empty()) return;
  reports_.assign(result.reports().begin(), result.reports().end());
  reported_ = true;
  reports_changed_ = true;
}

absl::Status LeaderService::CollectOne() {
  auto result = leader_.Collect();
  if (!result.ok()) return Broken(result.status());
  TakeReports(*result);
  std::vector<proto::SequenceUpdate> updates = scheduler_.OnResult(*result);
  pending_.insert(pending_.end(), std::make_move_iterator(updates.begin()), std::make_move_iterator(updates.end()));
  if (absl::Status s = Flush(); !s.ok()) return s;
  PublishHeartbeat();
  return absl::OkStatus();
}

absl::Status LeaderService::ReportWhileIdle() {
  // Not the scheduler's step, so it is run to its answer here, with nothing
  // else in flight, and never reaches OnResult.
  proto::GroupStep step;
  step.set_collect_reports(true);
  last_report_request_ = absl::Now();
  reports_stale_ = false;
  if (auto id = leader_.Submit(std::move(step)); !id.ok()) return Broken(id.status());
  auto result = leader_.Collect();
  if (!result.ok()) return Broken(result.status());
  TakeReports(*result);
  // A group that cannot report (no rank answers with reports) must not
  // spin: it counts as reported.
  reported_ = true;
  PublishHeartbeat();
  return absl::OkStatus();
}

absl::Status LeaderService::FinishReshard() {
  const proto::Reshard reshard = *std::move(reshard_);
  reshard_.reset();
  proto::WorkerMessage m;
  proto::Resharded* r = m.mutable_resharded();
  // TakeUpReshard checked both and adopted the epoch; the coordinator
  // matches its answer on them.
  r->set_group_id(reshard.group_id());
  r->set_epoch(reshard.epoch());
  const int sequences = scheduler_.running() + scheduler_.waiting();
  if (sequences > 0) {
    r->set_message(absl::StrCat(sequences, " sequence(s) still running: drain the group before a reshard"));
  } else if (!options_.reshard) {
    r->set_message("this worker was started without reshard support");
  } else {
    if (absl::Status s = leader_.SendReshard(reshard.plan()); !s.ok()) return Broken(s);
    auto outcome = options_.reshard(reshard.plan());
    if (!outcome.ok()) return Broken(outcome.status());
    r->set_ok(outcome->status.ok());
    r->set_message(std::string(outcome->status.message()));
    r->set_loaded_bytes(outcome->loaded_bytes);
    r->set_kept_bytes(outcome->kept_bytes);
    if (outcome->status.ok()) {
      // The ranks' KV caches are new (and empty): so is the bookkeeping.
      options_.limits.kv_blocks = outcome->kv_blocks;
      options_.limits.block_size = outcome->block_size;
      // The heartbeat's preemptions count since the start: the coordinator
      // keeps the absolute value, which must not go backwards.
      preemptions_before_ += scheduler_.preemptions();
      scheduler_ = BatchScheduler(options_.limits, options_.eos);
      options_.stage_layers.clear();
      for (int s = 0; s < reshard.plan().pp(); ++s) {
        const proto::Range& layers = reshard.plan().ranks(s * reshard.plan().tp()).layers();
        options_.stage_layers.push_back(layers.end() - layers.begin());
      }
      // Timings measured under the old layers mean nothing now.
      reports_.clear();
      reports_changed_ = true;
      reported_ = false;
      reports_stale_ = false;
      last_report_request_ = absl::InfinitePast();
    }
  }
  r->set_kv_blocks(options_.limits.kv_blocks);
  r->set_block_size(static_cast<int32_t>(options_.limits.block_size));
  r->set_seconds(absl::ToDoubleSeconds(absl::Now() - reshard_received_));
  LOG(INFO) << "group " << options_.group_id << " epoch " << options_.epoch << ": reshard "
            << (r->ok() ? "done" : absl::StrCat("refused or rolled back: ", r->message()));
  // The heartbeat first, so none with the old plan's timings follows the answer.
  PublishHeartbeat();
  return link_.Send(m);
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
    // and cancel made before it; but a Reshard taken up holds back what came
    // after it (no Start is admitted meanwhile).
    while (!reshard_.has_value()) {
      auto got = receive(absl::ZeroDuration());
      if (!got.ok()) return got.status();
      if (!*got || stop_) break;
    }
    if (absl::Status s = Flush(); !s.ok()) return s;
    if (stop_) break;

    if (reshard_.has_value()) {
      // No new step: the ones in flight are collected, then the switch.
      if (leader_.in_flight() > 0) {
        if (absl::Status s = CollectOne(); !s.ok()) return s;
        continue;
      }
      if (absl::Status s = FinishReshard(); !s.ok()) return s;
      continue;
    }

    while (leader_.in_flight() < options_.limits.max_in_flight) {
      std::optional<proto::GroupStep> step = scheduler_.NextStep();
      if (!step.has_value()) break;
      if (absl::Status s = Submit(*std::move(step)); !s.ok()) return s;
    }
    if (leader_.in_flight() > 0) {
      if (absl::Status s = CollectOne(); !s.ok()) return s;
      continue;
    }
    // Idle. Memory per rank shows for a group that has had no work too, and
    // the steps of a burst shorter than the report period are counted once
    // the period is up.
    absl::Duration wait = options_.idle_wait;
    if (reports_stale_) {
      const absl::Duration due = last_report_request_ + options_.report_period - absl::Now();
      if (due <= absl::ZeroDuration()) {
        if (absl::Status s = ReportWhileIdle(); !s.ok()) return s;
        continue;
      }
      wait = std::min(wait, due);
    }
    if (!reported_) {
      if (absl::Status s = ReportWhileIdle(); !s.ok()) return s;
      continue;
    }
    // A long idle group refreshes its reports now and then, so the resident
    // memory the coordinator shows stays current. At least idle_wait apart
    // (a report period may be zero), and a wait follows each, so a quiet
    // group never spins on report steps.
    const absl::Duration refresh = std::max(kIdleRefreshPeriods * options_.report_period, options_.idle_wait);
    const absl::Duration refresh_due = last_report_request_ + refresh - absl::Now();
    if (refresh_due <= absl::ZeroDuration()) {
      if (absl::Status s = ReportWhileIdle(); !s.ok()) return s;
    } else {
      wait = std::min(wait, refresh_due);
    }
    PublishHeartbeat();
    if (auto got = receive(wait); !got.ok()) return got.status();
  }
  // The coordinator no longer wants these steps' tokens; their answers only
  // have to be collected before the group stops.
  while (leader_.in_flight() > 0) {
    if (auto r = leader_.Collect(); !r.ok()) return Broken(r.status());
  }
  return absl::OkStatus();
}

}  // namespace tessera
