#include "kernels/factory/backend_factory.h"

#include <charconv>

#include "absl/strings/str_cat.h"

#include "kernels/factory/gpu_plugin_loader.h"

namespace tessera {

std::string DeviceSpec::ToString() const {
  return kind == Kind::kCpu ? std::string("cpu") : absl::StrCat("cuda:", ordinal);
}

absl::StatusOr<DeviceSpec> ParseDeviceSpec(std::string_view text) {
  DeviceSpec spec;
  if (text == "cpu") return spec;
  spec.kind = DeviceSpec::Kind::kCuda;
  if (text == "cuda") return spec;
  constexpr std::string_view kPrefix = "cuda:";
  if (text.substr(0, kPrefix.size()) == kPrefix && text.size() > kPrefix.size()) {
    const std::string_view digits = text.substr(kPrefix.size());
    const char* end = digits.data() + digits.size();
    auto [ptr, ec] = std::from_chars(digits.data(), end, spec.ordinal);
    if (ec == std::errc() && ptr == end && spec.ordinal >= 0) return spec;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", absl::string_view(text.data(), text.size()), "': expected cpu, cuda or cuda:N (N a GPU ordinal, 0, 1, ...)"));
}

bool BuildHasCuda() {
#ifdef TESSERA_GPU_PLUGIN_PATH
  return true;
#else
  return false;
#endif
}

namespace {

// The plugin, when GPU `ordinal` can be used by this build on this machine.
absl::StatusOr<const GpuPluginApi*> PluginFor(int ordinal) {
  const std::string what = DeviceSpec{DeviceSpec::Kind::kCuda, ordinal}.ToString();
  auto plugin = GpuPlugin();
  if (!plugin.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("device ", what, " needs the CUDA backend, but ",
                                                      plugin.status().message()));
  }
  const int visible = (*plugin)->device_count();
  if (ordinal < visible) return *plugin;
  return absl::FailedPreconditionError(absl::StrCat(
      "device ", what, " is not available: this process sees ", visible, " GPU", visible == 1 ? "" : "s",
      visible == 0 ? " (no driver or no device; check nvidia-smi and CUDA_VISIBLE_DEVICES)" : ""));
}

}  // namespace

absl::StatusOr<GpuSummary> ProbeGpu(int ordinal) {
  auto plugin = PluginFor(ordinal);
  if (!plugin.ok()) return plugin.status();
  auto info = (*plugin)->query_device(ordinal, /*measure=*/true);
  if (!info.ok()) return info.status();
  GpuSummary g;
  g.name = info->name;
  g.total_bytes = info->total_bytes;
  g.free_bytes = info->free_bytes;
  g.bandwidth = info->copy_bandwidth;
  g.flops = info->bf16_gemm_flops;
  return g;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const DeviceSpec& device, const CpuBackendOptions& cpu) {
  if (device.kind == DeviceSpec::Kind::kCpu) return MakeCpuBackend(cpu);
  auto plugin = PluginFor(device.ordinal);
  if (!plugin.ok()) return plugin.status();
  CudaBackendOptions options;
  options.device = device.ordinal;
  return (*plugin)->make_backend(options);
}

absl::StatusOr<std::unique_ptr<Communicator>> MakeGpuCommunicator(std::unique_ptr<Communicator> bootstrap,
                                                                 int ordinal, absl::Duration timeout) {
  auto plugin = PluginFor(ordinal);
  if (!plugin.ok()) return plugin.status();
  return (*plugin)->make_communicator(std::move(bootstrap), ordinal, timeout);
}

}  // namespace tessera
