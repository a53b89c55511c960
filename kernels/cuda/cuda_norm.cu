// Row reductions: RMS normalisation (one block per row) and the softmax of
// one vector (one block). Both accumulate their sums in double, as the
// scalar reference does (kernels/cpu/reference_ops.cc), so the GPU's
// normalised rows round the same way the CPU's do.
#include <cmath>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_reduce.cuh"

namespace tessera::cuda {
namespace {

constexpr int kNormThreads = 256;
constexpr int kSoftmaxThreads = 1024;

// out may alias x: each thread reads x[i] before writing out[i], for the
// same i, and the writes start after the reduction's barriers.
__global__ void RmsNormKernel(const float* x, const float* weight, int64_t dim, float eps, float* out) {
  __shared__ double scratch[32];
  const float* row = x + static_cast<int64_t>(blockIdx.x) * dim;
  float* dst = out + static_cast<int64_t>(blockIdx.x) * dim;
  double sum_sq = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum_sq += static_cast<double>(row[i]) * row[i];
  sum_sq = BlockSum(sum_sq, scratch);
  const float scale = static_cast<float>(1.0 / sqrt(sum_sq / static_cast<double>(dim) + eps));
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = row[i] * scale * weight[i];
}

// max, then exp(x - max) with its sum in double, then the scaling; each
// thread touches the same indices in every pass, so only the reductions need
// barriers.
__global__ void SoftmaxKernel(float* x, int64_t n) {
  __shared__ float max_scratch[32];
  __shared__ double sum_scratch[32];
  float max = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) max = fmaxf(max, x[i]);
  max = BlockMax(max, max_scratch);
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float e = expf(x[i] - max);
    x[i] = e;
    sum += e;
  }
  sum = BlockSum(sum, sum_scratch);
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) x[i] *= inv;
}

}  // namespace

void LaunchRmsNorm(const Launch& l, const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                   float* out) {
  if (n_rows <= 0 || dim <= 0) return;
  RmsNormKernel<<<static_cast<unsigned>(n_rows), kNormThreads, 0, l.stream>>>(x, weight, dim, eps, out);
  l.errors->NoteLaunch("rms_norm kernel");
}

void LaunchSoftmax(const Launch& l, float* x, int64_t n) {
  if (n <= 0) return;
  SoftmaxKernel<<<1, kSoftmaxThreads, 0, l.stream>>>(x, n);
  l.errors->NoteLaunch("softmax kernel");
}

}  // namespace tessera::cuda
