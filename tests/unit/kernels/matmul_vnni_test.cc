// The AVX-512 VNNI variant of the quantized GEMV (kAvx2VnniKernels) against
// the scalar reference, and bit for bit against the AVX2 kernel: both form
// exact integer block sums and share one scaling loop, so any difference is a
// bug. Block counts cover whole 8-block groups, tails, and both; quants cover
// the extremes (Q8_0 weights of -128, which files may hold though our
// quantizer never writes them, and activations of +-127). Also the ISA
// selection: names, parsing, fallback, and that kAvx2 still forces plain AVX2.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_kernels.h"
#include "model/half.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

bool HaveVnni() { return DetectCpuIsa() == CpuIsa::kAvx2Vnni; }

// Whole 8-block groups, tails, both. 88 blocks x 13 rows and 257 blocks x 5+
// rows exceed the 32 KiB stack copy of Q4_0's paired activation layout, so
// its plain-layout path runs too.
constexpr int64_t kBlockCounts[] = {1, 3, 7, 8, 9, 15, 16, 17, 33, 88, 257};
constexpr int64_t kRowCounts[] = {1, 2, 3, 5, 7, 13};

// Quantized activations made from raw quants. extreme: every quant is +-127.
struct Activations {
  std::vector<float> d;
  std::vector<int8_t> qs;
  std::vector<int32_t> sums;
  QuantizedRows q;
};

Activations MakeActivations(int64_t n_rows, int64_t blocks, uint32_t seed, bool extreme) {
  std::mt19937 rng(seed);
  Activations a;
  const size_t n = static_cast<size_t>(n_rows * blocks);
  a.d.resize(n);
  a.qs.resize(n * 32);
  a.sums.assign(n, 0);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  std::uniform_int_distribution<int> quant(-127, 127);
  for (size_t b = 0; b < n; ++b) {
    a.d[b] = scale(rng);
    for (size_t i = b * 32; i < b * 32 + 32; ++i) {
      a.qs[i] = static_cast<int8_t>(extreme ? (rng() & 1 ? 127 : -127) : quant(rng));
      a.sums[b] += a.qs[i];
    }
  }
  a.q = QuantizedRows{n_rows, blocks, a.d.data(), a.qs.data(), a.sums.data()};
  return a;
}

// Weights of raw random bytes behind valid scales. extreme: the largest
// weight magnitudes, every Q8_0 quant -128 and every Q4_0 nibble 0 (-8).
TestMatrix MakeRawMatrix(DType type, int64_t rows, int64_t blocks, uint32_t seed, bool extreme) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  const int64_t block_bytes = BlockBytes(type);
  TestMatrix m;
  m.bytes.resize(static_cast<size_t>(rows * blocks * block_bytes));
  for (int64_t b = 0; b < rows * blocks; ++b) {
    uint8_t* blk = m.bytes.data() + b * block_bytes;
    const uint16_t h = FloatToFp16(scale(rng));
    std::memcpy(blk, &h, 2);
    const uint8_t fill = type == DType::kQ8_0 ? 0x80 : 0x00;
    for (int64_t i = 2; i < block_bytes; ++i) blk[i] = extreme ? fill : static_cast<uint8_t>(rng());
  }
  m.view = MatrixView{type, m.bytes.data(), rows, blocks * 32, blocks * block_bytes};
  return m;
}

// y of `kernels` for all outputs, in two calls split at `split` (as the
// backend's threads split them).
std::vector<float> RunKernel(const CpuKernels& kernels, const MatrixView& w, const QuantizedRows& x,
                       int64_t split) {
  std::vector<float> y(static_cast<size_t>(x.n_rows * w.rows), NAN);
  kernels.matmul_quant(w, x, 0, split, y.data());
  kernels.matmul_quant(w, x, split, w.rows, y.data());
  return y;
}

// sum |d_w d_x q_w q_x| of output (r, o): scales the f32 tolerance.
double Magnitude(const TestMatrix& m, const QuantizedRows& x, int64_t r, int64_t o) {
  std::vector<float> wf(static_cast<size_t>(m.view.cols));
  DequantizeRow(m.view.type, m.view.data + o * m.view.row_bytes, m.view.cols, wf.data());
  double mag = 0.0;
  for (int64_t k = 0; k < m.view.cols; ++k) {
    const int64_t xb = r * x.blocks + k / 32;
    mag += std::fabs(static_cast<double>(wf[k]) * x.d[xb] * x.qs[r * x.blocks * 32 + k]);
  }
  return mag;
}

