// Shared helpers of the kernels tests: random data, weight matrices in every
// type, and the list of backends to check.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "model/dtype.h"
#include "model/matrix_view.h"
#include "model/quant.h"

namespace tessera::testing {

inline std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = dist(rng);
  return v;
}

// A rows x cols matrix of `type` made from random floats, with its exact
// dequantized f32 values (what every kernel must multiply by).
struct TestMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> dequant;  // rows x cols
  MatrixView view;
};

inline TestMatrix MakeMatrix(DType type, int64_t rows, int64_t cols, uint32_t seed) {
  TestMatrix m;
  const int64_t row_bytes = RowBytes(type, cols).value();
  m.bytes.resize(static_cast<size_t>(rows * row_bytes));
  m.dequant.resize(static_cast<size_t>(rows * cols));
  const std::vector<float> src = RandomFloats(rows * cols, seed);
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(type, src.data() + r * cols, cols, m.bytes.data() + r * row_bytes);
    DequantizeRow(type, m.bytes.data() + r * row_bytes, cols, m.dequant.data() + r * cols);
  }
  m.view = MatrixView{type, m.bytes.data(), rows, cols, row_bytes};
  return m;
}

struct BackendCase {
  CpuIsa isa;
  int threads;
  std::string Name() const {
    return std::string(CpuIsaName(isa)) + "/" + std::to_string(threads) + "t";
  }
};

// Scalar always; AVX2 and AVX2 with VNNI only where the machine has them.
inline std::vector<BackendCase> BackendCases() {
  std::vector<BackendCase> cases;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx2Vnni}) {
    if (ResolveCpuIsa(isa) != isa) continue;
    for (int threads : {1, 2, 3}) cases.push_back({isa, threads});
  }
  return cases;
}

inline std::unique_ptr<Backend> MakeBackend(const BackendCase& c, int64_t gemm_min_rows = 0) {
  CpuBackendOptions options;
  options.threads = c.threads;
  options.isa = c.isa;
  options.gemm_min_rows = gemm_min_rows;
  return MakeCpuBackend(options);
}

}  // namespace tessera::testing
