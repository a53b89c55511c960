// Loads the GPU plugin (gpu_plugin_api.h) once per process, on first use.
#pragma once

#include "absl/status/statusor.h"
#include "kernels/factory/gpu_plugin_api.h"

namespace tessera {

// The plugin's entry points. It is looked for at $TESSERA_GPU_PLUGIN, else
// where this build put it. FailedPrecondition, with the path and dlerror(),
// when the build has no GPU backend or the module cannot be loaded. The
// module stays loaded for the life of the process: the backends and
// communicators it made run its code.
absl::StatusOr<const GpuPluginApi*> GpuPlugin();

}  // namespace tessera
