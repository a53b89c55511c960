// A paged KV cache: every layer's keys and values live in fixed-size blocks of
// positions, and each sequence owns a table of block ids (the same ids in every
// layer). Blocks return to the pool when a sequence is released, so sequences
// of any length share one fixed budget without fragmentation.
#pragma once

#include <cstdint>
#include <memory>
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
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
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

  // Row of `pos` (kv_dim floats); the position must be reserved.
  float* KeyRow(int64_t layer, int64_t seq, int64_t pos);
  float* ValueRow(int64_t layer, int64_t seq, int64_t pos);

  // The block pointers of one (layer, sequence) for the attention kernel,
  // written into caller-owned vectors so the hot path does not allocate.
  KvView View(int64_t layer, int64_t seq, std::vector<const float*>& k_ptrs,
              std::vector<const float*>& v_ptrs) const;

 private:
  KvCache(const KvCacheShape& shape, std::unique_ptr<float[]> keys, std::unique_ptr<float[]> values);
  int64_t BlockFloats() const { return shape_.block_size * shape_.kv_dim; }
  float* Row(float* store, int64_t layer, int64_t seq, int64_t pos);

  struct Sequence {
    std::vector<int32_t> blocks;
    int64_t length = 0;
  };

  KvCacheShape shape_;
  // [layer][block][position in block][kv_dim]; left uninitialised (a
  // position is read only after a step wrote it), so untouched pages of a
  // large cache cost no memory.
  std::unique_ptr<float[]> keys_;
  std::unique_ptr<float[]> values_;
  std::vector<int32_t> free_;  // free block ids, popped from the back
  absl::flat_hash_map<int64_t, Sequence> tables_;
};

}  // namespace tessera
