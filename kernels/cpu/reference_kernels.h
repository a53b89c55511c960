// The scalar reference kernels (reference_*.cc), gathered in kReferenceKernels.
// See cpu_kernels.h for their contracts.
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_kernels.h"

namespace tessera {

void RefMatMulFloat(const MatrixView& w, const float* x, int64_t n_rows, int64_t o_begin,
                    int64_t o_end, float* y);
void RefMatMulQuant(const MatrixView& w, const QuantizedRows& x, int64_t o_begin, int64_t o_end,
                    float* y);
void RefQuantizeRows(const float* x, int64_t r_begin, int64_t r_end, const QuantizedRows& out);
void RefDequantizeRow(DType type, const uint8_t* src, int64_t n, float* dst);
void RefRmsNorm(const float* x, const float* weight, int64_t dim, float eps, float* out);
void RefRopeRow(float* x, int64_t n_heads, int64_t head_dim, int32_t position, const RopeParams& p,
                float* scratch);
void RefAttentionTask(const AttentionArgs& a, int64_t token, int64_t kv_head, float* scratch);
void RefSiluMul(const float* gate, const float* up, int64_t n, float* out);
void RefAdd(float* x, const float* y, int64_t n);
void RefSoftmax(float* x, int64_t n);

}  // namespace tessera
