// MatMulEngine (cuda_matmul.h): picks the path for each weight type and row
// count, and owns the cuBLAS handle and the scratch buffers the paths share.
// Everything is queued on the engine's stream; failures go to the
// StickyError and the rest of the op is skipped (ops cannot return errors).
//
// cuBLAS is column-major. Row-major y (n_rows x w.rows) is column-major
// y^T (w.rows x n_rows, ldc = w.rows), row-major W is column-major W^T
// (w.cols x w.rows, lda = w.cols) and row-major x is x^T (ldb = w.cols), so
// y^T = op_T(W^T) * x^T: transa = T, transb = N, m = w.rows, n = n_rows,
// k = w.cols.
#include "kernels/cuda/cuda_matmul.h"

#include <algorithm>
#include <climits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_convert.h"
#include "kernels/cuda/cuda_quant.h"
#include "model/quant.h"

namespace tessera::cuda {
namespace {

static_assert(MatMulEngine::kQuantGemvMaxRows == kQuantGemvRows);

// cuBLAS's recommended workspace on Hopper. Set explicitly so that cuBLAS
// never allocates during a call (which a CUDA graph capture would reject).
constexpr int64_t kWorkspaceBytes = int64_t{32} << 20;
// Bound on the f32 panel of dequantized weights of the quantized GEMM path.
constexpr int64_t kPanelBytes = int64_t{64} << 20;
// Scratch sizes are rounded up to this, so that slowly growing requests do
// not reallocate on every call.
constexpr int64_t kScratchGranule = int64_t{2} << 20;

int64_t AlignUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

}  // namespace

absl::StatusOr<std::unique_ptr<MatMulEngine>> MatMulEngine::Create(cudaStream_t stream, StickyError* errors) {
  std::unique_ptr<MatMulEngine> engine(new MatMulEngine(stream, errors));
  cublasStatus_t s = cublasCreate(&engine->handle_);
  if (s != CUBLAS_STATUS_SUCCESS) {
    engine->handle_ = nullptr;
    return absl::FailedPreconditionError(absl::StrCat("cublasCreate: ", CublasStatusText(s)));
  }
  // cublasSetStream resets the workspace to cuBLAS's own pool, so the
  // workspace is set after it. Default math: SGEMM stays in full f32 (no
  // TF32), GemmEx on F16/BF16 may use the tensor cores.
  s = cublasSetStream(engine->handle_, stream);
  if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetMathMode(engine->handle_, CUBLAS_DEFAULT_MATH);
  if (s != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError(absl::StrCat("cuBLAS handle setup: ", CublasStatusText(s)));
  }
  void* workspace = nullptr;
  const cudaError_t e = cudaMalloc(&workspace, kWorkspaceBytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // not left for a later NoteLaunch to find
    const std::string text = absl::StrCat("cuBLAS workspace of ", kWorkspaceBytes, " bytes: ", CudaErrorText(e));
    return e == cudaErrorMemoryAllocation ? absl::ResourceExhaustedError(text) : absl::InternalError(text);
  }
  engine->scratch_[kSlotWorkspace] = workspace;
  engine->scratch_bytes_[kSlotWorkspace] = kWorkspaceBytes;
  s = cublasSetWorkspace(engine->handle_, workspace, static_cast<size_t>(kWorkspaceBytes));
  if (s != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError(absl::StrCat("cublasSetWorkspace: ", CublasStatusText(s)));
  }
  return engine;
}

MatMulEngine::~MatMulEngine() {
  // Queued products may still read the scratch buffers.
  (void)cudaStreamSynchronize(stream_);
  if (handle_ != nullptr) cublasDestroy(handle_);
  for (void* p : scratch_) {
    if (p != nullptr) cudaFree(p);
  }
}

void* MatMulEngine::Scratch(int slot, int64_t bytes) {
  if (bytes <= scratch_bytes_[slot]) return scratch_[slot];
  if (scratch_[slot] != nullptr) {
    // Ops queued before this one may still use the old buffer.
    if (!errors_->Note(cudaStreamSynchronize(stream_), "MatMul scratch: synchronize")) return nullptr;
    cudaFree(scratch_[slot]);
    scratch_[slot] = nullptr;
    scratch_bytes_[slot] = 0;
  }
  const int64_t size = AlignUp(bytes, kScratchGranule);
  void* p = nullptr;
  if (!errors_->Note(cudaMalloc(&p, static_cast<size_t>(size)), "MatMul scratch: cudaMalloc")) {
    (void)cudaGetLastError();  // noted once, not again by the next NoteLaunch
    return nullptr;
  }
  scratch_[slot] = p;
  scratch_bytes_[slot] = size;
  return p;
}

void MatMulEngine::MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y) {
  if (n_rows <= 0 || w.rows <= 0) return;
  if (n_rows > INT_MAX || w.rows > INT_MAX || w.cols > INT_MAX) {
    errors_->Note(cudaErrorInvalidValue, "MatMul: a dimension above 2^31 - 1");
    return;
  }
  if (w.cols == 0) {
    errors_->Note(cudaMemsetAsync(y, 0, static_cast<size_t>(n_rows * w.rows) * sizeof(float), stream_),
                  "MatMul: empty product");
    return;
  }
  switch (w.type) {
    case DType::kF32:
      return MatMulF32(w, x, n_rows, y);
    case DType::kF16:
    case DType::kBF16:
      return MatMulHalf(w, x, n_rows, y);
    case DType::kQ8_0:
    case DType::kQ4_0:
      return n_rows <= kQuantGemvMaxRows ? QuantGemv(w, x, n_rows, y) : QuantGemm(w, x, n_rows, y);
  }
}

