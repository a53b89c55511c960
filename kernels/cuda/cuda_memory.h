// Device memory as BackendBuffer handles: cudaMalloc with an actionable
// out-of-memory error, freed (on the right device) when the handle goes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace tessera::cuda {

// `bytes` > 0 of device memory on GPU `device` (which must be current).
// ResourceExhausted names `what`, the size and the free memory.
absl::StatusOr<BackendBuffer> AllocateDevice(int device, int64_t bytes, std::string_view what);

// "1.50 GiB" for messages.
std::string FormatBytes(int64_t bytes);

}  // namespace tessera::cuda
