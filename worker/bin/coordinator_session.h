// tessera-worker's coordinator mode, on a group's leader: registers the group
// (the plan source of its startup), reports Ready or StartupFailed, then
// serves the coordinator's sequences (and reshards) until it says Shutdown.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "worker/group_startup.h"
#include "worker/zmq_leader_link.h"

namespace tessera {

struct CoordinatorArgs {
  std::string endpoint;  // --coordinator
  std::string name;      // --name; "" = host:pid
  int tp = 1, pp = 1;
  int group = 0, groups = 1;  // this group's index in the job, and how many the job holds
  int64_t kv_tokens = 0;      // asked for in Register; 0: the coordinator decides
  int max_sequences = 64;
  int64_t max_batch_tokens = 512;
  int64_t prefill_chunk = 256;
  int64_t heartbeat_ms = 1000;
  int64_t reshard_timeout_ms = 300000;  // how long ranks wait for each other's new shards in a reshard
  int64_t step_timeout_ms = 120000;  // --step-timeout-ms: GroupLeader::set_step_timeout
  bool show_plan = false;
};

class CoordinatorSession {
 public:
  explicit CoordinatorSession(const CoordinatorArgs& args);
  ~CoordinatorSession();

  // For GroupOptions::plan_source: registers and waits up to `wait` for the
  // plan. A link that could not be made fails here, so every rank hears why.
  GroupOptions::PlanSource MakePlanSource(absl::Duration wait);
  // Startup failed after a plan was assigned: tells the coordinator.
  void StartupFailed(const absl::Status& status);
  // Sends Ready and serves until Shutdown, then stops the group. Returns the
  // process's exit code; a broken group ends the job (AbortJob).
  int Serve(GroupMember& member);

 private:
  void Say(const std::string& line) const;

  CoordinatorArgs args_;
  std::string name_;
  absl::Status link_status_;
  std::unique_ptr<ZmqLeaderLink> link_;
  bool planned_ = false;
  uint64_t group_id_ = 0, epoch_ = 0;
};

}  // namespace tessera
