// The body of libtessera_gpu.so (see gpu_plugin_api.h): the table of its
// entry points.
#include "comm/nccl/nccl_communicator.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/factory/gpu_plugin_api.h"

namespace {

const tessera::GpuPluginApi kApi = {
    &tessera::CudaDeviceCount,
    &tessera::QueryCudaDevice,
    &tessera::MakeCudaBackend,
    &tessera::MakeNcclCommunicator,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const tessera::GpuPluginApi* tessera_gpu_plugin_v1() {
  return &kApi;
}
