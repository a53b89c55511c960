#include "kernels/cpu/reference_kernels.h"

namespace tessera {

constinit const CpuKernels kReferenceKernels = {
    .matmul_float = RefMatMulFloat,
    .matmul_quant = RefMatMulQuant,
    .quantize_rows = RefQuantizeRows,
    .dequantize_row = RefDequantizeRow,
    .rms_norm = RefRmsNorm,
    .rope_row = RefRopeRow,
    .attention_task = RefAttentionTask,
    .silu_mul = RefSiluMul,
    .add = RefAdd,
    .softmax = RefSoftmax,
};

}  // namespace tessera
