// The GPU plugin's entry points. The CUDA backend and the NCCL communicator
// link cuBLAS, cuBLASLt and NCCL, whose relocations alone cost a process
// about 160 MiB of resident memory at start; so they live in a shared module
// (libtessera_gpu.so) that the factory loads only when a rank asks for a GPU,
// and CPU ranks never map those libraries. The module is built from the same
// tree by the same compiler as its callers, so C++ types cross the boundary;
// the entry point's name carries the ABI version.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "comm/communicator.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace tessera {

struct GpuPluginApi {
  int (*device_count)();
  absl::StatusOr<CudaDeviceInfo> (*query_device)(int ordinal, bool measure);
  absl::StatusOr<std::unique_ptr<Backend>> (*make_backend)(const CudaBackendOptions& options);
  absl::StatusOr<std::unique_ptr<Communicator>> (*make_communicator)(std::unique_ptr<Communicator> bootstrap,
                                                                    int cuda_device, absl::Duration timeout);
};

// extern "C" const GpuPluginApi* tessera_gpu_plugin_v1();
inline constexpr char kGpuPluginEntry[] = "tessera_gpu_plugin_v1";

}  // namespace tessera
