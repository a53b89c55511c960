// CudaBackend: one GPU, one non-blocking stream on which every op is queued;
// device errors are sticky and surface at CopyOut/Finish, and once one is
// noted the ops queue nothing more (see Enter). Matrix products go
// to MatMulEngine, the other ops to the launchers of cuda_kernels.h and
// cuda_attention.h.
#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/cuda_memory.h"
#include "kernels/cuda/cuda_resident.h"
#include "kernels/cuda/cuda_staging.h"

namespace tessera {
namespace {

using cuda::AttnGeometry;
using cuda::AttnSeq;
using cuda::CudaErrorText;

bool SameGeometry(const AttentionArgs& a, const AttentionArgs& b) {
  return a.n_heads == b.n_heads && a.n_kv_heads == b.n_kv_heads && a.head_dim == b.head_dim &&
         KvGroup(a) == KvGroup(b) && a.q_head_offset == b.q_head_offset && a.scale == b.scale;
}

class CudaBackend final : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<Backend>> Create(int device);
  ~CudaBackend() override;

  std::string_view name() const override { return name_; }
  int threads() const override { return 1; }
  bool SupportsMatMul(DType t) const override { return IsMatMulType(t); }
  bool host_memory() const override { return false; }

  absl::StatusOr<BackendBuffer> Allocate(int64_t bytes) override;
  void CopyIn(void* dst, const void* host_src, int64_t bytes) override;
  absl::Status CopyOut(void* host_dst, const void* src, int64_t bytes) override;
  void Copy(void* dst, const void* src, int64_t bytes) override;
  void Zero(void* dst, int64_t bytes) override;
  absl::Status Finish() override;
  absl::StatusOr<std::unique_ptr<ResidentWeights>> Resident(const ModelWeights& weights) override;

  void MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y) override;
  void MatMulShared(std::span<const MatrixView* const> ws, const float* x, int64_t n_rows,
                    std::span<float* const> ys) override;
  void Embedding(const MatrixView& table, const int32_t* tokens, int64_t n, int64_t id_offset,
                 float* out) override;
  void StoreKv(const float* k, const float* v, int64_t n_rows, int64_t row_floats, const int32_t* slots,
               float* k_store, float* v_store) override;
  void RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* out) override;
  void Rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
            const RopeParams& p) override;
  void Attention(const AttentionArgs& args) override { AttentionBatch(std::span<const AttentionArgs>(&args, 1)); }
  void AttentionBatch(std::span<const AttentionArgs> seqs) override;
  void SiluMul(const float* gate, const float* up, int64_t n, float* out) override;
  void Add(float* x, const float* y, int64_t n) override;
  void AddBias(float* x, const float* bias, int64_t n_rows, int64_t n) override;
  void Softmax(float* x, int64_t n) override;

 private:
  CudaBackend(int device, std::string name, int sm_count, cudaStream_t stream)
      : device_(device), name_(std::move(name)), sm_count_(sm_count), stream_(stream), staging_(&errors_) {}

  // Makes this GPU current: the worker may call from more than one thread
  // over its life, and the current device is per thread. False once an error
  // is noted, and the ops then queue nothing (fail-stop): after a failed
  // CopyIn or a skipped op, device buffers of tokens, positions, slots and
  // block tables may hold garbage, and a kernel taking garbage for indices
  // would read or write out of bounds, turning a reported error into a
  // corrupted context.
  //
  // Enter also drops a non-sticky error that other code left on this thread
  // (a failed cudaMalloc elsewhere): NoteLaunch reads cudaGetLastError and
  // would blame it on the next kernel. Every CUDA call of this backend notes
  // its own result, and a sticky fault returns from the next call anyway.
  bool Enter() {
    (void)cudaGetLastError();
    errors_.Note(cudaSetDevice(device_), "cudaSetDevice");
    return !errors_.failed();
  }
  cuda::Launch launch() { return cuda::Launch{stream_, &errors_}; }
  // One launch of AttentionBatch for sequences that share their geometry.
  void AttentionRun(std::span<const AttentionArgs> seqs);

  const int device_;
  const std::string name_;
  const int sm_count_;
  cuda::StickyError errors_;
  cudaStream_t stream_;
  cuda::PinnedStaging staging_;
  std::unique_ptr<cuda::MatMulEngine> engine_;
  // Attention descriptors: packed here, uploaded to attn_dev_.
  std::vector<uint8_t> attn_host_;
  void* attn_dev_ = nullptr;
  int64_t attn_dev_bytes_ = 0;
};

