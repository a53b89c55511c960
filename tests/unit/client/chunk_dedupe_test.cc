#include "client/lib/chunk_dedupe.h"

#include "gtest/gtest.h"

namespace tessera::client_internal {
namespace {

proto::TokenChunk Chunk(int index, std::vector<int> tokens, const std::string& text) {
  proto::TokenChunk c;
  c.set_index(index);
  for (int t : tokens) c.add_tokens(t);
  c.set_text(text);
  return c;
}

TEST(ChunkDedupeTest, CatchUpFromZeroPassesOnOnlyTheNewTail) {
  ChunkDedupe d;
  ASSERT_TRUE(d.Fresh(Chunk(0, {1, 2}, "he")).has_value());
  ASSERT_TRUE(d.Fresh(Chunk(2, {3}, "l")).has_value());
  auto fresh = d.Fresh(Chunk(0, {1, 2, 3, 4, 5}, "hello"));
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->index(), 3);
  EXPECT_EQ(std::vector<int>(fresh->tokens().begin(), fresh->tokens().end()), (std::vector<int>{4, 5}));
  EXPECT_EQ(fresh->text(), "lo");
  EXPECT_EQ(d.tokens(), 5);
  EXPECT_EQ(d.text(), "hello");
}

TEST(ChunkDedupeTest, RepeatsAndStaleChunksAddNothing) {
  ChunkDedupe d;
  ASSERT_TRUE(d.Fresh(Chunk(0, {1, 2, 3}, "abc")).has_value());
  EXPECT_FALSE(d.Fresh(Chunk(0, {1, 2, 3}, "abc")).has_value());
  EXPECT_FALSE(d.Fresh(Chunk(1, {2}, "b")).has_value());
  EXPECT_FALSE(d.Fresh(Chunk(3, {}, "")).has_value());
  EXPECT_FALSE(d.Fresh(Chunk(-1, {7, 8, 9, 10, 11}, "xxxxx")).has_value());
  EXPECT_EQ(d.tokens(), 3);
}

TEST(ChunkDedupeTest, OverlapFromAnUnknownStartKeepsTokensButDropsText) {
  ChunkDedupe d;
  ASSERT_TRUE(d.Fresh(Chunk(0, {1, 2, 3}, "abc")).has_value());
  // Starts at token 1, where no chunk started: its text cannot be cut.
  auto fresh = d.Fresh(Chunk(1, {2, 3, 4}, "bcd"));
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->index(), 3);
  EXPECT_EQ(fresh->tokens_size(), 1);
  EXPECT_EQ(fresh->text(), "");
}

TEST(ChunkDedupeTest, TextHeldBackForAUtf8CharacterIsCutWhereTheStreamEnded) {
  ChunkDedupe d;
  // Token 2 ends inside a two-byte character: its bytes wait for token 3.
  ASSERT_TRUE(d.Fresh(Chunk(0, {1, 2}, "a")).has_value());
  auto fresh = d.Fresh(Chunk(0, {1, 2, 3}, "a\xc3\xa9"));
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->text(), "\xc3\xa9");
}

}  // namespace
}  // namespace tessera::client_internal
