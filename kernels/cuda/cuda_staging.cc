#include "kernels/cuda/cuda_staging.h"

#include <algorithm>
#include <cstring>

namespace tessera::cuda {

PinnedStaging::~PinnedStaging() {
  for (Slot& s : slots_) {
    if (s.done != nullptr) {
      cudaEventSynchronize(s.done);
      cudaEventDestroy(s.done);
    }
    cudaFreeHost(s.host);
  }
  cudaFreeHost(out_);
}

bool PinnedStaging::Reserve(void** buf, int64_t* capacity, int64_t bytes) {
  if (*capacity >= bytes) return true;
  // Grow geometrically (from 64 KiB) so a run of slightly larger copies does
  // not reallocate each time.
  const int64_t want = std::min(kMaxChunk, std::max({bytes, int64_t{64} << 10, 2 * *capacity}));
  cudaFreeHost(*buf);
  *buf = nullptr;
  *capacity = 0;
  if (!errors_->Note(cudaMallocHost(buf, static_cast<size_t>(want)), "cudaMallocHost (staging)")) {
    *buf = nullptr;
    return false;
  }
  *capacity = want;
  return true;
}

bool PinnedStaging::Upload(void* dst, const void* src, int64_t bytes, cudaStream_t stream) {
  auto* d = static_cast<uint8_t*>(dst);
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t done = 0; done < bytes;) {
    const int64_t n = std::min(kMaxChunk, bytes - done);
    Slot& slot = slots_[next_];
    next_ = (next_ + 1) % kSlots;
    if (slot.pending) {
      errors_->Note(cudaEventSynchronize(slot.done), "waiting for a staging buffer");
      slot.pending = false;
    }
    if (slot.done == nullptr &&
        !errors_->Note(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming), "cudaEventCreate (staging)")) {
      slot.done = nullptr;
      return false;
    }
    if (!Reserve(&slot.host, &slot.capacity, n)) return false;
    std::memcpy(slot.host, s + done, static_cast<size_t>(n));
    const bool queued = errors_->Note(
        cudaMemcpyAsync(d + done, slot.host, static_cast<size_t>(n), cudaMemcpyHostToDevice, stream),
        "cudaMemcpyAsync (host to device)");
    slot.pending = errors_->Note(cudaEventRecord(slot.done, stream), "cudaEventRecord (staging)");
    if (!queued) return false;
    done += n;
  }
  return true;
}

void PinnedStaging::Download(void* dst, const void* src, int64_t bytes, cudaStream_t stream) {
  auto* d = static_cast<uint8_t*>(dst);
  const auto* s = static_cast<const uint8_t*>(src);
  if (!Reserve(&out_, &out_capacity_, std::min(kMaxChunk, bytes))) return;
  for (int64_t done = 0; done < bytes;) {
    const int64_t n = std::min(out_capacity_, bytes - done);
    if (!errors_->Note(cudaMemcpyAsync(out_, s + done, static_cast<size_t>(n), cudaMemcpyDeviceToHost, stream),
                       "cudaMemcpyAsync (device to host)") ||
        !errors_->Note(cudaStreamSynchronize(stream), "cudaStreamSynchronize")) {
      return;
    }
    std::memcpy(d + done, out_, static_cast<size_t>(n));
    done += n;
  }
}

}  // namespace tessera::cuda
