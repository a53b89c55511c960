// Scalar reference element-wise and row ops (see cpu_kernels.h).
#include <cmath>

#include "kernels/cpu/reference_kernels.h"
#include "model/quant.h"

namespace tessera {

void RopeCosSin(int32_t position, const RopeParams& p, float* cos_out, float* sin_out) {
  const int64_t half = p.rope_dims / 2;
  const double pos = static_cast<double>(position) / p.linear_scale;
  for (int64_t i = 0; i < half; ++i) {
    double angle = pos * std::pow(static_cast<double>(p.theta),
                                  -2.0 * static_cast<double>(i) / static_cast<double>(p.rope_dims));
    if (p.freq_factors != nullptr) angle /= p.freq_factors[i];
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

void RefDequantizeRow(DType type, const uint8_t* src, int64_t n, float* dst) {
  DequantizeRow(type, src, n, dst);
}

void RefRmsNorm(const float* x, const float* weight, int64_t dim, float eps, float* out) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < dim; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(dim) + eps));
  for (int64_t i = 0; i < dim; ++i) out[i] = x[i] * scale * weight[i];
}

void RefRopeRow(float* x, int64_t n_heads, int64_t head_dim, int32_t position, const RopeParams& p,
                float* scratch) {
  const int64_t half = p.rope_dims / 2;
  float* c = scratch;
  float* s = scratch + half;
  RopeCosSin(position, p, c, s);
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      // Normal ordering rotates adjacent pairs, NeoX pairs i with i + half.
      const int64_t i0 = p.neox ? i : 2 * i;
      const int64_t i1 = p.neox ? i + half : 2 * i + 1;
      const float x0 = head[i0];
      const float x1 = head[i1];
      head[i0] = x0 * c[i] - x1 * s[i];
      head[i1] = x0 * s[i] + x1 * c[i];
    }
  }
}

void RefSiluMul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void RefAdd(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void RefSoftmax(float* x, int64_t n) {
  if (n <= 0) return;
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace tessera
