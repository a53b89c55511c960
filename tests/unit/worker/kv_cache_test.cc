#include "worker/kv_cache.h"

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(KvCacheTest, ReservesWholeBlocksAndReleasesThem) {
  auto kv = KvCache::Create({.n_layers = 2, .kv_dim = 8, .block_size = 4, .n_blocks = 5});
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

TEST(KvCacheTest, RowsOfDifferentSequencesAndLayersDoNotAlias) {
  auto kv = KvCache::Create({.n_layers = 2, .kv_dim = 3, .block_size = 2, .n_blocks = 6});
  ASSERT_TRUE(kv.ok());
  KvCache& c = **kv;
  ASSERT_TRUE(c.Reserve(0, 5).ok());
  ASSERT_TRUE(c.Reserve(1, 3).ok());
  // Write a distinct value into every (layer, seq, pos, k/v) row, then read back.
  auto tag = [](int64_t l, int64_t s, int64_t p, int kv) { return float(1000 * l + 100 * s + 10 * p + kv); };
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t s = 0; s < 2; ++s)
      for (int64_t p = 0; p < (s == 0 ? 5 : 3); ++p)
        for (int i = 0; i < 3; ++i) {
          c.KeyRow(l, s, p)[i] = tag(l, s, p, 0);
          c.ValueRow(l, s, p)[i] = tag(l, s, p, 1);
        }
  std::vector<const float*> kp, vp;
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t s = 0; s < 2; ++s) {
      KvView view = c.View(l, s, kp, vp);
      for (int64_t p = 0; p < (s == 0 ? 5 : 3); ++p) {
        const float* k = view.k_blocks[p / 2] + (p % 2) * 3;
        const float* v = view.v_blocks[p / 2] + (p % 2) * 3;
        for (int i = 0; i < 3; ++i) {
          EXPECT_EQ(k[i], tag(l, s, p, 0));
          EXPECT_EQ(v[i], tag(l, s, p, 1));
        }
      }
    }
}

TEST(KvCacheTest, RejectsBadShapes) {
  EXPECT_FALSE(KvCache::Create({.n_layers = 0, .kv_dim = 8, .block_size = 4, .n_blocks = 5}).ok());
  EXPECT_FALSE(KvCache::Create({.n_layers = 1, .kv_dim = 8, .block_size = 0, .n_blocks = 5}).ok());
  EXPECT_EQ(KvCache::Create({.n_layers = 1 << 20, .kv_dim = 1 << 20, .block_size = 16, .n_blocks = 1 << 20})
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tessera
