// The CPU backend's kernels, one table per instruction set. The scalar
// reference table (reference_*.cc) defines the semantics with plain loops; the
// AVX2 table (*_avx2.cc) must agree with it within the tolerances the tests
// state. Kernels work on a slice of their op (a range of outputs, one row, one
// attention task) so CpuBackend can spread an op over its thread pool with the
// same code for both tables.
//
// Files named *_avx2.cc are compiled with -mavx2 -mfma -mf16c, *_vnni.cc also
// with -mavx512f -mavx512bw -mavx512vl -mavx512vnni. To keep those
// instructions out of code a baseline machine may run, they define only
// functions of their own (no inline functions from shared headers such as
// model/half.h, no standard-library templates) and are reached only through
// the kernel tables or the avx2:: entry points after DetectCpuIsa() said the
// machine has them.
#pragma once

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/dtype.h"
#include "model/matrix_view.h"

namespace tessera {

// Activation rows quantized for the integer dot products of Q8_0/Q4_0 MatMul:
// block b of row r covers x[r][32b, 32b + 32) with x ~= d * qs, where
// d = amax / 127 and qs = round-to-nearest-even(x * (127 / amax)).
// Quantized MatMul always multiplies by these quantized activations, whichever
// path (integer GEMV or f32 GEMM) runs, so its result does not depend on n_rows.
struct QuantizedRows {
  int64_t n_rows = 0;
  int64_t blocks = 0;     // per row: cols / 32
  float* d = nullptr;     // n_rows * blocks scales
  int8_t* qs = nullptr;   // n_rows * blocks * 32 values
  int32_t* sums = nullptr;  // n_rows * blocks: sum of the block's qs (Q4_0's -8 offset)
};

struct CpuKernels {
  // Float weights (F32, F16, BF16): y[r * w.rows + o] = sum_k x[r * w.cols + k] *
  // W[o][k] for r < n_rows and o in [o_begin, o_end).
  void (*matmul_float)(const MatrixView& w, const float* x, int64_t n_rows, int64_t o_begin,
                       int64_t o_end, float* y);
  // Q8_0/Q4_0 weights: y[r * w.rows + o] = sum_b d_w * d_x * sum_i q_w * q_x
  // (q_w - 8 for Q4_0) for o in [o_begin, o_end).
  void (*matmul_quant)(const MatrixView& w, const QuantizedRows& x, int64_t o_begin,
                       int64_t o_end, float* y);
  // Quantizes rows [r_begin, r_end) of x (x.blocks * 32 columns) into `out`.
  void (*quantize_rows)(const float* x, int64_t r_begin, int64_t r_end, const QuantizedRows& out);
  // One row of `n` elements of `type` to f32; agrees bit for bit with
  // DequantizeRow of model/quant.h.
  void (*dequantize_row)(DType type, const uint8_t* src, int64_t n, float* dst);
  // One row: out = x / sqrt(mean(x^2) + eps) * weight.
  void (*rms_norm)(const float* x, const float* weight, int64_t dim, float eps, float* out);
  // One row of n_heads heads; `scratch` holds 2 * p.rope_dims floats.
  void (*rope_row)(float* x, int64_t n_heads, int64_t head_dim, int32_t position,
                   const RopeParams& p, float* scratch);
  // Query token `token`, all query heads of kv head `kv_head`. `scratch` holds
  // (n_heads / n_kv_heads) * (positions[token] + 1) floats.
  void (*attention_task)(const AttentionArgs& a, int64_t token, int64_t kv_head, float* scratch);
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out);
  void (*add)(float* x, const float* y, int64_t n);
  void (*softmax)(float* x, int64_t n);
};

extern const CpuKernels kReferenceKernels;
extern const CpuKernels kAvx2Kernels;
// kAvx2Kernels except matmul_quant, which uses AVX-512 VNNI (bit-identical).
extern const CpuKernels kAvx2VnniKernels;

// The table of `isa` (kAvx2Vnni: kAvx2VnniKernels, and so on).
const CpuKernels& KernelsFor(CpuIsa isa);

// cos and sin of the rope_dims / 2 rotation angles of `position`:
// angle_i = position / linear_scale * theta^(-2i / rope_dims) / freq_factors[i],
// evaluated in double. Shared by both tables so they rotate by the same angles.
void RopeCosSin(int32_t position, const RopeParams& p, float* cos_out, float* sin_out);

namespace avx2 {

// Blocked f32 GEMM for many rows (prefill): y = x * W^T for output panels
// [panel_begin, panel_end) of kGemmPanel features each. Weights of any type
// are converted to f32 one panel x K-block at a time; quantized weights take
// activations already rounded through QuantizedRows (see above) in `x`.
inline constexpr int64_t kGemmPanel = 16;
void Gemm(const MatrixView& w, const float* x, int64_t n_rows, int64_t panel_begin,
          int64_t panel_end, float* y);

// Row conversions, exposed for the tests (bit-exact against model/half.h and
// model/quant.h).
void F16ToF32(const uint16_t* src, int64_t n, float* dst);
void Bf16ToF32(const uint16_t* src, int64_t n, float* dst);
// x[r] = d * qs for rows [r_begin, r_end): the f32 activations the GEMM path of
// quantized MatMul multiplies by.
void DequantizeRows(const QuantizedRows& q, int64_t r_begin, int64_t r_end, float* x);

}  // namespace avx2

}  // namespace tessera
