// The AVX2/FMA kernels (*_avx2.cc), gathered in kAvx2Kernels, and the VNNI
// variant (*_vnni.cc) of kAvx2VnniKernels. Call them only where
// DetectCpuIsa() returns an ISA that has them: UsesAvx2() for the first,
// CpuIsa::kAvx2Vnni for Avx2Vnni*. See cpu_kernels.h for contracts.
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_kernels.h"

namespace tessera {

void Avx2MatMulFloat(const MatrixView& w, const float* x, int64_t n_rows, int64_t o_begin,
                     int64_t o_end, float* y);
void Avx2MatMulQuant(const MatrixView& w, const QuantizedRows& x, int64_t o_begin, int64_t o_end,
                     float* y);
// Bit-identical to Avx2MatMulQuant, by AVX-512 VNNI dot products.
void Avx2VnniMatMulQuant(const MatrixView& w, const QuantizedRows& x, int64_t o_begin,
                         int64_t o_end, float* y);
void Avx2QuantizeRows(const float* x, int64_t r_begin, int64_t r_end, const QuantizedRows& out);
void Avx2DequantizeRow(DType type, const uint8_t* src, int64_t n, float* dst);
void Avx2RmsNorm(const float* x, const float* weight, int64_t dim, float eps, float* out);
void Avx2RopeRow(float* x, int64_t n_heads, int64_t head_dim, int32_t position, const RopeParams& p,
                 float* scratch);
void Avx2AttentionTask(const AttentionArgs& a, int64_t token, int64_t kv_head, float* scratch);
void Avx2SiluMul(const float* gate, const float* up, int64_t n, float* out);
void Avx2Add(float* x, const float* y, int64_t n);
void Avx2Softmax(float* x, int64_t n);

}  // namespace tessera
