// The table is plain data (no AVX2 instructions), so it lives in a baseline
// file; only calling through it needs AVX2.
#include "kernels/cpu/avx2_kernels.h"

namespace tessera {

namespace {

// The two AVX2 tables differ only in the quantized GEMV.
constexpr CpuKernels Avx2Table(decltype(CpuKernels::matmul_quant) matmul_quant) {
  return {
      .matmul_float = Avx2MatMulFloat,
      .matmul_quant = matmul_quant,
      .quantize_rows = Avx2QuantizeRows,
      .dequantize_row = Avx2DequantizeRow,
      .rms_norm = Avx2RmsNorm,
      .rope_row = Avx2RopeRow,
      .attention_task = Avx2AttentionTask,
      .silu_mul = Avx2SiluMul,
      .add = Avx2Add,
      .softmax = Avx2Softmax,
  };
}

}  // namespace

constinit const CpuKernels kAvx2Kernels = Avx2Table(Avx2MatMulQuant);
// The AVX2 table with the VNNI integer dot products of quantized MatMul.
constinit const CpuKernels kAvx2VnniKernels = Avx2Table(Avx2VnniMatMulQuant);

}  // namespace tessera
