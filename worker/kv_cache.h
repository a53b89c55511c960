// A paged KV cache: every layer's keys and values live in fixed-size blocks of
// positions, and each sequence owns a table of block ids (the same ids in every
// layer). Blocks return to the pool when a sequence is released, so sequences
// of any length share one fixed budget without fragmentation.
//
// The stores live in the backend's memory (device memory on a GPU), so only
// the executor's backend ops touch them; the block tables stay on the host,
// where the bookkeeping happens, and the executor uploads the slots and
// tables a step needs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace tessera {

struct KvCacheShape {
  int64_t n_layers = 0;
  int64_t kv_dim = 0;       // n_kv_heads * head_dim
  int64_t block_size = 16;  // positions per block
  int64_t n_blocks = 0;
};

class KvCache {
 public:
  // Allocates the stores with backend.Allocate: ResourceExhausted (from the
  // backend, naming the layer) when they do not fit. `backend` must outlive
  // the cache (it frees the stores). A capacity beyond 2^31 - 1 positions is
  // InvalidArgument: slots are int32 (Backend::StoreKv).
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(const KvCacheShape& shape, Backend& backend);

  const KvCacheShape& shape() const { return shape_; }
  // The backend whose memory holds the stores.
  const Backend& backend() const { return backend_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t capacity_tokens() const { return shape_.n_blocks * shape_.block_size; }

  // Ensures positions [0, n_positions) of `seq` have storage; ResourceExhausted
  // (saying how many blocks are missing) when the pool cannot cover it, in
  // which case nothing is allocated.
  absl::Status Reserve(int64_t seq, int64_t n_positions);
  // Blocks Reserve(seq, n_positions) would have to take from the pool.
  int64_t BlocksMissing(int64_t seq, int64_t n_positions) const;
  // Returns the sequence's blocks to the pool. Unknown ids are ignored.
  void Release(int64_t seq);
  bool Has(int64_t seq) const { return tables_.contains(seq); }
  int64_t ReservedPositions(int64_t seq) const;
  // Positions [0, Length(seq)) hold keys and values written by a finished
  // step; a later step may start at any position up to it (starting before it
  // overwrites, and forgets, what follows). 0 for an unknown sequence.
  int64_t Length(int64_t seq) const;
  // Records that positions [0, length) are written; requires them reserved.
  void SetLength(int64_t seq, int64_t length);

  // One layer's store in backend memory: n_blocks * block_size rows of
  // kv_dim floats (a KvView's k_store / v_store). Left uninitialised (a row
  // is read only after a step wrote it), so the untouched pages of a large
  // host cache cost no memory.
  float* KeyStore(int64_t layer) { return Store(keys_, layer); }
  float* ValueStore(int64_t layer) { return Store(values_, layer); }
  const float* KeyStore(int64_t layer) const { return Store(keys_, layer); }
  const float* ValueStore(int64_t layer) const { return Store(values_, layer); }

  // The row of `pos` of `seq` within every layer's store:
  // block_id * block_size + pos % block_size. The position must be reserved.
  int32_t Slot(int64_t seq, int64_t pos) const;
  // The sequence's block table (host memory), one id per block of
  // block_size positions; empty for an unknown sequence. Valid until the
  // next Reserve or Release of the sequence.
  std::span<const int32_t> BlockIds(int64_t seq) const;

 private:
  KvCache(const KvCacheShape& shape, Backend& backend, std::vector<BackendBuffer> keys,
          std::vector<BackendBuffer> values);
  static float* Store(const std::vector<BackendBuffer>& stores, int64_t layer) {
    return static_cast<float*>(stores[static_cast<size_t>(layer)].get());
  }

  struct Sequence {
    std::vector<int32_t> blocks;
    int64_t length = 0;
  };

  KvCacheShape shape_;
  Backend& backend_;
  // One allocation per layer and per K/V, so a device cache needs no single
  // huge contiguous range.
  std::vector<BackendBuffer> keys_;
  std::vector<BackendBuffer> values_;
  std::vector<int32_t> free_;  // free block ids, popped from the back
  absl::flat_hash_map<int64_t, Sequence> tables_;
};

}  // namespace tessera
