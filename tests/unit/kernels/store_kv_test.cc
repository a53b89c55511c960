// StoreKv: row i of k and v lands at row slots[i] of the stores, bit for bit,
// and no other row of the stores changes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

void CheckStoreKv(const std::vector<int32_t>& slots, int64_t row_floats, int64_t store_rows,
                  const BackendCase& bc) {
  const int64_t n = static_cast<int64_t>(slots.size());
  const std::vector<float> k = RandomFloats(n * row_floats, 31);
  const std::vector<float> v = RandomFloats(n * row_floats, 32);
  std::vector<float> k_store(store_rows * row_floats, NAN), v_store(k_store.size(), NAN);
  MakeBackend(bc)->StoreKv(k.data(), v.data(), n, row_floats, slots.data(), k_store.data(),
                           v_store.data());

  // Where each store row's contents should come from: a row of k/v, or none.
  std::vector<int64_t> source(store_rows, -1);
  for (int64_t i = 0; i < n; ++i) source[slots[i]] = i;
  for (int64_t r = 0; r < store_rows; ++r) {
    const float* got_k = &k_store[r * row_floats];
    const float* got_v = &v_store[r * row_floats];
    if (source[r] < 0) {
      for (int64_t j = 0; j < row_floats; ++j) {
        ASSERT_TRUE(std::isnan(got_k[j]) && std::isnan(got_v[j])) << bc.Name() << " untouched row " << r;
      }
      continue;
    }
    const size_t bytes = static_cast<size_t>(row_floats) * sizeof(float);
    ASSERT_EQ(0, std::memcmp(got_k, &k[source[r] * row_floats], bytes)) << bc.Name() << " k row " << r;
    ASSERT_EQ(0, std::memcmp(got_v, &v[source[r] * row_floats], bytes)) << bc.Name() << " v row " << r;
  }
}

TEST(StoreKvTest, RowsLandAtTheirSlots) {
  for (const BackendCase& bc : BackendCases()) {
    CheckStoreKv({7, 0, 15, 3, 8}, 12, 16, bc);
    if (HasFatalFailure()) return;
  }
}

TEST(StoreKvTest, ManyRowsSpreadOverThreads) {
  // 96 rows of 2048 floats: enough to be split over the pool.
  std::vector<int32_t> slots(160);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), std::mt19937(5));
  slots.resize(96);
  for (const BackendCase& bc : BackendCases()) {
    CheckStoreKv(slots, 2048, 160, bc);
    if (HasFatalFailure()) return;
  }
}

TEST(StoreKvTest, NoRowsIsANoOp) {
  std::vector<float> store(8, 1.0f);
  MakeBackend(BackendCases()[0])->StoreKv(nullptr, nullptr, 0, 4, nullptr, store.data(), store.data());
  for (float x : store) EXPECT_EQ(x, 1.0f);
}

}  // namespace
}  // namespace tessera::testing
