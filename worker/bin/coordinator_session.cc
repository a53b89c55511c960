#include "worker/bin/coordinator_session.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "model/model_fingerprint.h"
#include "partition/partitioner.h"
#include "worker/bin/abort_job.h"
#include "worker/leader_service.h"
#include "worker/reshard.h"

namespace tessera {
namespace {

std::string HostAndPid() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown-host");
  return absl::StrCat(host, ":", static_cast<int64_t>(getpid()));
}

}  // namespace

CoordinatorSession::CoordinatorSession(const CoordinatorArgs& args) : args_(args) {
  name_ = args.name.empty() ? HostAndPid() : args.name;
  // One --name for a job of several groups: each group registers on its own.
  if (!args.name.empty() && args.groups > 1) absl::StrAppend(&name_, "/", args.group);
  ZmqLeaderLinkOptions o;
  o.endpoint = args.endpoint;
  o.heartbeat_period = absl::Milliseconds(args.heartbeat_ms);
  auto link = ZmqLeaderLink::Connect(o);
  if (link.ok()) {
    link_ = *std::move(link);
  } else {
    link_status_ = link.status();
  }
}

CoordinatorSession::~CoordinatorSession() = default;

void CoordinatorSession::Say(const std::string& line) const {
  std::fprintf(stderr, "tessera-worker: group %d: %s\n", args_.group, line.c_str());
  std::fflush(stderr);
}

GroupOptions::PlanSource CoordinatorSession::MakePlanSource(absl::Duration wait) {
  return [this, wait](const Model& model,
                      std::vector<proto::DeviceProfile> profiles) -> absl::StatusOr<proto::ShardPlan> {
    if (!link_status_.ok()) return link_status_;
    proto::Register reg;
    reg.set_name(name_);
    reg.mutable_model()->set_name(model.config.name);
    reg.mutable_model()->set_fingerprint(ModelFingerprint(model));
    reg.set_tp(args_.tp);
    reg.set_pp(args_.pp);
    for (proto::DeviceProfile& p : profiles) *reg.add_profiles() = std::move(p);
    reg.set_kv_tokens(args_.kv_tokens);
    Say(absl::StrCat("registering as ", name_, " (tp ", args_.tp, " x pp ", args_.pp, ") with ", args_.endpoint));
    auto assignment = RegisterGroup(*link_, reg, wait);
    if (!assignment.ok()) return assignment.status();
    planned_ = true;
    group_id_ = assignment->group_id();
    epoch_ = assignment->epoch();
    // Heartbeats flow from here on, so the coordinator sees the group alive
    // while its ranks load their shards.
    proto::Heartbeat h;
    h.set_group_id(group_id_);
    h.set_epoch(epoch_);
    link_->SetHeartbeat(h);
    Say(absl::StrCat("registered: group id ", group_id_, ", epoch ", epoch_, "; plan received (",
                     assignment->plan().kv_tokens(), " KV positions)"));
    if (args_.show_plan) std::fputs(FormatPlan(assignment->plan()).c_str(), stderr);
    return assignment->plan();
  };
}

void CoordinatorSession::StartupFailed(const absl::Status& status) {
  if (!planned_ || link_ == nullptr) return;
  proto::WorkerMessage m;
  m.mutable_failed()->set_group_id(group_id_);
  m.mutable_failed()->set_message(std::string(status.message()));
  if (absl::Status s = link_->Send(m); !s.ok()) Say(absl::StrCat("could not report the failure: ", s.ToString()));
}

int CoordinatorSession::Serve(GroupMember& m) {
  SchedulerLimits limits;
  limits.max_sequences = args_.max_sequences;
  limits.max_batch_tokens = args_.max_batch_tokens;
  limits.prefill_chunk = args_.prefill_chunk;
  LeaderServiceOptions o = ServiceOptionsFor(m, limits, group_id_, epoch_);
  o.report_period = absl::Milliseconds(args_.heartbeat_ms);
  o.reshard = [this, &m, faults = ReshardFaultsFromEnvironment()](
                  const proto::ShardPlan& plan) -> absl::StatusOr<ReshardOutcome> {
    Say("resharding: every rank loads its part of the new plan");
    auto outcome = ReshardMember(m, plan, absl::Milliseconds(args_.reshard_timeout_ms), faults);
    if (!outcome.ok()) return outcome;
    if (outcome->status.ok()) {
      Say(absl::StrFormat("resharded in %.2f s: %.1f MiB loaded, %.1f MiB kept, %d KV blocks", outcome->seconds,
                          outcome->loaded_bytes / 1048576.0, outcome->kept_bytes / 1048576.0, outcome->kv_blocks));
      if (args_.show_plan) std::fputs(FormatPlan(m.plan).c_str(), stderr);
    } else {
      Say(absl::StrCat("reshard rolled back, serving the old plan: ", std::string(outcome->status.message())));
    }
    return outcome;
  };
  GroupLeader leader(*m.runner, *m.comms.group);
  leader.set_step_timeout(absl::Milliseconds(args_.step_timeout_ms));
  auto stop = [&] {
    absl::Status s = leader.Stop();
    if (!s.ok()) AbortJob(absl::StrCat(m.layout.Describe(), ": stopping: ", s.ToString()));
  };
  if (absl::Status s = ValidateSchedulerLimits(o.limits); !s.ok()) {
    StartupFailed(s);
    Say(absl::StrCat("error: ", std::string(s.message())));
    stop();
    return 1;
  }

  proto::WorkerMessage ready;
  proto::Ready* r = ready.mutable_ready();
  r->set_group_id(group_id_);
  r->set_epoch(epoch_);
  r->set_kv_blocks(o.limits.kv_blocks);
  r->set_block_size(static_cast<int32_t>(o.limits.block_size));
  r->set_max_sequences(o.limits.max_sequences);
  r->set_max_batch_tokens(static_cast<int32_t>(o.limits.max_batch_tokens));
  if (absl::Status s = link_->Send(ready); !s.ok()) {
    Say(absl::StrCat("error: ", s.ToString()));
    stop();
    return 1;
  }
  Say(absl::StrCat("ready: ", o.limits.kv_blocks, " KV blocks of ", o.limits.block_size, " positions, up to ",
                   o.limits.max_sequences, " sequences and ", o.limits.max_batch_tokens, " tokens a step"));

  LeaderService service(leader, *link_, o);
  absl::Status s = service.Run();
  if (!s.ok()) {
    if (service.group_broken()) AbortJob(absl::StrCat(m.layout.Describe(), ": ", s.ToString()));
    Say(absl::StrCat("error: ", s.ToString()));
    stop();
    return 1;
  }
  Say(absl::StrCat("shutdown (", service.shutdown_reason().empty() ? "no reason given" : service.shutdown_reason(),
                   ") after ", service.steps(), " steps, ", service.scheduler().preemptions(), " preemptions"));
  stop();
  return 0;
}

}  // namespace tessera
