#include "kernels/factory/backend_factory.h"

#include <charconv>

#include "absl/strings/str_cat.h"

#ifdef TESSERA_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

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
      absl::StrCat("unknown device '", text, "': expected cpu, cuda or cuda:N (N a GPU ordinal, 0, 1, ...)"));
}

bool BuildHasCuda() {
#ifdef TESSERA_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const DeviceSpec& device, const CpuBackendOptions& cpu) {
  if (device.kind == DeviceSpec::Kind::kCpu) return MakeCpuBackend(cpu);
#ifdef TESSERA_HAVE_CUDA
  const int visible = CudaDeviceCount();
  if (device.ordinal >= visible) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device ", device.ToString(), " is not available: this process sees ", visible, " GPU",
        visible == 1 ? "" : "s", visible == 0 ? " (no driver or no device; check nvidia-smi and CUDA_VISIBLE_DEVICES)" : ""));
  }
  CudaBackendOptions options;
  options.device = device.ordinal;
  return MakeCudaBackend(options);
#else
  return absl::FailedPreconditionError(absl::StrCat(
      "device ", device.ToString(), " needs the CUDA backend, but this build has none (nvcc was not found "
      "when it was configured, or it was configured with -DTESSERA_CUDA=OFF)"));
#endif
}

}  // namespace tessera
