// The AVX2 loops carry target attributes and run only after DetectCpuIsa()
// said the machine has AVX2 (UsesAvx2); the baseline (SSE2) loops serve other
// machines.
#include "kernels/cpu/machine_probe.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/thread_pool.h"

namespace tessera {
namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

__attribute__((target("avx2"))) float SumAvx2(const float* p, int64_t n) {
  __m256 a[8];
  for (__m256& v : a) v = _mm256_setzero_ps();
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    for (int j = 0; j < 8; ++j) a[j] = _mm256_add_ps(a[j], _mm256_load_ps(p + i + 8 * j));
  }
  for (int j = 1; j < 8; ++j) a[0] = _mm256_add_ps(a[0], a[j]);
  float out[8];
  _mm256_storeu_ps(out, a[0]);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

float SumSse2(const float* p, int64_t n) {
  __m128 a[8];
  for (__m128& v : a) v = _mm_setzero_ps();
  for (int64_t i = 0; i + 32 <= n; i += 32) {
    for (int j = 0; j < 8; ++j) a[j] = _mm_add_ps(a[j], _mm_load_ps(p + i + 4 * j));
  }
  for (int j = 1; j < 8; ++j) a[0] = _mm_add_ps(a[0], a[j]);
  float out[4];
  _mm_storeu_ps(out, a[0]);
  return out[0] + out[1] + out[2] + out[3];
}

// acc = acc * m + c converges to c / (1 - m), so the values stay normal.
__attribute__((target("avx2,fma"))) float FmaChainsAvx2(int64_t iterations) {
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
  __m256 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(static_cast<float>(j));
  for (int64_t i = 0; i < iterations; ++i) {
    for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(a[j], m, c);
  }
  for (int j = 1; j < 12; ++j) a[0] = _mm256_add_ps(a[0], a[j]);
  float out[8];
  _mm256_storeu_ps(out, a[0]);
  return out[0];
}

// Without FMA a multiply and an add make one "FMA lane" pair (2 FLOPs).
float FmaChainsSse2(int64_t iterations) {
  const __m128 m = _mm_set1_ps(0.999f), c = _mm_set1_ps(1e-3f);
  __m128 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm_set1_ps(static_cast<float>(j));
  for (int64_t i = 0; i < iterations; ++i) {
    for (int j = 0; j < 12; ++j) a[j] = _mm_add_ps(_mm_mul_ps(a[j], m), c);
  }
  for (int j = 1; j < 12; ++j) a[0] = _mm_add_ps(a[0], a[j]);
  return _mm_cvtss_f32(a[0]);
}

// Keeps results observable so the loops are not optimised away.
volatile float g_sink;

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(int threads, int64_t bytes)
    : threads_(threads), pool_(std::make_unique<ThreadPool>(threads)) {
  // Whole 256-byte steps per thread, so the unrolled loops read every byte.
  share_ = bytes / 4 / threads / 64 * 64;
  buf_ = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(share_ * threads) * 4));
  // Each thread touches the pages it will read (first-touch placement).
  pool_->Run([&](int t, int) {
    float* p = buf_ + t * share_;
    for (int64_t i = 0; i < share_; ++i) p[i] = static_cast<float>(i & 7);
  });
}

ReadBandwidthProbe::~ReadBandwidthProbe() { std::free(buf_); }

double ReadBandwidthProbe::Measure(int runs) {
  const bool avx2 = UsesAvx2(DetectCpuIsa());
  double best = 0.0;
  std::vector<float> sums(static_cast<size_t>(threads_));
  for (int run = 0; run < runs; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    pool_->Run([&](int t, int) {
      const float* p = buf_ + t * share_;
      sums[t] = avx2 ? SumAvx2(p, share_) : SumSse2(p, share_);
    });
    const auto t1 = std::chrono::steady_clock::now();
    best = std::max(best, static_cast<double>(share_ * threads_) * 4 / Seconds(t0, t1) / 1e9);
    for (float s : sums) g_sink = s;
  }
  return best;
}

double MeasureReadBandwidth(int threads, const ReadBandwidthOptions& options) {
  ReadBandwidthProbe probe(threads, options.bytes);
  return probe.Measure(options.runs);
}

double MeasureFmaPeak(int threads, const FmaPeakOptions& options) {
  const bool avx2 = UsesAvx2(DetectCpuIsa());
  ThreadPool pool(threads);
  std::vector<float> sums(static_cast<size_t>(threads));
  double best = 0.0;
  for (int run = 0; run < options.runs; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.Run([&](int t, int) {
      sums[t] = avx2 ? FmaChainsAvx2(options.iterations) : FmaChainsSse2(options.iterations);
    });
    const auto t1 = std::chrono::steady_clock::now();
    const double lanes = avx2 ? 8 : 4;
    const double flops = 2.0 * lanes * 12 * static_cast<double>(options.iterations) * threads;
    best = std::max(best, flops / Seconds(t0, t1) / 1e9);
    for (float s : sums) g_sink = s;
  }
  return best;
}

}  // namespace tessera
