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

int TokenOf(const RecordEntry* r) { return r == nullptr ? -1 : r->reply.result().tokens(0); }

constexpr size_t kNoByteLimit = size_t{1} << 40;

TEST(RecordLru, KeepsTheMostRecentlyUsedWithinTheLimit) {
  RecordLru lru(3, kNoByteLimit);
  lru.Put("a", Result(1), 7);
  lru.Put("b", Result(2), 7);
  lru.Put("c", Result(3), 7);
  EXPECT_EQ(TokenOf(lru.Find("a")), 1);  // a is now the most recent; b the least
  lru.Put("d", Result(4), 7);               // evicts b
  EXPECT_EQ(lru.size(), 3u);
  EXPECT_EQ(lru.Find("b"), nullptr);
  EXPECT_EQ(TokenOf(lru.Find("a")), 1);
  EXPECT_EQ(TokenOf(lru.Find("c")), 3);
  EXPECT_EQ(TokenOf(lru.Find("d")), 4);
  // Found in the order a, c, d: a is now the least recently used.
  lru.Put("e", Result(5), 7);
  EXPECT_EQ(lru.Find("a"), nullptr);
  EXPECT_EQ(lru.size(), 3u);
}

TEST(RecordLru, ReplacingARecordRefreshesIt) {
  RecordLru lru(2, kNoByteLimit);
  lru.Put("a", Result(1), 7);
  lru.Put("b", Result(2), 7);
  lru.Put("a", Result(10), 7);  // a most recent now, b least
  lru.Put("c", Result(3), 7);   // evicts b
  EXPECT_EQ(TokenOf(lru.Find("a")), 10);
  EXPECT_EQ(lru.Find("b"), nullptr);
  EXPECT_EQ(lru.size(), 2u);
}

TEST(RecordLru, LimitZeroKeepsNothing) {
  RecordLru lru(0, kNoByteLimit);
  lru.Put("a", Result(1), 7);
  EXPECT_EQ(lru.Find("a"), nullptr);
  EXPECT_EQ(lru.size(), 0u);
}

TEST(RecordLru, StaysBoundedUnderManyIds) {
  RecordLru lru(100, kNoByteLimit);
  for (int i = 0; i < 10000; ++i) lru.Put(absl::StrCat("id", i), Result(i), 7);
  EXPECT_EQ(lru.size(), 100u);
  EXPECT_EQ(TokenOf(lru.Find("id9999")), 9999);
  EXPECT_EQ(TokenOf(lru.Find("id9900")), 9900);
  EXPECT_EQ(lru.Find("id9899"), nullptr);
}

TEST(RecordLru, KeepsTheFingerprintOfTheRequest) {
  RecordLru lru(2, kNoByteLimit);
  lru.Put("a", Result(1), 41);
  lru.Put("a", Result(2), 42);
  ASSERT_NE(lru.Find("a"), nullptr);
  EXPECT_EQ(lru.Find("a")->fingerprint, 42u);
  EXPECT_EQ(TokenOf(lru.Find("a")), 2);
}

// Each record is charged its answer's bytes, its id and a fixed overhead.
TEST(RecordLru, StaysWithinItsBytesEvictingTheLeastRecentlyUsed) {
  proto::ClientReply big;
  big.mutable_result()->set_text(std::string(1000, 'x'));
  const size_t each = big.ByteSizeLong() + 2 + RecordLru::kOverheadBytes;  // ids of 2 bytes
  RecordLru lru(100, 3 * each);
  for (const char* id : {"r1", "r2", "r3"}) lru.Put(id, big, 1);
  EXPECT_EQ(lru.size(), 3u);
  EXPECT_EQ(lru.bytes(), 3 * each);
  ASSERT_NE(lru.Find("r1"), nullptr);  // r2 is now the least recently used
  lru.Put("r4", big, 1);
  EXPECT_EQ(lru.size(), 3u);
  EXPECT_EQ(lru.bytes(), 3 * each);
  EXPECT_EQ(lru.Find("r2"), nullptr);
  EXPECT_NE(lru.Find("r1"), nullptr);
  // A bigger answer pushes out as many as it takes.
  proto::ClientReply huge;
  huge.mutable_result()->set_text(std::string(2500, 'y'));
  lru.Put("r5", huge, 1);
  EXPECT_LE(lru.bytes(), 3 * each);
  EXPECT_EQ(lru.size(), 1u);
  EXPECT_NE(lru.Find("r5"), nullptr);
  // One answer beyond the whole budget is not kept at all.
  huge.mutable_result()->set_text(std::string(5000, 'z'));
  lru.Put("r6", huge, 1);
  EXPECT_EQ(lru.Find("r6"), nullptr);
  EXPECT_LE(lru.bytes(), 3 * each);
}

TEST(RecordLru, TenThousandLongAnswersStayWithinTheBytes) {
  proto::ClientReply answer;
  answer.mutable_result()->set_text(std::string(10000, 'x'));  // ~10 kB each: 100 MB for 10000
  RecordLru lru(10000, size_t{1} << 20);
  for (int i = 0; i < 10000; ++i) lru.Put(absl::StrCat("id", i), answer, 1);
  EXPECT_LE(lru.bytes(), size_t{1} << 20);
  EXPECT_EQ(lru.size(), (size_t{1} << 20) / (answer.ByteSizeLong() + 6 + RecordLru::kOverheadBytes));
  EXPECT_NE(lru.Find("id9999"), nullptr);
}

}  // namespace
}  // namespace tessera
