// Picks a rank's backend from its --device: "cpu" or "cuda:N" ("cuda" is
// "cuda:0"). The GPU side (CUDA backend, NCCL) is a module loaded on first use
// (gpu_plugin_api.h), so CPU-only processes never map cuBLAS or NCCL.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "comm/communicator.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"

namespace tessera {

struct DeviceSpec {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int ordinal = 0;  // for kCuda
  std::string ToString() const;  // "cpu", "cuda:1"
};

// InvalidArgument naming the text and the accepted forms.
absl::StatusOr<DeviceSpec> ParseDeviceSpec(std::string_view text);

// Whether this build has the CUDA backend module (nvcc was found at
// configure time).
bool BuildHasCuda();

// What a GPU offers the partitioner.
struct GpuSummary {
  std::string name;          // "NVIDIA H100 80GB HBM3"
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;
  double bandwidth = 0.0;    // measured device copy bandwidth, bytes/s
  double flops = 0.0;        // measured dense BF16 GEMM throughput, FLOP/s
};

// Measures GPU `ordinal` (about half a second). FailedPrecondition as for
// MakeBackend when the build has no CUDA or the GPU is not visible.
absl::StatusOr<GpuSummary> ProbeGpu(int ordinal);

// The backend of `device`; `cpu` applies to the CPU backend only. A CUDA
// device in a build without CUDA, or one not visible here, is
// FailedPrecondition saying so.
absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const DeviceSpec& device, const CpuBackendOptions& cpu);

// An NCCL communicator over the ranks of `bootstrap` (collective over it;
// comm/nccl/nccl_communicator.h), each rank on its GPU `ordinal`.
// FailedPrecondition as for MakeBackend without the GPU backend or the GPU.
absl::StatusOr<std::unique_ptr<Communicator>> MakeGpuCommunicator(std::unique_ptr<Communicator> bootstrap,
                                                                 int ordinal, absl::Duration timeout);

}  // namespace tessera
