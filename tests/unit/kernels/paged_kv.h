// A paged KV store for the attention tests, laid out as KvView describes. The
// blocks of a sequence sit at shuffled ids among spare blocks full of NaN, so a
// kernel that ignores the block table, or reads a row it should not, shows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/backend.h"

namespace tessera::testing {

struct PagedKv {
  std::vector<float> k_store, v_store;
  std::vector<int32_t> block_ids;
  int64_t block_size = 0;
  KvView View() const { return KvView{k_store.data(), v_store.data(), block_ids.data(), block_size}; }
};

// Stores n_ctx rows of `row_floats` floats from contiguous k and v
// (n_ctx x row_floats each) in blocks of block_size rows; `spare` extra blocks
// stay NaN. The unused tail of the last block stays NaN too.
inline PagedKv PageKv(const std::vector<float>& k, const std::vector<float>& v, int64_t n_ctx,
                      int64_t row_floats, int64_t block_size, uint32_t seed, int64_t spare = 3) {
  PagedKv kv;
  kv.block_size = block_size;
  const int64_t used = (n_ctx + block_size - 1) / block_size;
  const int64_t total = used + spare;
  std::vector<int32_t> ids(static_cast<size_t>(total));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  kv.block_ids.assign(ids.begin(), ids.begin() + used);
  kv.k_store.assign(static_cast<size_t>(total * block_size * row_floats), NAN);
  kv.v_store.assign(kv.k_store.size(), NAN);
  for (int64_t p = 0; p < n_ctx; ++p) {
    const int64_t row = kv.block_ids[p / block_size] * block_size + p % block_size;
    std::copy_n(&k[p * row_floats], row_floats, &kv.k_store[row * row_floats]);
    std::copy_n(&v[p * row_floats], row_floats, &kv.v_store[row * row_floats]);
  }
  return kv;
}

}  // namespace tessera::testing
