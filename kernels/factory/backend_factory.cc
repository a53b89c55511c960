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
      absl::StrCat("unknown device '", absl::string_view(text.data(), text.size()), "': expected cpu, cuda or cuda:N (N a GPU ordinal, 0, 1, ...)"));
}

bool BuildHasCuda() {
#ifdef TESSERA_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

namespace {

// OK when GPU `ordinal` can be used by this build on this machine.
absl::Status CheckGpu(int ordinal) {
  const std::string what = DeviceSpec{DeviceSpec::Kind::kCuda, ordinal}.ToString();
#ifdef TESSERA_HAVE_CUDA
  const int visible = CudaDeviceCount();
  if (ordinal < visible) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "device ", what, " is not available: this process sees ", visible, " GPU", visible == 1 ? "" : "s",
      visible == 0 ? " (no driver or no device; check nvidia-smi and CUDA_VISIBLE_DEVICES)" : ""));
#else
  return absl::FailedPreconditionError(absl::StrCat(
      "device ", what, " needs the CUDA backend, but this build has none (nvcc was not found "
      "when it was configured, or it was configured with -DTESSERA_CUDA=OFF)"));
#endif
}

}  // namespace

absl::StatusOr<GpuSummary> ProbeGpu(int ordinal) {
  if (auto s = CheckGpu(ordinal); !s.ok()) return s;
#ifdef TESSERA_HAVE_CUDA
  auto info = QueryCudaDevice(ordinal, /*measure=*/true);
  if (!info.ok()) return info.status();
  GpuSummary g;
  g.name = info->name;
  g.total_bytes = info->total_bytes;
  g.free_bytes = info->free_bytes;
  g.bandwidth = info->copy_bandwidth;
  g.flops = info->bf16_gemm_flops;
  return g;
#else
  return absl::InternalError("unreachable: CheckGpu passed without CUDA");
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const DeviceSpec& device, const CpuBackendOptions& cpu) {
  if (device.kind == DeviceSpec::Kind::kCpu) return MakeCpuBackend(cpu);
  if (auto s = CheckGpu(device.ordinal); !s.ok()) return s;
#ifdef TESSERA_HAVE_CUDA
  CudaBackendOptions options;
  options.device = device.ordinal;
  return MakeCudaBackend(options);
#else
  return absl::InternalError("unreachable: CheckGpu passed without CUDA");
#endif
}

}  // namespace tessera
