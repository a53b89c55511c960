// Element conversions around the cuBLAS products of MatMulEngine: f32
// activations to F16/BF16 for GemmEx, and Q8_0/Q4_0 weights to f32 panels for
// the SGEMM that quantized MatMul takes for many rows.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_convert.h"
#include "kernels/cuda/cuda_dequant.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 256;
// Grid-stride loops cover any n with at most this many CTAs.
constexpr int64_t kMaxCtas = 1 << 16;

unsigned GridFor(int64_t work_items, int64_t items_per_cta) {
  return static_cast<unsigned>(std::min<int64_t>((work_items + items_per_cta - 1) / items_per_cta, kMaxCtas));
}

template <typename Half>
__device__ __forceinline__ Half RoundTo(float v);
template <>
__device__ __forceinline__ __half RoundTo<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 RoundTo<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename Half>
__global__ void __launch_bounds__(kThreads) FloatToHalfKernel(const float* __restrict__ x, int64_t n,
                                                                Half* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    out[i] = RoundTo<Half>(x[i]);
  }
}

// One warp per 32-element block, lane k writing element k: the d load is a
// broadcast, the payload loads and the f32 stores are contiguous across the
// warp, and only one division (block -> row) per warp.
template <DType kType>
__global__ void __launch_bounds__(kThreads)
    DequantizeQuantKernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t row_blocks,
                          int64_t n_blocks, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kThreads / 32);
  for (int64_t block = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5); block < n_blocks;
       block += warps) {
    const int64_t r = block / row_blocks;
    const int64_t k = (block - r * row_blocks) * kQBlock + lane;
    out[block * kQBlock + lane] = LoadWeight(kType, w + r * row_bytes, k);
  }
}

}  // namespace

void LaunchFloatToHalf(DType type, const float* x, int64_t n, void* out, cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned grid = GridFor(n, kThreads);
  if (type == DType::kF16) {
    FloatToHalfKernel<<<grid, kThreads, 0, stream>>>(x, n, static_cast<__half*>(out));
  } else if (type == DType::kBF16) {
    FloatToHalfKernel<<<grid, kThreads, 0, stream>>>(x, n, static_cast<__nv_bfloat16*>(out));
  }
}

void LaunchDequantizeQuant(const MatrixView& w, float* out, cudaStream_t stream) {
  const int64_t row_blocks = w.cols / kQBlock;
  const int64_t n_blocks = w.rows * row_blocks;
  if (n_blocks <= 0) return;
  const unsigned grid = GridFor(n_blocks, kThreads / 32);
  if (w.type == DType::kQ8_0) {
    DequantizeQuantKernel<DType::kQ8_0><<<grid, kThreads, 0, stream>>>(w.data, w.row_bytes, row_blocks, n_blocks, out);
  } else if (w.type == DType::kQ4_0) {
    DequantizeQuantKernel<DType::kQ4_0><<<grid, kThreads, 0, stream>>>(w.data, w.row_bytes, row_blocks, n_blocks, out);
  }
}

}  // namespace tessera::cuda
