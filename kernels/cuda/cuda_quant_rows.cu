// Activation quantization of Q8_0/Q4_0 MatMul on the GPU. It must round
// exactly as the CPU backend does (RefQuantizeRows in
// kernels/cpu/reference_matmul.cc): a value one step off changes the product
// by d_x * |w|, far outside the tests' tolerance, and F32-accurate greedy
// decoding on quantized models relies on the CPU and GPU agreeing. Hence the
// explicitly IEEE-rounded division and product (__fdiv_rn, __fmul_rn: no
// fast-math approximation, no contraction) and __float2int_rn, which rounds
// half to even like nearbyint.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_quant.h"

namespace tessera::cuda {
namespace {

constexpr int kWarpsPerCta = 8;

// One warp per 32-value block, lane i holding value i. kRoundTrip writes
// d * q as f32 to xf instead of q and d.
template <bool kRoundTrip>
__global__ void __launch_bounds__(kWarpsPerCta * 32)
    QuantizeBlocksKernel(const float* __restrict__ x, int64_t n_blocks, int8_t* __restrict__ qs,
                         float* __restrict__ d, float* __restrict__ xf) {
  const int lane = threadIdx.x & 31;
  const int64_t block = static_cast<int64_t>(blockIdx.x) * kWarpsPerCta + (threadIdx.x >> 5);
  // The whole warp shares `block`, so it leaves (or stays) together and the
  // shuffles below see all 32 lanes.
  if (block >= n_blocks) return;
  const int64_t i = block * 32 + lane;
  const float v = x[i];
  float amax = fabsf(v);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  }
  const float id = amax > 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
  const float scale = __fdiv_rn(amax, 127.0f);
  const int q = __float2int_rn(__fmul_rn(v, id));
  if constexpr (kRoundTrip) {
    xf[i] = __fmul_rn(scale, static_cast<float>(q));
  } else {
    qs[i] = static_cast<int8_t>(q);
    if (lane == 0) d[block] = scale;
  }
}

unsigned GridFor(int64_t n_blocks) {
  return static_cast<unsigned>((n_blocks + kWarpsPerCta - 1) / kWarpsPerCta);
}

}  // namespace

void LaunchQuantizeBlocks(const float* x, int64_t n_blocks, int8_t* qs, float* d, cudaStream_t stream) {
  if (n_blocks <= 0) return;
  QuantizeBlocksKernel<false><<<GridFor(n_blocks), kWarpsPerCta * 32, 0, stream>>>(x, n_blocks, qs, d, nullptr);
}

void LaunchQuantDequantBlocks(const float* x, int64_t n_blocks, float* xf, cudaStream_t stream) {
  if (n_blocks <= 0) return;
  QuantizeBlocksKernel<true><<<GridFor(n_blocks), kWarpsPerCta * 32, 0, stream>>>(x, n_blocks, nullptr, nullptr, xf);
}

}  // namespace tessera::cuda
