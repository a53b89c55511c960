#include "worker/kv_cache.h"

#include <limits>
#include <new>

#include "absl/strings/str_cat.h"

namespace tessera {

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(const KvCacheShape& shape) {
  // kv_dim 0 is a tensor-parallel rank that holds no heads: it still tracks
  // each sequence's positions so its steps validate like everyone else's.
  if (shape.n_layers <= 0 || shape.kv_dim < 0 || shape.block_size <= 0 || shape.n_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache shape must be positive (kv_dim may be 0): layers ", shape.n_layers, ", kv_dim ", shape.kv_dim,
        ", block size ", shape.block_size, ", blocks ", shape.n_blocks));
  }
  if (shape.n_blocks > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache of ", shape.n_blocks,
                                                   " blocks exceeds the 2^31 block ids"));
  }
  const double bytes = 2.0 * 4.0 * static_cast<double>(shape.n_layers) * shape.n_blocks *
                       shape.block_size * shape.kv_dim;
  if (bytes > static_cast<double>(1ull << 40)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV cache of ", bytes / (1 << 30), " GiB is beyond any budget; lower the context"));
  }
  const size_t n = static_cast<size_t>(shape.n_layers * shape.n_blocks * shape.block_size * shape.kv_dim);
  std::unique_ptr<float[]> keys(new (std::nothrow) float[n]);
  std::unique_ptr<float[]> values(new (std::nothrow) float[n]);
  if (!keys || !values) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a KV cache of ", bytes / (1 << 30), " GiB"));
  }
  return std::unique_ptr<KvCache>(new KvCache(shape, std::move(keys), std::move(values)));
}

KvCache::KvCache(const KvCacheShape& shape, std::unique_ptr<float[]> keys,
                 std::unique_ptr<float[]> values)
    : shape_(shape), keys_(std::move(keys)), values_(std::move(values)) {
  free_.reserve(static_cast<size_t>(shape.n_blocks));
  // Highest id at the front so blocks are handed out in increasing order.
  for (int64_t b = shape.n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

int64_t KvCache::BlocksMissing(int64_t seq, int64_t n_positions) const {
  const int64_t need = (n_positions + shape_.block_size - 1) / shape_.block_size;
  const int64_t have = ReservedPositions(seq) / shape_.block_size;
  return need > have ? need - have : 0;
}

absl::Status KvCache::Reserve(int64_t seq, int64_t n_positions) {
  const int64_t missing = BlocksMissing(seq, n_positions);
  if (missing == 0) return absl::OkStatus();
  if (missing > free_blocks()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache full: sequence ", seq, " needs ", missing, " more blocks of ", shape_.block_size,
        " positions, ", free_blocks(), " free of ", shape_.n_blocks));
  }
  auto& table = tables_[seq].blocks;
  for (int64_t i = 0; i < missing; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return absl::OkStatus();
}

void KvCache::Release(int64_t seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return;
  // Pushed in reverse, so the sequence's first block is the next handed out.
  const auto& blocks = it->second.blocks;
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) free_.push_back(*b);
  tables_.erase(it);
}

int64_t KvCache::ReservedPositions(int64_t seq) const {
  auto it = tables_.find(seq);
  return it == tables_.end() ? 0 : static_cast<int64_t>(it->second.blocks.size()) * shape_.block_size;
}

int64_t KvCache::Length(int64_t seq) const {
  auto it = tables_.find(seq);
  return it == tables_.end() ? 0 : it->second.length;
}

void KvCache::SetLength(int64_t seq, int64_t length) { tables_.at(seq).length = length; }

float* KvCache::Row(float* store, int64_t layer, int64_t seq, int64_t pos) {
  const auto& table = tables_.at(seq).blocks;
  const int64_t block = table[static_cast<size_t>(pos / shape_.block_size)];
  return store + (layer * shape_.n_blocks + block) * BlockFloats() +
         (pos % shape_.block_size) * shape_.kv_dim;
}

float* KvCache::KeyRow(int64_t layer, int64_t seq, int64_t pos) {
  return Row(keys_.get(), layer, seq, pos);
}
float* KvCache::ValueRow(int64_t layer, int64_t seq, int64_t pos) {
  return Row(values_.get(), layer, seq, pos);
}

KvView KvCache::View(int64_t layer, int64_t seq, std::vector<const float*>& k_ptrs,
                     std::vector<const float*>& v_ptrs) const {
  const auto& table = tables_.at(seq).blocks;
  k_ptrs.resize(table.size());
  v_ptrs.resize(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const int64_t off = (layer * shape_.n_blocks + table[i]) * BlockFloats();
    k_ptrs[i] = keys_.get() + off;
    v_ptrs[i] = values_.get() + off;
  }
  return KvView{k_ptrs.data(), v_ptrs.data(), shape_.block_size};
}

}  // namespace tessera