void MatMulEngine::Sgemm(const float* w, int64_t w_rows, int64_t cols, const float* x, int64_t n_rows, float* y,
                         int64_t ldc) {
  const float one = 1.0f, zero = 0.0f;
  errors_->Note(cublasSgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w_rows), static_cast<int>(n_rows),
                            static_cast<int>(cols), &one, w, static_cast<int>(cols), x, static_cast<int>(cols),
                            &zero, y, static_cast<int>(ldc)),
                "MatMul: cublasSgemm");
}

void MatMulEngine::MatMulF32(const MatrixView& w, const float* x, int64_t n_rows, float* y) {
  Sgemm(reinterpret_cast<const float*>(w.data), w.rows, w.cols, x, n_rows, y, w.rows);
}

void MatMulEngine::MatMulHalf(const MatrixView& w, const float* x, int64_t n_rows, float* y) {
  const int64_t n = n_rows * w.cols;
  void* xh = Scratch(kSlotActivations, n * 2);
  if (xh == nullptr) return;
  LaunchFloatToHalf(w.type, x, n, xh, stream_);
  if (!errors_->NoteLaunch("MatMul: activations to f16/bf16")) return;
  const cudaDataType_t t = w.type == DType::kF16 ? CUDA_R_16F : CUDA_R_16BF;
  const int m = static_cast<int>(w.rows), k = static_cast<int>(w.cols);
  const float one = 1.0f, zero = 0.0f;
  errors_->Note(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, m, static_cast<int>(n_rows), k, &one, w.data, t, k,
                             xh, t, k, &zero, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "MatMul: cublasGemmEx");
}

void MatMulEngine::QuantGemv(const MatrixView& w, const float* x, int64_t n_rows, float* y) {
  // Scratch: n_rows * cols int8 values, then one f32 scale per block.
  const int64_t n_blocks = n_rows * (w.cols / kQBlock);
  const int64_t qs_bytes = AlignUp(n_rows * w.cols, 256);
  auto* scratch = static_cast<uint8_t*>(Scratch(kSlotActivations, qs_bytes + n_blocks * 4));
  if (scratch == nullptr) return;
  auto* qs = reinterpret_cast<int8_t*>(scratch);
  auto* d = reinterpret_cast<float*>(scratch + qs_bytes);
  LaunchQuantizeBlocks(x, n_blocks, qs, d, stream_);
  if (!errors_->NoteLaunch("MatMul: quantize activations")) return;
  LaunchQuantGemv(w, qs, d, n_rows, y, stream_);
  errors_->NoteLaunch("MatMul: quantized GEMV");
}

void MatMulEngine::QuantGemm(const MatrixView& w, const float* x, int64_t n_rows, float* y) {
  // The activations take the same Q8_0 rounding as on the GEMV path (so a
  // row's result does not depend on how many rows came with it), back in f32.
  const int64_t n = n_rows * w.cols;
  auto* xf = static_cast<float*>(Scratch(kSlotActivations, n * 4));
  if (xf == nullptr) return;
  LaunchQuantDequantBlocks(x, n / kQBlock, xf, stream_);
  if (!errors_->NoteLaunch("MatMul: round activations through Q8_0")) return;

  // W in panels of whole rows: each panel's product fills columns
  // [begin, begin + rows) of y (offset begin, ldc = w.rows). Panels are kept
  // a multiple of 128 rows where they can be, for the GEMM's tiles.
  int64_t panel = std::clamp<int64_t>(kPanelBytes / (w.cols * 4), 1, w.rows);
  if (panel >= 128 && panel < w.rows) panel = panel / 128 * 128;
  auto* wf = static_cast<float*>(Scratch(kSlotPanel, panel * w.cols * 4));
  if (wf == nullptr) return;
  for (int64_t begin = 0; begin < w.rows; begin += panel) {
    const int64_t rows = std::min(panel, w.rows - begin);
    LaunchDequantizeQuant(w.RowRange(begin, begin + rows), wf, stream_);
    if (!errors_->NoteLaunch("MatMul: dequantize weight panel")) return;
    Sgemm(wf, rows, w.cols, xf, n_rows, y + begin, w.rows);
  }
}

}  // namespace tessera::cuda
