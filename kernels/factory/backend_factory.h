// Picks a rank's backend from its --device: "cpu" or "cuda:N" ("cuda" is
// "cuda:0").
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
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

// Whether this build has the CUDA backend (nvcc was found at configure time).
bool BuildHasCuda();

// The backend of `device`; `cpu` applies to the CPU backend only. A CUDA
// device in a build without CUDA, or one not visible here, is
// FailedPrecondition saying so.
absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const DeviceSpec& device, const CpuBackendOptions& cpu);

}  // namespace tessera
