// Host <-> device copies through pinned staging buffers. The backend's CopyIn
// must let the caller reuse its source at once while the copy stays queued
// behind earlier ops, and a copy from pageable memory cannot be queued
// asynchronously; so the bytes go first into pinned memory, whose reuse waits
// for the event recorded after its previous copy.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"

namespace tessera::cuda {

class PinnedStaging {
 public:
  // `errors` is borrowed and must outlive this object.
  explicit PinnedStaging(StickyError* errors) : errors_(errors) {}
  // The caller must have synchronized the streams that use the buffers.
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  // Queues host `src` -> device `dst` on `stream`; `src` may be reused when
  // this returns. False (with the error noted) when not every byte was
  // queued: `dst` then holds garbage, which no kernel may take for pointers
  // or indices.
  bool Upload(void* dst, const void* src, int64_t bytes, cudaStream_t stream);
  // Device `src` -> host `dst` after everything queued on `stream`; returns
  // when the bytes are in `dst` (or an error was noted).
  void Download(void* dst, const void* src, int64_t bytes, cudaStream_t stream);

  // Copies are split into pieces of at most this many bytes, which bounds the
  // pinned memory held (kSlots upload slots plus one download buffer).
  static constexpr int64_t kMaxChunk = int64_t{8} << 20;
  static constexpr int kSlots = 16;

 private:
  struct Slot {
    void* host = nullptr;
    int64_t capacity = 0;
    cudaEvent_t done = nullptr;  // recorded after the slot's last copy
    bool pending = false;
  };
  // Makes `*buf` (of `*capacity` bytes) hold at least `bytes`; false (with
  // the error noted) when pinned memory cannot be had.
  bool Reserve(void** buf, int64_t* capacity, int64_t bytes);

  StickyError* errors_;
  Slot slots_[kSlots];
  int next_ = 0;
  void* out_ = nullptr;
  int64_t out_capacity_ = 0;
};

}  // namespace tessera::cuda