absl::StatusOr<std::unique_ptr<Backend>> CudaBackend::Create(int device) {
  const int visible = CudaDeviceCount();
  if (device < 0 || device >= visible) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda:", device, " is not available: this process sees ", visible, " GPU(s)"));
  }
  auto fail = [device](const char* what, cudaError_t e) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda:", device, " cannot be initialised: ", what, ": ", CudaErrorText(e)));
  };
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) return fail("cudaSetDevice", e);
  cudaDeviceProp prop{};
  if (cudaError_t e = cudaGetDeviceProperties(&prop, device); e != cudaSuccess) {
    return fail("cudaGetDeviceProperties", e);
  }
  cudaStream_t stream = nullptr;
  if (cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking); e != cudaSuccess) {
    return fail("cudaStreamCreate", e);
  }
  std::unique_ptr<CudaBackend> backend(
      new CudaBackend(device, absl::StrCat("cuda:", device, " ", prop.name), prop.multiProcessorCount, stream));
  absl::StatusOr<std::unique_ptr<cuda::MatMulEngine>> engine = cuda::MatMulEngine::Create(stream, &backend->errors_);
  if (!engine.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda:", device, " cannot be initialised: ", engine.status().message()));
  }
  backend->engine_ = *std::move(engine);
  return backend;
}

CudaBackend::~CudaBackend() {
  Enter();
  cudaStreamSynchronize(stream_);
  engine_.reset();
  cudaFree(attn_dev_);
  cudaStreamDestroy(stream_);
}

absl::StatusOr<BackendBuffer> CudaBackend::Allocate(int64_t bytes) {
  if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("Allocate of ", bytes, " bytes"));
  if (bytes == 0) return BackendBuffer(nullptr, [](void*) {});
  Enter();
  return cuda::AllocateDevice(device_, bytes, "a backend buffer");
}

void CudaBackend::CopyIn(void* dst, const void* host_src, int64_t bytes) {
  if (bytes <= 0) return;
  if (!Enter()) return;
  staging_.Upload(dst, host_src, bytes, stream_);
}

absl::Status CudaBackend::CopyOut(void* host_dst, const void* src, int64_t bytes) {
  if (Enter() && bytes > 0) {
    staging_.Download(host_dst, src, bytes, stream_);
  } else {
    errors_.Note(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  return errors_.status();
}

void CudaBackend::Copy(void* dst, const void* src, int64_t bytes) {
  if (bytes <= 0) return;
  if (!Enter()) return;
  errors_.Note(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, stream_),
               "cudaMemcpyAsync (device to device)");
}

void CudaBackend::Zero(void* dst, int64_t bytes) {
  if (bytes <= 0) return;
  if (!Enter()) return;
  errors_.Note(cudaMemsetAsync(dst, 0, static_cast<size_t>(bytes), stream_), "cudaMemsetAsync");
}

absl::Status CudaBackend::Finish() {
  Enter();
  errors_.Note(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  return errors_.status();
}

absl::StatusOr<std::unique_ptr<ResidentWeights>> CudaBackend::Resident(const ModelWeights& weights) {
  Enter();
  return cuda::UploadWeights(weights, device_);
}

void CudaBackend::MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y) {
  if (!Enter()) return;
  engine_->MatMul(w, x, n_rows, y);
}

void CudaBackend::MatMulShared(std::span<const MatrixView* const> ws, const float* x, int64_t n_rows,
                               std::span<float* const> ys) {
  if (!Enter()) return;
  for (size_t i = 0; i < ws.size(); ++i) engine_->MatMul(*ws[i], x, n_rows, ys[i]);
}

void CudaBackend::Embedding(const MatrixView& table, const int32_t* tokens, int64_t n, int64_t id_offset,
                            float* out) {
  if (!Enter()) return;
  cuda::LaunchEmbedding(launch(), table, tokens, n, id_offset, out);
}

void CudaBackend::StoreKv(const float* k, const float* v, int64_t n_rows, int64_t row_floats,
                          const int32_t* slots, float* k_store, float* v_store) {
  if (!Enter()) return;
  cuda::LaunchStoreKv(launch(), k, v, n_rows, row_floats, slots, k_store, v_store);
}

void CudaBackend::RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                          float* out) {
  if (!Enter()) return;
  cuda::LaunchRmsNorm(launch(), x, weight, n_rows, dim, eps, out);
}

