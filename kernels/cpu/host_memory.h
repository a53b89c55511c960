// Host memory for the CPU backend's Allocate (kernels/backend.h): 64-byte
// aligned and left untouched, so pages are mapped only when first written.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace tessera {

// `bytes` of uninitialised host memory, aligned to 64 bytes, freed by the
// handle's deleter. Zero bytes gives an empty handle; a negative size is
// InvalidArgument; more than the machine's memory and swap, or a size malloc
// refuses, is ResourceExhausted (saying what was asked and what is free).
absl::StatusOr<BackendBuffer> AllocateHostMemory(int64_t bytes);

}  // namespace tessera