TEST(MatMulVnniTest, KernelMatchesReferenceAndAvx2BitForBit) {
  if (!HaveVnni()) GTEST_SKIP() << "no AVX512 VNNI/VL/BW";
  uint32_t seed = 100;
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    for (int64_t blocks : kBlockCounts) {
      for (int64_t n_rows : kRowCounts) {
        for (bool extreme : {false, true}) {
          const int64_t rows = 11;
          const TestMatrix m = MakeRawMatrix(type, rows, blocks, seed++, extreme);
          const Activations a = MakeActivations(n_rows, blocks, seed++, extreme);
          const std::vector<float> want = RunKernel(kReferenceKernels, m.view, a.q, 4);
          const std::vector<float> avx2 = RunKernel(kAvx2Kernels, m.view, a.q, 4);
          const std::vector<float> vnni = RunKernel(kAvx2VnniKernels, m.view, a.q, 5);
          for (int64_t r = 0; r < n_rows; ++r) {
            for (int64_t o = 0; o < rows; ++o) {
              const size_t i = static_cast<size_t>(r * rows + o);
              ASSERT_EQ(std::memcmp(&vnni[i], &avx2[i], sizeof(float)), 0)
                  << DTypeName(type) << " blocks=" << blocks << " n_rows=" << n_rows
                  << " extreme=" << extreme << " at " << i << ": " << vnni[i] << " vs " << avx2[i];
              ASSERT_NEAR(vnni[i], want[i], 1e-5 * Magnitude(m, a.q, r, o) + 1e-7)
                  << DTypeName(type) << " blocks=" << blocks << " n_rows=" << n_rows
                  << " extreme=" << extreme << " at " << i;
            }
          }
        }
      }
    }
  }
}

// Through the backend: float activations quantized by the backend, outputs
// spread over several threads (131 rows pass the parallel threshold).
TEST(MatMulVnniTest, BackendGemvEqualsAvx2AtEveryThreadCount) {
  if (!HaveVnni()) GTEST_SKIP() << "no AVX512 VNNI/VL/BW";
  constexpr int64_t kForceGemv = int64_t{1} << 40;
  uint32_t seed = 500;
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    for (int64_t blocks : {9, 17, 33}) {
      const int64_t rows = 131, cols = blocks * 32;
      const TestMatrix m = MakeMatrix(type, rows, cols, seed++);
      for (int64_t n_rows : kRowCounts) {
        const std::vector<float> x = RandomFloats(n_rows * cols, seed++);
        std::vector<float> want(static_cast<size_t>(n_rows * rows));
        MakeBackend({CpuIsa::kAvx2, 1}, kForceGemv)->MatMul(m.view, x.data(), n_rows, want.data());
        for (int threads : {1, 2, 3}) {
          auto backend = MakeBackend({CpuIsa::kAvx2Vnni, threads}, kForceGemv);
          ASSERT_EQ(backend->name(), "cpu-avx2-vnni");
          std::vector<float> y(want.size(), NAN);
          backend->MatMul(m.view, x.data(), n_rows, y.data());
          ASSERT_EQ(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)), 0)
              << DTypeName(type) << " blocks=" << blocks << " n_rows=" << n_rows
              << " threads=" << threads;
        }
      }
    }
  }
}

TEST(CpuIsaTest, NamesParseAndFallBack) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx2Vnni}) {
    EXPECT_EQ(ParseCpuIsa(CpuIsaName(isa)), isa);
  }
  EXPECT_EQ(CpuIsaName(CpuIsa::kAvx2Vnni), "avx2-vnni");
  EXPECT_EQ(ParseCpuIsa("avx512"), std::nullopt);
  const CpuIsa best = DetectCpuIsa();
  EXPECT_EQ(ResolveCpuIsa(std::nullopt), best);
  EXPECT_EQ(ResolveCpuIsa(CpuIsa::kScalar), CpuIsa::kScalar);
  // kAvx2 forces the plain AVX2 path even where VNNI is there.
  EXPECT_EQ(ResolveCpuIsa(CpuIsa::kAvx2), UsesAvx2(best) ? CpuIsa::kAvx2 : CpuIsa::kScalar);
  // kAvx2Vnni where the CPU lacks VNNI: the best it has.
  EXPECT_EQ(ResolveCpuIsa(CpuIsa::kAvx2Vnni), best);
  EXPECT_EQ(MakeBackend({CpuIsa::kAvx2Vnni, 1})->name(), "cpu-" + std::string(CpuIsaName(best)));
  if (UsesAvx2(best)) {
    EXPECT_EQ(MakeBackend({CpuIsa::kAvx2, 1})->name(), "cpu-avx2");
  }
  EXPECT_EQ(&KernelsFor(CpuIsa::kAvx2Vnni), &kAvx2VnniKernels);
  EXPECT_EQ(kAvx2VnniKernels.matmul_float, kAvx2Kernels.matmul_float);
}

}  // namespace
}  // namespace tessera::testing
