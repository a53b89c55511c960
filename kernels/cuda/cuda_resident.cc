#include "kernels/cuda/cuda_resident.h"

#include <cuda_runtime.h>

#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_memory.h"

namespace tessera::cuda {
namespace {

// Offsets in the allocation are aligned for vector loads and cuBLAS.
constexpr int64_t kAlign = 256;

class CudaResidentWeights final : public ResidentWeights {
 public:
  BackendBuffer storage;
};

// Assigns each distinct host range an offset in one device allocation.
class UploadPlan {
 public:
  // The offset `host` (of `bytes`) will have; an identical range seen before
  // gets its offset again.
  int64_t Place(const void* host, int64_t bytes) {
    auto [it, inserted] = offsets_.try_emplace(std::make_pair(host, bytes), total_);
    if (inserted) total_ += (bytes + kAlign - 1) / kAlign * kAlign;
    return it->second;
  }
  int64_t total() const { return total_; }
  const std::map<std::pair<const void*, int64_t>, int64_t>& ranges() const { return offsets_; }

 private:
  std::map<std::pair<const void*, int64_t>, int64_t> offsets_;
  int64_t total_ = 0;
};

// Device views of the weights once `base` holds the plan's bytes. The first
// pass (base == nullptr) only places the ranges.
class Placer {
 public:
  Placer(UploadPlan* plan, uint8_t* base) : plan_(plan), base_(base) {}

  MatrixView Matrix(const MatrixView& m) {
    MatrixView d = m;
    const int64_t bytes = m.rows * m.row_bytes;
    // An empty matrix keeps its shape but not the host address: a device
    // view must never hold a host pointer.
    d.data = nullptr;
    if (m.data == nullptr || bytes <= 0) return d;
    const int64_t offset = plan_->Place(m.data, bytes);
    d.data = base_ == nullptr ? nullptr : base_ + offset;
    return d;
  }
  const float* Vector(const std::vector<float>& v) {
    if (v.empty()) return nullptr;
    const int64_t offset = plan_->Place(v.data(), static_cast<int64_t>(v.size() * sizeof(float)));
    return base_ == nullptr ? nullptr : reinterpret_cast<const float*>(base_ + offset);
  }

 private:
  UploadPlan* plan_;
  uint8_t* base_;
};

void Bind(const ModelWeights& w, Placer& p, ResidentWeights& r) {
  r.token_embd = p.Matrix(w.token_embd);
  r.output_norm = p.Vector(w.output_norm);
  r.output = p.Matrix(w.output);
  r.rope_freqs = p.Vector(w.rope_freqs);
  r.layers.clear();
  r.layers.reserve(w.layers.size());
  for (const LayerWeights& l : w.layers) {
    ResidentLayer x;
    x.attn_norm = p.Vector(l.attn_norm);
    x.wq = p.Matrix(l.wq);
    x.wk = p.Matrix(l.wk);
    x.wv = p.Matrix(l.wv);
    x.wo = p.Matrix(l.wo);
    x.bq = p.Vector(l.bq);
    x.bk = p.Vector(l.bk);
    x.bv = p.Vector(l.bv);
    x.ffn_norm = p.Vector(l.ffn_norm);
    x.w_gate = p.Matrix(l.w_gate);
    x.w_up = p.Matrix(l.w_up);
    x.w_down = p.Matrix(l.w_down);
    r.layers.push_back(x);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ResidentWeights>> UploadWeights(const ModelWeights& weights, int device) {
  auto resident = std::make_unique<CudaResidentWeights>();
  UploadPlan plan;
  Placer sizing(&plan, nullptr);
  Bind(weights, sizing, *resident);
  if (plan.total() == 0) return resident;

  absl::StatusOr<BackendBuffer> storage = AllocateDevice(device, plan.total(), "the model weights");
  if (!storage.ok()) return storage.status();
  auto* base = static_cast<uint8_t*>(storage->get());
  // Load time: plain synchronous copies (from the file mapping) are fine.
  for (const auto& [range, offset] : plan.ranges()) {
    const cudaError_t e =
        cudaMemcpy(base + offset, range.first, static_cast<size_t>(range.second), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
      return absl::InternalError(absl::StrCat("uploading ", range.second, " bytes of weights to cuda:", device,
                                              ": ", CudaErrorText(e)));
    }
  }
  // A copy from pageable memory may return before its DMA lands, and the
  // ops that read the weights run on a non-blocking stream that does not
  // wait for the default stream: wait here.
  if (const cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess) {
    return absl::InternalError(absl::StrCat("uploading weights to cuda:", device, ": ", CudaErrorText(e)));
  }
  Placer placed(&plan, base);
  Bind(weights, placed, *resident);
  resident->device_bytes = plan.total();
  resident->storage = *std::move(storage);
  return resident;
}

}  // namespace tessera::cuda
