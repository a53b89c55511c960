// CoordinatorCore, the admin side: status, plan preview and diff, drain and
// undrain, remove, and the live rebalance (drain -> Reshard -> Resharded).
//
// A rebalance or a remove takes the group out of routing at once (DRAINING)
// and waits for its running sequences; at the drain deadline whatever still
// runs moves to other groups as continuations (as when a group dies, so each
// token reaches its client once). Then a remove sends Shutdown and forgets
// the group; a rebalance sends Reshard under the next epoch (RESHARDING) and
// the group serves again when Resharded comes back: with the new plan, or,
// rolled back, with the old one.
#include <chrono>
#include <span>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "coordinator/admin_frames.h"
#include "coordinator/admin_text.h"
#include "coordinator/coordinator_core.h"
#include "coordinator/frames.h"
#include "glog/logging.h"
#include "partition/partitioner.h"
#include "partition/plan_spec.h"

namespace tessera {
namespace {

// RebalanceRequest.drain_timeout_ms at most: 24 h.
constexpr int64_t kMaxDrainTimeoutMs = int64_t{24} * 3600 * 1000;

int64_t Millis(SteadyTime::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

std::string GroupName(const Group& g) { return absl::StrCat("group ", g.id, " (", g.name, ")"); }

// The plan `spec` gives group `g`, or InvalidArgument with the
// partitioner's words.
absl::StatusOr<proto::ShardPlan> ProposedPlan(const ModelTensors& model, const Group& g,
                                              const proto::PlanSpec& spec) {
  const bool fixed = spec.layer_bounds_size() > 0 || spec.tp_shares_size() > 0;
  if (!fixed && !spec.auto_balance()) {
    return absl::InvalidArgumentError("the plan spec is empty: give layer bounds, tensor shares or auto");
  }
  if (fixed && spec.auto_balance()) {
    return absl::InvalidArgumentError("auto excludes layer bounds and tensor shares: give one or the other");
  }
  PlanSpecInput input;
  input.layer_bounds.assign(spec.layer_bounds().begin(), spec.layer_bounds().end());
  input.tp_shares.assign(spec.tp_shares().begin(), spec.tp_shares().end());
  input.auto_balance = spec.auto_balance();
  absl::StatusOr<proto::ShardPlan> plan =
      PlanFromSpec(model, g.plan, g.profiles, input, std::span<const proto::StageTiming>(g.stages));
  if (!plan.ok()) return absl::InvalidArgumentError(plan.status().message());
  return plan;
}

}  // namespace

void CoordinatorCore::OnAdminMessage(std::span<const std::string_view> frames, SteadyTime now) {
  if (frames.empty()) return;
  ClientEnvelope env;
  std::string error;
  if (!SplitClientFrames(frames, env, error)) {
    LOG(WARNING) << "admin " << PeerName(env.identity) << ": malformed message: " << error;
    MakeAdminError(proto::ERROR_MALFORMED, error, admin_reply_);
    outbox_.ToAdmin(env.identity, env.delimiter, admin_reply_);
    return;
  }
  const Peer from{env.identity, env.delimiter};
  if (shutting_down_) {
    // Every request gets an answer: this one says to try another time.
    MakeAdminError(proto::ERROR_UNAVAILABLE, "the coordinator is shutting down", admin_reply_);
    outbox_.ToAdmin(from.identity, from.delimiter, admin_reply_);
    return;
  }
  if (proto::ErrorCode code = ParseAdminRequest(env.payload, admin_request_, error);
      code != proto::ERROR_UNSPECIFIED) {
    LOG(WARNING) << "admin " << PeerName(env.identity) << ": " << error;
    MakeAdminError(code, error, admin_reply_);
    outbox_.ToAdmin(from.identity, from.delimiter, admin_reply_);
    return;
  }
  HandleAdmin(from, admin_request_, now);
  Settle(now);
}

void CoordinatorCore::HandleAdmin(const Peer& from, const proto::AdminRequest& request, SteadyTime now) {
  if (request.kind_case() != proto::AdminRequest::kStatus) {
    LOG(INFO) << "admin " << PeerName(from.identity) << ": " << AdminRequestName(request);
  }
  switch (request.kind_case()) {
    case proto::AdminRequest::kStatus:
      admin_reply_.Clear();
      admin_reply_.set_version(proto::PROTOCOL_VERSION_1);
      *admin_reply_.mutable_status() = Status(now);
      break;
    case proto::AdminRequest::kPlanPreview:
      AdminPlan(request.plan_preview(), /*diff=*/false, admin_reply_);
      break;
    case proto::AdminRequest::kPlanDiff:
      AdminPlan(request.plan_diff(), /*diff=*/true, admin_reply_);
      break;
    case proto::AdminRequest::kRebalance:
      AdminRebalance(request.rebalance(), now, admin_reply_);
      break;
    case proto::AdminRequest::kDrain:
      AdminDrain(request.drain().group_id(), /*drain=*/true, admin_reply_);
      break;
    case proto::AdminRequest::kUndrain:
      AdminDrain(request.undrain().group_id(), /*drain=*/false, admin_reply_);
      break;
    case proto::AdminRequest::kRemove:
      AdminRemove(request.remove().group_id(), now, admin_reply_);
      break;
    default:
      MakeAdminError(proto::ERROR_MALFORMED, "no request", admin_reply_);  // ParseAdminRequest refuses it first
      break;
  }
  if (admin_reply_.has_error()) {
    LOG(INFO) << "admin " << PeerName(from.identity) << ": " << AdminRequestName(request) << " refused ("
              << proto::ErrorCode_Name(admin_reply_.error().code()) << "): " << admin_reply_.error().message();
  } else if (admin_reply_.has_result()) {
    LOG(INFO) << "admin " << PeerName(from.identity) << ": " << admin_reply_.result().message();
  }
  if (outbox_.ToAdmin(from.identity, from.delimiter, admin_reply_) != SendOutcome::kSent) {
    LOG(WARNING) << "admin " << PeerName(from.identity) << ": gone before its answer";
  }
}

Group* CoordinatorCore::AdminGroup(uint64_t id, proto::AdminReply& reply) {
  Group* g = groups_.Find(id);
  if (g == nullptr) {
    MakeAdminError(proto::ERROR_NOT_FOUND,
                   absl::StrCat("no group ", id, " (`tessera admin status` lists the groups)"), reply);
    return nullptr;
  }
  if (g->state == proto::GROUP_DEAD) {
    MakeAdminError(proto::ERROR_NOT_FOUND,
                   absl::StrCat(GroupName(*g), " is dead; a restarted job registers as a new group"), reply);
    return nullptr;
  }
  return g;
}

void CoordinatorCore::AdminPlan(const proto::PlanRequest& request, bool diff, proto::AdminReply& reply) {
  Group* g = AdminGroup(request.group_id(), reply);
  if (g == nullptr) return;
  absl::StatusOr<proto::ShardPlan> plan = ProposedPlan(tensors_, *g, request.spec());
  if (!plan.ok()) {
    MakeAdminError(proto::ERROR_INVALID_ARGUMENT, std::string(plan.status().message()), reply);
    return;
  }
  reply.Clear();
  reply.set_version(proto::PROTOCOL_VERSION_1);
  proto::PlanReport* report = reply.mutable_plan();
  report->set_group_id(g->id);
  *report->mutable_current() = g->plan;
  report->set_table(FormatPlan(*plan));
  if (diff) report->set_diff(DiffPlans(tensors_, g->plan, *plan));
  report->set_moved_bytes(MovedBytes(tensors_, g->plan, *plan));
  *report->mutable_proposed() = *std::move(plan);
}

void CoordinatorCore::AdminRebalance(const proto::RebalanceRequest& request, SteadyTime now,
                                     proto::AdminReply& reply) {
  Group* g = AdminGroup(request.group_id(), reply);
  if (g == nullptr) return;
  if (g->change) {
    MakeAdminError(proto::ERROR_UNAVAILABLE,
                   absl::StrCat(GroupName(*g), " is already being ",
                                g->change->kind == GroupChange::Kind::kRemove ? "removed" : "rebalanced",
                                "; one change at a time (`tessera admin status` shows how it goes)"),
                   reply);
    return;
  }
  if (g->state != proto::GROUP_READY && g->state != proto::GROUP_DRAINING) {
    MakeAdminError(proto::ERROR_UNAVAILABLE,
                   absl::StrCat(GroupName(*g), " is still loading its first plan; rebalance it once it is ready"),
                   reply);
    return;
  }
  // Bounded so that the deadline (now + the timeout, in nanoseconds) cannot
  // overflow; a day is far beyond any drain worth waiting for.
  if (request.drain_timeout_ms() < 0 || request.drain_timeout_ms() > kMaxDrainTimeoutMs) {
    MakeAdminError(proto::ERROR_INVALID_ARGUMENT,
                   absl::StrCat("drain_timeout_ms must be in [0, ", kMaxDrainTimeoutMs,
                                "] (0: the coordinator's default; at most 24 h), not ", request.drain_timeout_ms()),
                   reply);
    return;
  }
  absl::StatusOr<proto::ShardPlan> plan = ProposedPlan(tensors_, *g, request.spec());
  if (!plan.ok()) {
    MakeAdminError(proto::ERROR_INVALID_ARGUMENT, std::string(plan.status().message()), reply);
    return;
  }
  if (SameShards(*plan, g->plan)) {
    MakeAdminResult(g->id, absl::StrCat(GroupName(*g), " already serves this plan (", PlanLayersText(g->plan),
                                        "); nothing to change"),
                    reply);
    return;
  }
  const int64_t moved = MovedBytes(tensors_, g->plan, *plan);
  const absl::Duration timeout =
      request.drain_timeout_ms() > 0 ? absl::Milliseconds(request.drain_timeout_ms()) : options_.drain_timeout;
  GroupChange change;
  change.kind = GroupChange::Kind::kRebalance;
  change.plan = *std::move(plan);
  change.started = now;
  change.drain_deadline = now + absl::ToChronoNanoseconds(timeout);
  const std::string target = PlanLayersText(change.plan);
  g->change = std::move(change);
  g->state = proto::GROUP_DRAINING;
  const int32_t running = g->running;
  const uint64_t id = g->id;
  const std::string name = GroupName(*g);
  LOG(INFO) << name << ": rebalance to " << target << " (" << MiBText(moved) << " to load); draining " << running
            << " running requests";
  AdvanceChange(*g, now);
  g = groups_.Find(id);
  if (g == nullptr || g->state == proto::GROUP_DEAD) {
    MakeAdminError(proto::ERROR_UNAVAILABLE,
                   absl::StrCat(name, " died when told to reshard (its leader is gone); its requests run elsewhere"),
                   reply);
  } else if (g->state == proto::GROUP_RESHARDING) {
    MakeAdminResult(id, absl::StrCat(name, ": nothing running; resharding to ", target, " (", MiBText(moved),
                                     " to load)"),
                    reply);
  } else {
    MakeAdminResult(id, absl::StrCat("draining ", name, " for rebalance to ", target, ": ", running,
                                     " requests running; what still runs after ", absl::ToInt64Milliseconds(timeout),
                                     " ms moves to other groups"),
                    reply);
  }
}

void CoordinatorCore::AdminDrain(uint64_t group_id, bool drain, proto::AdminReply& reply) {
  Group* g = AdminGroup(group_id, reply);
  if (g == nullptr) return;
  const std::string name = GroupName(*g);
  if (drain) {
    if (g->change && g->change->kind == GroupChange::Kind::kRemove) {
      MakeAdminResult(g->id, absl::StrCat(name, " is being removed (draining already)"), reply);
      return;
    }
    if (g->admin_drained) {
      MakeAdminResult(g->id, absl::StrCat(name, " is drained already"), reply);
      return;
    }
    g->admin_drained = true;
    if (g->state == proto::GROUP_READY) g->state = proto::GROUP_DRAINING;
    MakeAdminResult(g->id, absl::StrCat(name, " drained: it takes no new requests; its ", g->running,
                                        " running ones finish there"),
                    reply);
    return;
  }
  if (g->change) {
    MakeAdminError(proto::ERROR_UNAVAILABLE,
                   absl::StrCat(name, " is being ",
                                g->change->kind == GroupChange::Kind::kRemove ? "removed" : "rebalanced",
                                "; undrain it after that"),
                   reply);
    return;
  }
  if (!g->admin_drained) {
    MakeAdminResult(g->id, absl::StrCat(name, " is not drained"), reply);
    return;
  }
  g->admin_drained = false;
  if (g->state == proto::GROUP_DRAINING) g->state = proto::GROUP_READY;
  MakeAdminResult(g->id, absl::StrCat(name, " undrained: it takes new requests again"), reply);
}

void CoordinatorCore::AdminRemove(uint64_t group_id, SteadyTime now, proto::AdminReply& reply) {
  Group* g = groups_.Find(group_id);
  if (g != nullptr && g->state == proto::GROUP_DEAD) {
    const std::string name = GroupName(*g);
    groups_.Remove(group_id);
    MakeAdminResult(group_id, absl::StrCat(name, " was dead; no longer listed"), reply);
    return;
  }
  g = AdminGroup(group_id, reply);
  if (g == nullptr) return;
  const std::string name = GroupName(*g);
  if (g->change && g->change->kind == GroupChange::Kind::kRemove) {
    MakeAdminResult(group_id, absl::StrCat(name, " is being removed already"), reply);
    return;
  }
  if (g->change) {
    // Removing wins over a rebalance: a group loading a new plan has nothing
    // running and is shut down at once.
    g->last_rebalance = "abandoned: the group was removed";
    ++g->rebalances_finished;
    g->change.reset();
  }
  GroupChange change;
  change.kind = GroupChange::Kind::kRemove;
  change.started = now;
  change.drain_deadline = now + absl::ToChronoNanoseconds(options_.drain_timeout);
  g->change = std::move(change);
  if (g->state != proto::GROUP_PLANNING) g->state = proto::GROUP_DRAINING;
  const int32_t running = g->running;
  AdvanceChange(*g, now);  // may remove it
  if (groups_.Find(group_id) == nullptr) {
    MakeAdminResult(group_id, absl::StrCat(name, " removed (nothing was running); its leader was told to shut down"),
                    reply);
    return;
  }
  MakeAdminResult(group_id, absl::StrCat("removing ", name, ": ", running, " requests running; what still runs after ",
                                         absl::ToInt64Milliseconds(options_.drain_timeout),
                                         " ms moves to other groups, then the group is shut down"),
                  reply);
}

void CoordinatorCore::AdvanceChanges(SteadyTime now) {
  const auto reshard_timeout = absl::ToChronoNanoseconds(options_.reshard_timeout);
  std::vector<uint64_t> due;        // stay unallocated in the common case
  std::vector<uint64_t> overdue;
  for (const auto& [id, g] : groups_.groups()) {
    if (!g->change) continue;
    if (g->change->phase == GroupChange::Phase::kDraining && (g->running == 0 || now >= g->change->drain_deadline)) {
      due.push_back(id);
    } else if (g->change->phase == GroupChange::Phase::kResharding &&
               now - g->change->reshard_sent >= reshard_timeout) {
      overdue.push_back(id);
    }
  }
  for (uint64_t id : due) {
    if (Group* g = groups_.Find(id)) AdvanceChange(*g, now);
  }
  for (uint64_t id : overdue) {
    Group* g = groups_.Find(id);
    if (g == nullptr || g->state == proto::GROUP_DEAD) continue;
    LOG(WARNING) << GroupName(*g) << ": no Resharded " << Millis(now - g->change->reshard_sent)
                 << " ms after Reshard; shutting it down";
    AbandonReshard(*g,
                   absl::StrCat("did not answer Reshard within ", absl::ToInt64Milliseconds(options_.reshard_timeout),
                                " ms"),
                   now);
  }
}

void CoordinatorCore::AdvanceChange(Group& g, SteadyTime now) {
  if (!g.change || g.change->phase != GroupChange::Phase::kDraining) return;
  if (g.running > 0 && now < g.change->drain_deadline) return;
  const bool rebalance = g.change->kind == GroupChange::Kind::kRebalance;
  if (g.running > 0) {
    LOG(WARNING) << GroupName(g) << ": " << g.running << " requests still running after "
                 << Millis(now - g.change->started) << " ms of draining; they go back to the queue as continuations";
    // A group that is rebalanced lives on: it must stop them. One that is
    // removed is shut down next, which stops everything.
    MoveSequencesOff(g, /*cancel_on_group=*/rebalance, now);
    if (g.state == proto::GROUP_DEAD) return;
  }
  if (!rebalance) {
    out_.Clear();
    out_.set_version(proto::PROTOCOL_VERSION_1);
    out_.mutable_shutdown()->set_reason("removed by `tessera admin remove`");
    if (outbox_.ToGroup(g.identity, out_) != SendOutcome::kSent) {
      LOG(WARNING) << GroupName(g) << ": could not send Shutdown (gone)";
    }
    LOG(INFO) << GroupName(g) << " removed after " << Millis(now - g.change->started) << " ms";
    groups_.Remove(g.id);  // `g` dangles from here
    return;
  }
  // The group's epoch moves on with the reshard. What it still sends about
  // a sequence moved off above (a token computed before the cancel landed,
  // the cancel's done) is dropped: under the old epoch for its epoch; under
  // the new one (acks the leader sends once it switched) because while the
  // group is RESHARDING its updates are not taken (HandleUpdates), and
  // afterwards because the sequence is no longer in flight (ApplyUpdate).
  ++g.epoch;
  g.state = proto::GROUP_RESHARDING;
  g.change->phase = GroupChange::Phase::kResharding;
  g.change->reshard_sent = now;
  out_.Clear();
  out_.set_version(proto::PROTOCOL_VERSION_1);
  proto::Reshard* r = out_.mutable_reshard();
  r->set_group_id(g.id);
  r->set_epoch(g.epoch);
  *r->mutable_plan() = g.change->plan;
  LOG(INFO) << GroupName(g) << ": drained after " << Millis(now - g.change->started) << " ms; Reshard to "
            << PlanLayersText(g.change->plan) << " under epoch " << g.epoch;
  SendToGroup(g, out_, now);
}

void CoordinatorCore::HandleResharded(Group& g, const proto::Resharded& r, SteadyTime now) {
  const bool awaited = g.change && g.change->kind == GroupChange::Kind::kRebalance &&
                       g.change->phase == GroupChange::Phase::kResharding;
  if (!awaited || r.group_id() != g.id) {
    LOG(WARNING) << GroupName(g) << ": Resharded for group " << r.group_id() << " epoch " << r.epoch()
                 << " while none is awaited (epoch " << g.epoch << "); dropped";
    return;
  }
  if (r.epoch() != g.epoch) {
    // The leader answers a Reshard with that Reshard's epoch, refusals
    // included: another epoch means it acted on something this coordinator
    // did not send, and which plan its ranks now hold is unknown.
    LOG(WARNING) << GroupName(g) << ": Resharded for epoch " << r.epoch() << " while epoch " << g.epoch
                 << " is awaited; shutting it down";
    AbandonReshard(g,
                   absl::StrCat("answered Reshard for epoch ", r.epoch(), " while epoch ", g.epoch,
                                " was awaited; its plan is unknown"),
                   now);
    return;
  }
  if (!r.ok()) {
    const std::string why = r.message().empty() ? std::string("the group gave no reason") : r.message();
    LOG(WARNING) << GroupName(g) << ": rebalance to " << PlanLayersText(g.change->plan) << " rolled back after "
                 << absl::StrFormat("%.1f", r.seconds()) << " s: " << why << "; serving "
                 << PlanLayersText(g.plan) << " under epoch " << g.epoch;
    EndRebalance(g, absl::StrCat("rolled back: ", why));
    return;
  }
  if (r.kv_blocks() <= 0 || r.block_size() <= 0 || r.kv_blocks() > kMaxReadyKvBlocks ||
      r.block_size() > kMaxReadyBlockSize) {
    LOG(WARNING) << GroupName(g) << ": Resharded with " << r.kv_blocks() << " KV blocks of " << r.block_size()
                 << " cannot serve; shutting it down";
    AbandonReshard(g,
                   absl::StrCat("Resharded with ", r.kv_blocks(), " KV blocks of ", r.block_size(),
                                " positions; it needs kv_blocks in [1, ", kMaxReadyKvBlocks, "] and block_size in [1, ",
                                kMaxReadyBlockSize, "]"),
                   now);
    return;
  }
  g.plan = std::move(g.change->plan);
  g.kv_blocks = r.kv_blocks();
  g.kv_blocks_free = r.kv_blocks();
  g.block_size = r.block_size();
  ++g.plan_generation;
  // Both measured under the old shards; the group's next reports bring new ones.
  g.stages.clear();
  g.ranks.clear();
  const std::string outcome = absl::StrFormat("switched to %s in %.1f s, loaded %s, kept %s", PlanLayersText(g.plan),
                                              r.seconds(), MiBText(r.loaded_bytes()), MiBText(r.kept_bytes()));
  LOG(INFO) << GroupName(g) << ": " << outcome << " (plan generation " << g.plan_generation << ", epoch " << g.epoch
            << ", " << g.kv_blocks << " KV blocks)";
  EndRebalance(g, outcome);
}

void CoordinatorCore::AbandonReshard(Group& g, const std::string& reason, SteadyTime now) {
  out_.Clear();
  out_.set_version(proto::PROTOCOL_VERSION_1);
  out_.mutable_shutdown()->set_reason(reason);
  if (outbox_.ToGroup(g.identity, out_) != SendOutcome::kSent) {
    LOG(WARNING) << GroupName(g) << ": could not send Shutdown (gone)";
  }
  MarkDead(g, reason, now);  // last_rebalance: "abandoned: the group died (<reason>)"
}

void CoordinatorCore::EndRebalance(Group& g, std::string outcome) {
  g.last_rebalance = std::move(outcome);
  ++g.rebalances_finished;
  g.change.reset();
  g.state = g.admin_drained ? proto::GROUP_DRAINING : proto::GROUP_READY;
}

}  // namespace tessera
