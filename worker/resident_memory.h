// A rank's resident memory set against what its shard plan says it holds:
// the check that a rank really maps only its share of the weights.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "proto/shard_plan.pb.h"
#include "worker/group_layout.h"

namespace tessera {

// The value of a "Key:   N kB" line of a /proc file (/proc/self/status,
// /proc/meminfo), in bytes; 0 when the file or the key is missing.
int64_t ReadProcKibField(const char* path, const char* key);

// VmRSS of this process in bytes (0 when /proc cannot be read).
int64_t ResidentBytes();

// Collective over `group`: every rank's resident bytes, as a table (one line
// a rank: resident MiB, what it grew by since `baseline_bytes` (taken before
// the model was loaded: the runtime's own libraries and buffers), planned
// weight and KV MiB, growth / weights) for the leader to print. Every rank
// gets the same text.
absl::StatusOr<std::string> GatherResidentMemory(Communicator& group, const GroupLayout& layout,
                                                 const proto::ShardPlan& plan, int64_t baseline_bytes);

}  // namespace tessera
