// Device profiles from a profiles file: what each rank of a group may use
// (memory) and how fast it is (compute, memory bandwidth). Pure: takes the
// file's text, never reads a file.
//
//   {"ranks": [ {"name": "H100", "memory_gib": 80, "compute_gflops": 400000,
//                "bandwidth_gbs": 3000}, ... ]}
//
// "memory_bytes" may replace "memory_gib". One entry applies to every rank.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

// n_ranks profiles in rank order, or InvalidArgument naming the entry and the
// field (missing, negative or zero, wrong type, unknown, wrong entry count).
absl::StatusOr<std::vector<proto::DeviceProfile>> ParseProfilesJson(std::string_view json,
                                                                    int n_ranks);

// The same format (memory in bytes), for writing a file ParseProfilesJson reads.
std::string ProfilesToJson(const std::vector<proto::DeviceProfile>& profiles);

}  // namespace tessera
