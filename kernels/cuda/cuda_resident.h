// Model weights uploaded to one GPU: every matrix and vector copied once
// into a single device allocation, so a model either fits whole or fails
// before anything is held.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/resident_weights.h"

namespace tessera::cuda {

// Uploads `weights` to GPU `device` (which must be current). Host ranges
// that are the same bytes (a tied token_embd/output) are uploaded once and
// shared. ResourceExhausted, holding nothing, when they do not fit.
absl::StatusOr<std::unique_ptr<ResidentWeights>> UploadWeights(const ModelWeights& weights, int device);

}  // namespace tessera::cuda
