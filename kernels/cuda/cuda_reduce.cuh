// Warp and block reductions shared by the row kernels and attention. Every
// lane of a warp (and every thread of a block) must call them together; each
// gets the reduced value.
#pragma once

#include <cuda_runtime.h>

#include <cmath>

namespace tessera::cuda {

template <typename T>
__device__ __forceinline__ T WarpSum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// blockDim.x must be a multiple of 32 (at most 1024); `scratch` holds 32
// values. The leading barrier lets a block call reductions back to back with
// the same scratch: no warp overwrites it while another still reads the
// previous result.
__device__ __forceinline__ double BlockSum(double v, double* scratch) {
  const int lane = threadIdx.x & 31;
  v = WarpSum(v);
  __syncthreads();
  if (lane == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  return WarpSum(lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : 0.0);
}

__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  const int lane = threadIdx.x & 31;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  return WarpMax(lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : -INFINITY);
}

}  // namespace tessera::cuda
