#include "coordinator/request_record.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

proto::ClientReply Result(int token) {
  proto::ClientReply r;
  r.mutable_result()->add_tokens(token);
  return r;
}

int TokenOf(const proto::ClientReply* r) { return r == nullptr ? -1 : r->result().tokens(0); }

TEST(RecordLru, KeepsTheMostRecentlyUsedWithinTheLimit) {
  RecordLru lru(3);
  lru.Put("a", Result(1));
  lru.Put("b", Result(2));
  lru.Put("c", Result(3));
  EXPECT_EQ(TokenOf(lru.Find("a")), 1);  // a is now the most recent; b the least
  lru.Put("d", Result(4));               // evicts b
  EXPECT_EQ(lru.size(), 3u);
  EXPECT_EQ(lru.Find("b"), nullptr);
  EXPECT_EQ(TokenOf(lru.Find("a")), 1);
  EXPECT_EQ(TokenOf(lru.Find("c")), 3);
  EXPECT_EQ(TokenOf(lru.Find("d")), 4);
  // Found in the order a, c, d: a is now the least recently used.
  lru.Put("e", Result(5));
  EXPECT_EQ(lru.Find("a"), nullptr);
  EXPECT_EQ(lru.size(), 3u);
}

TEST(RecordLru, ReplacingARecordRefreshesIt) {
  RecordLru lru(2);
  lru.Put("a", Result(1));
  lru.Put("b", Result(2));
  lru.Put("a", Result(10));  // a most recent now, b least
  lru.Put("c", Result(3));   // evicts b
  EXPECT_EQ(TokenOf(lru.Find("a")), 10);
  EXPECT_EQ(lru.Find("b"), nullptr);
  EXPECT_EQ(lru.size(), 2u);
}

TEST(RecordLru, LimitZeroKeepsNothing) {
  RecordLru lru(0);
  lru.Put("a", Result(1));
  EXPECT_EQ(lru.Find("a"), nullptr);
  EXPECT_EQ(lru.size(), 0u);
}

TEST(RecordLru, StaysBoundedUnderManyIds) {
  RecordLru lru(100);
  for (int i = 0; i < 10000; ++i) lru.Put(absl::StrCat("id", i), Result(i));
  EXPECT_EQ(lru.size(), 100u);
  EXPECT_EQ(TokenOf(lru.Find("id9999")), 9999);
  EXPECT_EQ(TokenOf(lru.Find("id9900")), 9900);
  EXPECT_EQ(lru.Find("id9899"), nullptr);
}

}  // namespace
}  // namespace tessera
