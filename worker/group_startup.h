// Bringing up one rank of a replica group: every rank loads the model file
// (mapped, nothing read yet), the ranks agree that all of them could, the
// leader gathers their device profiles, partitions the model (or asks the
// coordinator for a plan: GroupOptions::plan_source) and broadcasts
// the plan, and every rank slices its shard and sizes its KV cache. After
// each phase the whole group learns whether any rank failed, and why, so a
// bad path or a model too big for one rank stops every rank fast with the
// same message instead of leaving the others waiting.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "comm/communicator.h"
#include "kernels/backend.h"
#include "model/model.h"
#include "proto/shard_plan.pb.h"
#include "worker/executor.h"
#include "worker/group_layout.h"
#include "worker/kv_cache.h"
#include "worker/shard.h"
#include "worker/stage_runner.h"

namespace tessera {

struct GroupOptions {
  std::string model_path;
  int tp = 1, pp = 1;
  int threads = 1;             // CPU threads of each rank
  std::string isa;             // "" = best this CPU runs
  // This rank's device: "cpu" or "cuda:N" (kernels/factory/backend_factory.h).
  // A stage whose tp ranks are all on GPUs all-reduces over NCCL.
  std::string device = "cpu";
  std::string profiles_json;   // leader only: profiles of the group's ranks; "" = probe each rank
  std::string profiles_error;  // leader only: why the profiles file could not be read
  bool probe = true;           // measure this rank; false: nominal equal profiles (a profiles file overrides both)
  int local_ranks = 1;         // ranks on this machine (for the probe's memory share)
  bool oversubscribed = false;
  int64_t kv_tokens = 0;       // KV budget; 0 = the model's context length
  // How long a rank waits for the slowest one at each startup phase.
  absl::Duration startup_timeout = absl::Minutes(5);
  // Leader only: where the plan comes from, given the group's profiles (in
  // group rank order, after any profiles file). Empty: the leader partitions
  // the model itself. With a coordinator it registers and returns the plan
  // assigned (or why none was); it must answer within startup_timeout, which
  // the other ranks wait meanwhile. Its error reaches every rank.
  using PlanSource =
      std::function<absl::StatusOr<proto::ShardPlan>(const Model&, std::vector<proto::DeviceProfile>)>;
  PlanSource plan_source;
};

// Everything one rank runs with, in destruction-safe order.
struct GroupMember {
  GroupLayout layout;
  GroupComms comms;
  std::unique_ptr<Model> model;
  proto::ShardPlan plan;
  std::unique_ptr<Shard> shard;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<Executor> executor;
  std::unique_ptr<StageRunner> runner;
  // How the stage's tensor-parallel all-reduce travels (MPI, NCCL, through
  // the host), for the logs.
  std::string tp_transport;
};

// Collective over `world`: every rank calls it with the same options (the
// leader's profiles_json aside). Errors carry the failing rank and cause.
absl::StatusOr<std::unique_ptr<GroupMember>> StartGroupMember(Communicator& world, const GroupOptions& options);

// The largest KV budget a plan may ask for (positions): far beyond any real
// one, and small enough that counting its blocks cannot overflow.
inline constexpr int64_t kMaxKvTokens = int64_t{1} << 40;

// Blocks of `block_size` positions that hold `kv_tokens`. A budget outside
// [1, kMaxKvTokens] (a bad plan) is refused with InvalidArgument.
absl::StatusOr<int64_t> KvBlocksFor(int64_t kv_tokens, int64_t block_size);

// All-gathers each rank's status over `group`; returns the first failure as
// "group rank R (stage S, tp T) could not <what>: <message>" on every rank.
absl::Status AgreeOnStatus(Communicator& group, const GroupLayout& layout, const absl::Status& mine,
                           const std::string& what, absl::Duration timeout);

}  // namespace tessera
