#include "worker/kv_cache.h"

#include <vector>

#include "device_like_backend.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace tessera {
namespace {

TEST(KvCacheTest, ReservesWholeBlocksAndReleasesThem) {
  auto backend = MakeCpuBackend({.threads = 1});
  auto kv = KvCache::Create({.n_layers = 2, .kv_dim = 8, .block_size = 4, .n_blocks = 5}, *backend);
  ASSERT_TRUE(kv.ok());
  KvCache& c = **kv;
  EXPECT_EQ(c.capacity_tokens(), 20);
  ASSERT_TRUE(c.Reserve(1, 5).ok());  // 2 blocks
  EXPECT_EQ(c.ReservedPositions(1), 8);
  EXPECT_EQ(c.free_blocks(), 3);
  ASSERT_TRUE(c.Reserve(1, 8).ok());  // already covered
  EXPECT_EQ(c.free_blocks(), 3);
  ASSERT_TRUE(c.Reserve(2, 12).ok());  // 3 blocks
  EXPECT_EQ(c.free_blocks(), 0);

  auto full = c.Reserve(3, 1);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("needs 1 more blocks"), std::string::npos) << full.message();
  EXPECT_FALSE(c.Has(3));

  c.Release(1);
  EXPECT_EQ(c.free_blocks(), 2);
  c.Release(42);  // unknown: ignored
  EXPECT_EQ(c.free_blocks(), 2);
}

// Slots are block id * block size + offset, with blocks handed out in
// increasing order and a released sequence's first block handed out next.
TEST(KvCacheTest, SlotsAndBlockTablesFollowTheBlocksHandedOut) {
  auto backend = MakeCpuBackend({.threads = 1});
  auto kv = KvCache::Create({.n_layers = 2, .kv_dim = 3, .block_size = 2, .n_blocks = 6}, *backend);
  ASSERT_TRUE(kv.ok());
  KvCache& c = **kv;
  ASSERT_TRUE(c.Reserve(0, 5).ok());  // blocks 0, 1, 2
  ASSERT_TRUE(c.Reserve(1, 3).ok());  // blocks 3, 4
  EXPECT_EQ(std::vector<int32_t>(c.BlockIds(0).begin(), c.BlockIds(0).end()), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(std::vector<int32_t>(c.BlockIds(1).begin(), c.BlockIds(1).end()), (std::vector<int32_t>{3, 4}));
  EXPECT_TRUE(c.BlockIds(7).empty());
  EXPECT_EQ(c.Slot(0, 0), 0);
  EXPECT_EQ(c.Slot(0, 3), 3);
  EXPECT_EQ(c.Slot(0, 4), 4);
  EXPECT_EQ(c.Slot(1, 0), 6);
  EXPECT_EQ(c.Slot(1, 2), 8);

  // Sequence 0's blocks go back; sequence 2 takes 0 and 1 (its first block
  // first), and sequence 1 grows into block 2.
  c.Release(0);
  ASSERT_TRUE(c.Reserve(2, 4).ok());
  EXPECT_EQ(std::vector<int32_t>(c.BlockIds(2).begin(), c.BlockIds(2).end()), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(c.Slot(2, 3), 3);
  ASSERT_TRUE(c.Reserve(1, 5).ok());
  EXPECT_EQ(std::vector<int32_t>(c.BlockIds(1).begin(), c.BlockIds(1).end()), (std::vector<int32_t>{3, 4, 2}));
  EXPECT_EQ(c.Slot(1, 4), 4);
  EXPECT_EQ(c.Slot(1, 1), 7);
}

// Every layer has its own key and value store of n_blocks * block_size rows:
// a row written through one slot of one store reads back and touches no
// other store.
TEST(KvCacheTest, EveryLayersStoresAreSeparateAndWholeInBackendMemory) {
  auto backend = MakeCpuBackend({.threads = 1});
  const KvCacheShape shape{.n_layers = 3, .kv_dim = 5, .block_size = 4, .n_blocks = 3};
  auto kv = KvCache::Create(shape, *backend);
  ASSERT_TRUE(kv.ok());
  KvCache& c = **kv;
  EXPECT_EQ(&c.backend(), backend.get());
  const int64_t floats = shape.n_blocks * shape.block_size * shape.kv_dim;
  auto tag = [](int64_t layer, int kind, int64_t i) { return static_cast<float>(10000 * layer + 1000 * kind + i); };
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    for (int kind = 0; kind < 2; ++kind) {
      std::vector<float> rows(static_cast<size_t>(floats));
      for (int64_t i = 0; i < floats; ++i) rows[static_cast<size_t>(i)] = tag(l, kind, i);
      backend->CopyIn(kind == 0 ? c.KeyStore(l) : c.ValueStore(l), rows.data(), floats * 4);
    }
  }
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    for (int kind = 0; kind < 2; ++kind) {
      std::vector<float> rows(static_cast<size_t>(floats));
      ASSERT_TRUE(backend->CopyOut(rows.data(), kind == 0 ? c.KeyStore(l) : c.ValueStore(l), floats * 4).ok());
      for (int64_t i = 0; i < floats; ++i) ASSERT_EQ(rows[static_cast<size_t>(i)], tag(l, kind, i)) << l << " " << i;
    }
  }
}

// A tensor-parallel rank without heads keeps the bookkeeping of a cache that
// stores nothing.
TEST(KvCacheTest, ZeroWidthTracksPositionsOnly) {
  auto backend = MakeCpuBackend({.threads = 1});
  auto kv = KvCache::Create({.n_layers = 1, .kv_dim = 0, .block_size = 16, .n_blocks = 4}, *backend);
  ASSERT_TRUE(kv.ok()) << kv.status();
  ASSERT_TRUE((*kv)->Reserve(5, 20).ok());
  (*kv)->SetLength(5, 20);
  EXPECT_EQ((*kv)->Length(5), 20);
  EXPECT_EQ((*kv)->Slot(5, 17), 17);
  EXPECT_EQ((*kv)->free_blocks(), 2);
}

TEST(KvCacheTest, RejectsBadShapes) {
  auto backend = MakeCpuBackend({.threads = 1});
  EXPECT_FALSE(KvCache::Create({.n_layers = 0, .kv_dim = 8, .block_size = 4, .n_blocks = 5}, *backend).ok());
  EXPECT_FALSE(KvCache::Create({.n_layers = 1, .kv_dim = 8, .block_size = 0, .n_blocks = 5}, *backend).ok());
  EXPECT_EQ(KvCache::Create({.n_layers = 1 << 20, .kv_dim = 1 << 20, .block_size = 16, .n_blocks = 1 << 20}, *backend)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  // Slots are int32: 2^15 blocks of 2^16 positions is one position too many
  // (even where no row is stored); one block fewer fits.
  EXPECT_EQ(KvCache::Create({.n_layers = 1, .kv_dim = 0, .block_size = 1 << 16, .n_blocks = 1 << 15}, *backend)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      KvCache::Create({.n_layers = 1, .kv_dim = 0, .block_size = 1 << 16, .n_blocks = (1 << 15) - 1}, *backend).ok());
}

// The backend's own refusal comes back, naming the store it could not get.
TEST(KvCacheTest, ABackendWithoutRoomFailsNamingTheStore) {
  testing::DeviceLikeBackend device;
  device.max_allocation = 100;  // a store is 640 bytes
  auto kv = KvCache::Create({.n_layers = 2, .kv_dim = 8, .block_size = 4, .n_blocks = 5}, device);
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(kv.status().message().find("on device-like (keys of layer 0)"), std::string::npos) << kv.status();
}

}  // namespace
}  // namespace tessera
