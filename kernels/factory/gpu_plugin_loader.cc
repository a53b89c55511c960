#include "kernels/factory/gpu_plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

absl::StatusOr<const GpuPluginApi*> Load() {
#ifdef TESSERA_GPU_PLUGIN_PATH
  const char* env = std::getenv("TESSERA_GPU_PLUGIN");
  const std::string path = env != nullptr && *env != '\0' ? env : TESSERA_GPU_PLUGIN_PATH;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(absl::StrCat("the GPU backend module ", path, " could not be loaded: ",
                                                      why != nullptr ? why : "unknown error",
                                                      " (set TESSERA_GPU_PLUGIN to its path)"));
  }
  using Entry = const GpuPluginApi* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, kGpuPluginEntry));
  if (entry == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the GPU backend module ", path, " has no ", kGpuPluginEntry,
                     ": it was built from another version of tessera"));
  }
  return entry();
#else
  return absl::FailedPreconditionError(
      "this build has no GPU backend (nvcc was not found when it was configured, or it was configured with "
      "-DTESSERA_CUDA=OFF)");
#endif
}

}  // namespace

absl::StatusOr<const GpuPluginApi*> GpuPlugin() {
  // Loaded once; a failure is remembered too (the file will not appear).
  static const absl::StatusOr<const GpuPluginApi*> plugin = Load();
  return plugin;
}

}  // namespace tessera
