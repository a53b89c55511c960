#include "worker/kv_cache.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace tessera {

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(const KvCacheShape& shape, Backend& backend) {
  // kv_dim 0 is a tensor-parallel rank that holds no heads: it still tracks
  // each sequence's positions so its steps validate like everyone else's.
  if (shape.n_layers <= 0 || shape.kv_dim < 0 || shape.block_size <= 0 || shape.n_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache shape must be positive (kv_dim may be 0): layers ", shape.n_layers, ", kv_dim ", shape.kv_dim,
        ", block size ", shape.block_size, ", blocks ", shape.n_blocks));
  }
  // Slots (block id * block size + offset) are int32 on the way to the
  // backend; the division keeps the product from overflowing.
  if (shape.n_blocks > std::numeric_limits<int32_t>::max() / shape.block_size) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache of ", shape.n_blocks, " blocks of ", shape.block_size,
                                                   " positions exceeds the 2^31 slot ids"));
  }
  const double bytes = 2.0 * 4.0 * static_cast<double>(shape.n_layers) * shape.n_blocks *
                       shape.block_size * shape.kv_dim;
  if (bytes > static_cast<double>(1ull << 40)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV cache of ", bytes / (1 << 30), " GiB is beyond any budget; lower the context"));
  }
  const int64_t layer_bytes =
      static_cast<int64_t>(sizeof(float)) * shape.n_blocks * shape.block_size * shape.kv_dim;
  std::vector<BackendBuffer> keys, values;
  keys.reserve(static_cast<size_t>(shape.n_layers));
  values.reserve(static_cast<size_t>(shape.n_layers));
  for (int64_t layer = 0; layer < shape.n_layers; ++layer) {
    for (std::vector<BackendBuffer>* stores : {&keys, &values}) {
      auto buffer = backend.Allocate(layer_bytes);
      if (!buffer.ok()) {
        // What was allocated goes with `keys` and `values`.
        return absl::Status(buffer.status().code(),
                            absl::StrCat("cannot allocate a KV cache of ", bytes / (1 << 30), " GiB on ",
                                         std::string(backend.name()), " (", stores == &keys ? "keys" : "values",
                                         " of layer ", layer, "): ", buffer.status().message()));
      }
      stores->push_back(*std::move(buffer));
    }
  }
  return std::unique_ptr<KvCache>(new KvCache(shape, backend, std::move(keys), std::move(values)));
}

KvCache::KvCache(const KvCacheShape& shape, Backend& backend, std::vector<BackendBuffer> keys,
                 std::vector<BackendBuffer> values)
    : shape_(shape), backend_(backend), keys_(std::move(keys)), values_(std::move(values)) {
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

int32_t KvCache::Slot(int64_t seq, int64_t pos) const {
  const auto& table = tables_.at(seq).blocks;
  const int64_t block = table.at(static_cast<size_t>(pos / shape_.block_size));
  // Fits: Create bounds n_blocks * block_size by 2^31 - 1.
  return static_cast<int32_t>(block * shape_.block_size + pos % shape_.block_size);
}

std::span<const int32_t> KvCache::BlockIds(int64_t seq) const {
  auto it = tables_.find(seq);
  if (it == tables_.end()) return {};
  return it->second.blocks;
}

}  // namespace tessera
