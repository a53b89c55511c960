// Rotary position embedding, one block per row. The angles are computed in
// double exactly as RopeCosSin (kernels/cpu/reference_ops.cc) computes them
// and rounded to f32 once, and the rotation is done without fused
// multiply-adds as the scalar reference does, so an F32 model's rotated
// queries and keys match the CPU's and greedy decoding picks the same tokens.
#include <cmath>

#include "kernels/cuda/cuda_kernels.h"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 128;

// Dynamic shared memory: cos then sin of the row's rope_dims / 2 angles.
__global__ void RopeKernel(float* x, int64_t n_heads, int64_t head_dim, const int32_t* positions, float theta,
                           float linear_scale, bool neox, int64_t rope_dims, const float* freq_factors) {
  extern __shared__ float angles[];
  const int64_t half = rope_dims / 2;
  float* cos_v = angles;
  float* sin_v = angles + half;
  const double pos = static_cast<double>(positions[blockIdx.x]) / linear_scale;
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    const double exponent = -2.0 * static_cast<double>(i) / static_cast<double>(rope_dims);
    double angle = pos * pow(static_cast<double>(theta), exponent);
    if (freq_factors != nullptr) angle /= freq_factors[i];
    cos_v[i] = static_cast<float>(cos(angle));
    sin_v[i] = static_cast<float>(sin(angle));
  }
  __syncthreads();
  float* row = x + static_cast<int64_t>(blockIdx.x) * n_heads * head_dim;
  // Each (head, pair) is rotated by one thread, so the in-place update of its
  // two elements races with nothing.
  for (int64_t t = threadIdx.x; t < n_heads * half; t += blockDim.x) {
    const int64_t h = t / half;
    const int64_t i = t - h * half;
    float* head = row + h * head_dim;
    const int64_t i0 = neox ? i : 2 * i;
    const int64_t i1 = neox ? i + half : 2 * i + 1;
    const float x0 = head[i0];
    const float x1 = head[i1];
    head[i0] = __fsub_rn(__fmul_rn(x0, cos_v[i]), __fmul_rn(x1, sin_v[i]));
    head[i1] = __fadd_rn(__fmul_rn(x0, sin_v[i]), __fmul_rn(x1, cos_v[i]));
  }
}

}  // namespace

void LaunchRope(const Launch& l, float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim,
                const int32_t* positions, const RopeParams& p) {
  if (n_rows <= 0 || n_heads <= 0 || p.rope_dims < 2) return;
  const size_t shared = static_cast<size_t>(p.rope_dims / 2) * 2 * sizeof(float);
  RopeKernel<<<static_cast<unsigned>(n_rows), kThreads, shared, l.stream>>>(
      x, n_heads, head_dim, positions, p.theta, p.linear_scale, p.neox, p.rope_dims, p.freq_factors);
  l.errors->NoteLaunch("rope kernel");
}

}  // namespace tessera::cuda
