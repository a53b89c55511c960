// Element-wise and row-copy kernels: SiLU gating, residual adds, biases, the
// embedding lookup and the paged KV store. All memory-bound; each thread
// walks a grid-stride loop so any length fits one launch.
#include <cmath>

#include "kernels/cuda/cuda_dequant.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 256;

// Enough blocks to fill the GPU many times over; longer inputs loop.
unsigned GridFor(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < (int64_t{1} << 16) ? blocks : (int64_t{1} << 16));
}

__device__ __forceinline__ int64_t GlobalThread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t GridThreads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// out may alias gate: each element is read before it is written, by the
// same thread.
__global__ void SiluMulKernel(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = GlobalThread(); i < n; i += GridThreads()) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  for (int64_t i = GlobalThread(); i < n; i += GridThreads()) x[i] += y[i];
}

__global__ void AddBiasKernel(float* x, const float* bias, int64_t total, int64_t n) {
  for (int64_t i = GlobalThread(); i < total; i += GridThreads()) x[i] = bias[i % n] + x[i];
}

// One block per token: its row of the table decoded to f32, or zeros when
// the id is outside this rank's slice [id_offset, id_offset + rows).
__global__ void EmbeddingKernel(MatrixView table, const int32_t* tokens, int64_t id_offset, float* out) {
  const int64_t i = blockIdx.x;
  const int64_t id = static_cast<int64_t>(tokens[i]) - id_offset;
  float* dst = out + i * table.cols;
  if (id < 0 || id >= table.rows) {
    for (int64_t k = threadIdx.x; k < table.cols; k += blockDim.x) dst[k] = 0.0f;
    return;
  }
  const uint8_t* row = table.data + id * table.row_bytes;
  for (int64_t k = threadIdx.x; k < table.cols; k += blockDim.x) dst[k] = LoadWeight(table.type, row, k);
}

// One block per token row: its keys and values to row slots[i] of the stores.
__global__ void StoreKvKernel(const float* k, const float* v, int64_t row_floats, const int32_t* slots,
                              float* k_store, float* v_store) {
  const int64_t i = blockIdx.x;
  const int64_t dst = static_cast<int64_t>(slots[i]) * row_floats;
  const int64_t src = i * row_floats;
  for (int64_t c = threadIdx.x; c < row_floats; c += blockDim.x) {
    k_store[dst + c] = k[src + c];
    v_store[dst + c] = v[src + c];
  }
}

}  // namespace

void LaunchSiluMul(const Launch& l, const float* gate, const float* up, int64_t n, float* out) {
  if (n <= 0) return;
  SiluMulKernel<<<GridFor(n), kThreads, 0, l.stream>>>(gate, up, n, out);
  l.errors->NoteLaunch("silu_mul kernel");
}

void LaunchAdd(const Launch& l, float* x, const float* y, int64_t n) {
  if (n <= 0) return;
  AddKernel<<<GridFor(n), kThreads, 0, l.stream>>>(x, y, n);
  l.errors->NoteLaunch("add kernel");
}

void LaunchAddBias(const Launch& l, float* x, const float* bias, int64_t n_rows, int64_t n) {
  if (n_rows <= 0 || n <= 0) return;
  AddBiasKernel<<<GridFor(n_rows * n), kThreads, 0, l.stream>>>(x, bias, n_rows * n, n);
  l.errors->NoteLaunch("add_bias kernel");
}

void LaunchEmbedding(const Launch& l, const MatrixView& table, const int32_t* tokens, int64_t n, int64_t id_offset,
                     float* out) {
  if (n <= 0 || table.cols <= 0) return;
  EmbeddingKernel<<<static_cast<unsigned>(n), kThreads, 0, l.stream>>>(table, tokens, id_offset, out);
  l.errors->NoteLaunch("embedding kernel");
}

void LaunchStoreKv(const Launch& l, const float* k, const float* v, int64_t n_rows, int64_t row_floats,
                   const int32_t* slots, float* k_store, float* v_store) {
  if (n_rows <= 0 || row_floats <= 0) return;
  StoreKvKernel<<<static_cast<unsigned>(n_rows), kThreads, 0, l.stream>>>(k, v, row_floats, slots, k_store,
                                                                           v_store);
  l.errors->NoteLaunch("store_kv kernel");
}

}  // namespace tessera::cuda