void CudaBackend::Rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                       const RopeParams& p) {
  if (!Enter()) return;
  cuda::LaunchRope(launch(), x, n_rows, n_heads, head_dim, positions, p);
}

void CudaBackend::AttentionBatch(std::span<const AttentionArgs> seqs) {
  if (!Enter()) return;
  // Sequences of one step share their geometry (the same layer); a caller
  // that mixes geometries gets one launch per run of equal ones.
  size_t begin = 0;
  while (begin < seqs.size()) {
    size_t end = begin + 1;
    while (end < seqs.size() && SameGeometry(seqs[begin], seqs[end])) ++end;
    AttentionRun(seqs.subspan(begin, end - begin));
    begin = end;
  }
}

void CudaBackend::AttentionRun(std::span<const AttentionArgs> seqs) {
  const AttentionArgs& first = seqs.front();
  int64_t n_seqs = 0, n_tokens = 0;
  for (const AttentionArgs& a : seqs) {
    if (a.n_tokens <= 0) continue;
    ++n_seqs;
    n_tokens += a.n_tokens;
  }
  if (n_tokens == 0 || first.n_heads <= 0) return;

  // [AttnSeq x n_seqs][int32 token -> sequence x n_tokens]
  const int64_t map_offset = n_seqs * static_cast<int64_t>(sizeof(AttnSeq));
  const int64_t bytes = map_offset + n_tokens * static_cast<int64_t>(sizeof(int32_t));
  attn_host_.resize(static_cast<size_t>(bytes));
  auto* descs = reinterpret_cast<AttnSeq*>(attn_host_.data());
  auto* token_seq = reinterpret_cast<int32_t*>(attn_host_.data() + map_offset);
  int32_t s = 0;
  int64_t t = 0;
  for (const AttentionArgs& a : seqs) {
    if (a.n_tokens <= 0) continue;
    descs[s] = AttnSeq{a.q, a.out, a.positions, a.kv.k_store, a.kv.v_store, a.kv.block_ids, a.kv.block_size, t};
    for (int64_t i = 0; i < a.n_tokens; ++i) token_seq[t++] = s;
    ++s;
  }

  if (attn_dev_bytes_ < bytes) {
    // A queued launch may still read the old descriptors.
    errors_.Note(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    const int64_t want = std::max<int64_t>({bytes, 2 * attn_dev_bytes_, 16 << 10});
    cudaFree(attn_dev_);
    attn_dev_ = nullptr;
    attn_dev_bytes_ = 0;
    if (!errors_.Note(cudaMalloc(&attn_dev_, static_cast<size_t>(want)), "cudaMalloc (attention descriptors)")) {
      attn_dev_ = nullptr;
      return;
    }
    attn_dev_bytes_ = want;
  }
  // The kernel dereferences the uploaded pointers: never launch it over
  // descriptors that did not all arrive (fresh or stale device bytes).
  if (!staging_.Upload(attn_dev_, attn_host_.data(), bytes, stream_)) return;

  const AttnGeometry g{first.n_heads, first.n_kv_heads, first.head_dim, KvGroup(first), first.q_head_offset,
                       first.scale};
  const auto* dev = static_cast<uint8_t*>(attn_dev_);
  cuda::LaunchAttention(stream_, &errors_, reinterpret_cast<const AttnSeq*>(dev),
                        reinterpret_cast<const int32_t*>(dev + map_offset), n_tokens, g, sm_count_);
}

void CudaBackend::SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  if (!Enter()) return;
  cuda::LaunchSiluMul(launch(), gate, up, n, out);
}

void CudaBackend::Add(float* x, const float* y, int64_t n) {
  if (!Enter()) return;
  cuda::LaunchAdd(launch(), x, y, n);
}

void CudaBackend::AddBias(float* x, const float* bias, int64_t n_rows, int64_t n) {
  if (!Enter()) return;
  cuda::LaunchAddBias(launch(), x, bias, n_rows, n);
}

void CudaBackend::Softmax(float* x, int64_t n) {
  if (!Enter()) return;
  cuda::LaunchSoftmax(launch(), x, n);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options) {
  return CudaBackend::Create(options.device);
}

}  // namespace tessera
