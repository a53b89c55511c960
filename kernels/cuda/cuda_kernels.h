// Launchers of the CUDA backend's own kernels (everything but the matrix
// products and attention), callable from host-compiled code. Each queues its
// kernel on `stream`, notes a launch failure in `errors`, and does nothing
// for empty shapes (a zero-sized grid is a launch error). The semantics are
// those of the ops of the same name in kernels/backend.h; every pointer is
// device memory.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_check.h"
#include "model/matrix_view.h"

namespace tessera::cuda {

// The launch context every launcher takes.
struct Launch {
  cudaStream_t stream;
  StickyError* errors;
};

void LaunchRmsNorm(const Launch& l, const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                   float* out);
void LaunchSoftmax(const Launch& l, float* x, int64_t n);
// p.freq_factors, when set, is device memory.
void LaunchRope(const Launch& l, float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim,
                const int32_t* positions, const RopeParams& p);
void LaunchSiluMul(const Launch& l, const float* gate, const float* up, int64_t n, float* out);
void LaunchAdd(const Launch& l, float* x, const float* y, int64_t n);
void LaunchAddBias(const Launch& l, float* x, const float* bias, int64_t n_rows, int64_t n);
void LaunchEmbedding(const Launch& l, const MatrixView& table, const int32_t* tokens, int64_t n, int64_t id_offset,
                     float* out);
void LaunchStoreKv(const Launch& l, const float* k, const float* v, int64_t n_rows, int64_t row_floats,
                   const int32_t* slots, float* k_store, float* v_store);

}  // namespace tessera::cuda
