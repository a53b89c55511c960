// This rank's device profile for the partitioner: a short probe of the CPU
// (read bandwidth, FMA peak) and the memory it may use.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

struct ProbeOptions {
  int threads = 1;
  int local_ranks = 1;          // ranks sharing this machine's memory and cores
  bool oversubscribed = false;  // more ranks than cores: a probe would measure the neighbours
};

// Takes about 0.1-0.3 s. An oversubscribed rank is not probed; it reports a
// nominal, equal profile (and says so in its name) so every rank gets an
// equal share.
proto::DeviceProfile ProbeCpuDevice(const ProbeOptions& options);

// The profile of a rank that is not probed: this machine's memory share and
// nominal speeds (only ratios matter to the partitioner, so equal ranks get
// equal shares). `why` goes into its name.
proto::DeviceProfile NominalCpuProfile(int local_ranks, const std::string& why);

// The profile of GPU `ordinal` for a rank running on it (--device cuda:N):
// its name, the device memory the rank may plan to use (what is free now
// less a reserve for activations, cuBLAS and NCCL buffers: the larger of
// 1 GiB and 6% of the card), and its measured copy bandwidth and BF16 GEMM
// throughput. FailedPrecondition when this build or machine has no such GPU.
absl::StatusOr<proto::DeviceProfile> ProbeGpuDevice(int ordinal);

// The reserve ProbeGpuDevice keeps back from a GPU's free memory.
int64_t GpuMemoryReserve(int64_t total_bytes);

// The text of a profiles file (partition/device_profile.h parses it), or
// NotFound naming the path.
absl::StatusOr<std::string> ReadProfilesFile(const std::string& path);

// Bytes of memory this process may plan to use: MemAvailable from
// /proc/meminfo (physical pages if that cannot be read), split evenly among
// the ranks on this machine.
int64_t AvailableMemoryPerRank(int local_ranks);

}  // namespace tessera
