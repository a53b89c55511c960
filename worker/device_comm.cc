#include "worker/device_comm.h"

#include <cstdint>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"


namespace tessera {

absl::Status PlaceTensorParallelComm(GroupComms& comms, const DeviceSpec& mine, absl::Duration timeout,
                                     std::string* how) {
  if (comms.tp == nullptr) {
    *how = "one rank a stage: no tensor-parallel communicator";
    return absl::OkStatus();
  }
  Communicator& tp = *comms.tp;
  // Each rank's GPU ordinal, or -1 for a CPU rank.
  const int32_t ordinal = mine.kind == DeviceSpec::Kind::kCuda ? mine.ordinal : -1;
  std::vector<int32_t> all(static_cast<size_t>(tp.size()));
  if (auto s = tp.AllGather(std::as_bytes(std::span<const int32_t>(&ordinal, 1)),
                            std::as_writable_bytes(std::span<int32_t>(all)), timeout);
      !s.ok()) {
    return s;
  }
  int cpu_ranks = 0;
  for (int32_t o : all) cpu_ranks += o < 0 ? 1 : 0;
  if (cpu_ranks > 0) {
    *how = cpu_ranks == tp.size()
               ? absl::StrCat(tp.name(), ": CPU ranks, all-reduce over ", tp.name())
               : absl::StrCat(tp.name(), ": ", cpu_ranks, " of ", tp.size(),
                              " ranks on the CPU, so the stage all-reduces over MPI (GPU ranks stage "
                              "activations through host memory)");
    return absl::OkStatus();
  }
  const std::string label = tp.label();
  const absl::Duration default_timeout = tp.default_timeout();
  auto nccl = MakeGpuCommunicator(std::move(comms.tp), mine.ordinal, timeout);
  if (!nccl.ok()) {
    return absl::Status(nccl.status().code(),
                        absl::StrCat("setting up NCCL for the stage's tensor-parallel all-reduce: ",
                                     nccl.status().message()));
  }
  comms.tp = *std::move(nccl);
  comms.tp->set_label(label);
  comms.tp->set_default_timeout(default_timeout);
  *how = absl::StrCat(comms.tp->name(), ": every rank on a GPU, all-reduce over NCCL");
  return absl::OkStatus();
}

}  // namespace tessera
