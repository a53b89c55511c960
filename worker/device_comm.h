// A stage's tensor-parallel communicator on GPUs: when every tp rank of the
// stage runs on a GPU, its all-reduces move to NCCL (device memory, no trip
// through the host); a stage mixing CPU and GPU ranks keeps MPI, and its GPU
// ranks stage activations through the host (the executor does that for any
// communicator that does not take device memory).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "kernels/factory/backend_factory.h"
#include "worker/group_layout.h"

namespace tessera {

// Collective over comms.tp (a no-op without one). Replaces comms.tp by an
// NCCL communicator bootstrapped over it when every tp rank's device is a
// GPU and this build has NCCL; `how` gets a line for the logs saying which
// transport the stage uses and why. On error comms.tp may be gone: the
// group cannot run and the caller reports the error.
absl::Status PlaceTensorParallelComm(GroupComms& comms, const DeviceSpec& mine, absl::Duration timeout,
                                     std::string* how);

}  // namespace tessera
