// Half-float conversions, quantization round trips, the activation quantizer
// of quantized MatMul. (Embedding's dequantization: embedding_test.cc.)
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_kernels.h"
#include "model/half.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

bool HaveAvx2() { return UsesAvx2(DetectCpuIsa()); }

std::vector<uint16_t> AllHalfPatterns() {
  std::vector<uint16_t> v(65536);
  for (uint32_t i = 0; i < 65536; ++i) v[i] = static_cast<uint16_t>(i);
  return v;
}

TEST(ConversionTest, SimdF16ToF32IsBitExactForEveryPattern) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2";
  const std::vector<uint16_t> h = AllHalfPatterns();
  // An odd length exercises the scalar tail too.
  std::vector<float> got(h.size() - 1);
  avx2::F16ToF32(h.data(), static_cast<int64_t>(got.size()), got.data());
  for (size_t i = 0; i < got.size(); ++i) {
    const float want = Fp16ToFloat(h[i]);
    if (std::isnan(want)) {
      // Hardware conversion quiets signalling NaNs; NaN-ness and sign must hold.
      EXPECT_TRUE(std::isnan(got[i])) << i;
      EXPECT_EQ(std::signbit(got[i]), std::signbit(want)) << i;
    } else {
      EXPECT_EQ(FloatBits(got[i]), FloatBits(want)) << "half 0x" << std::hex << i;
    }
  }
}

TEST(ConversionTest, SimdBf16ToF32IsBitExactForEveryPattern) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2";
  const std::vector<uint16_t> h = AllHalfPatterns();
  std::vector<float> got(h.size() - 3);
  avx2::Bf16ToF32(h.data(), static_cast<int64_t>(got.size()), got.data());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(FloatBits(got[i]), FloatBits(Bf16ToFloat(h[i]))) << i;
}

TEST(ConversionTest, RepresentableValuesRoundTripExactly) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    const float f16 = Fp16ToFloat(h);
    if (!std::isnan(f16)) {
      EXPECT_EQ(FloatToFp16(f16), h) << "f16 0x" << std::hex << i;
    }
    const float bf = Bf16ToFloat(h);
    if (!std::isnan(bf)) {
      EXPECT_EQ(FloatToBf16(bf), h) << "bf16 0x" << std::hex << i;
    }
  }
}

// Q8_0: q = round(x / d) so |x - d q| <= d / 2, plus the error of storing d as
// fp16 (relative 2^-11) times |q| <= 127. Q4_0: the value opposite in sign to
// the block's extreme may clamp from 8 to 7 steps, so the bound is d.
TEST(ConversionTest, QuantizationRoundTripIsBoundedByTheBlockScale) {
  const int64_t n = 32 * 64;
  const std::vector<float> x = RandomFloats(n, 3, -3.0f, 3.0f);
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    std::vector<uint8_t> q(static_cast<size_t>(RowBytes(type, n).value()));
    std::vector<float> back(static_cast<size_t>(n));
    QuantizeRow(type, x.data(), n, q.data());
    DequantizeRow(type, q.data(), n, back.data());
    for (int64_t b = 0; b < n / 32; ++b) {
      uint16_t dh;
      std::memcpy(&dh, q.data() + b * BlockBytes(type), 2);
      const float d = std::fabs(Fp16ToFloat(dh));
      const float bound = type == DType::kQ8_0 ? d * (0.5f + 128 * 0x1p-11f) : d * (1 + 9 * 0x1p-11f);
      for (int64_t i = b * 32; i < b * 32 + 32; ++i) {
        EXPECT_LE(std::fabs(x[i] - back[i]), bound) << DTypeName(type) << " element " << i;
      }
    }
  }
}

QuantizedRows Alloc(int64_t n_rows, int64_t blocks, std::vector<float>* d, std::vector<int8_t>* qs,
                    std::vector<int32_t>* sums) {
  d->assign(static_cast<size_t>(n_rows * blocks), -1.0f);
  qs->assign(static_cast<size_t>(n_rows * blocks * 32), 99);
  sums->assign(static_cast<size_t>(n_rows * blocks), -1);
  return QuantizedRows{n_rows, blocks, d->data(), qs->data(), sums->data()};
}

TEST(ConversionTest, ActivationQuantizerBoundsAndAgreesAcrossIsas) {
  const int64_t n_rows = 5, blocks = 7;
  std::vector<float> x = RandomFloats(n_rows * blocks * 32, 9, -4.0f, 4.0f);
  for (int i = 0; i < 32; ++i) x[32 + i] = 0.0f;  // an all-zero block: d = 0, q = 0
  x[70] = 127.0f / 2;                             // exact halves: ties round to even
  std::vector<float> d_ref;
  std::vector<int8_t> qs_ref;
  std::vector<int32_t> sums_ref;
  const QuantizedRows ref = Alloc(n_rows, blocks, &d_ref, &qs_ref, &sums_ref);
  kReferenceKernels.quantize_rows(x.data(), 0, n_rows, ref);
  for (int64_t b = 0; b < n_rows * blocks; ++b) {
    int32_t sum = 0;
    for (int64_t i = b * 32; i < b * 32 + 32; ++i) {
      EXPECT_LE(std::fabs(x[i] - d_ref[b] * qs_ref[i]), d_ref[b] / 2 * (1 + 1e-6f)) << i;
      EXPECT_LE(std::abs(qs_ref[i]), 127);
      sum += qs_ref[i];
    }
    EXPECT_EQ(sums_ref[b], sum);
  }
  EXPECT_EQ(d_ref[1], 0.0f);
  if (!HaveAvx2()) return;
  std::vector<float> d;
  std::vector<int8_t> qs;
  std::vector<int32_t> sums;
  const QuantizedRows simd = Alloc(n_rows, blocks, &d, &qs, &sums);
  // Two calls over row ranges, as the backend splits them over threads.
  kAvx2Kernels.quantize_rows(x.data(), 0, 2, simd);
  kAvx2Kernels.quantize_rows(x.data(), 2, n_rows, simd);
  EXPECT_EQ(d, d_ref);
  EXPECT_EQ(qs, qs_ref);
  EXPECT_EQ(sums, sums_ref);
  std::vector<float> back(x.size());
  avx2::DequantizeRows(simd, 0, n_rows, back.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(back[i], d_ref[i / 32] * qs_ref[i]) << i;
}

}  // namespace
}  // namespace tessera::testing
