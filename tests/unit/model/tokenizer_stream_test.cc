// StreamDecoder: never half a UTF-8 character, U+FFFD for what cannot be one.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/tokenizer.h"
#include "model/utf8.h"
#include "tests/unit/model/tokenizer_test_vocab.h"

namespace tessera {
namespace {

using ::tessera::test_vocab::Gpt2Vocab;
using ::tessera::test_vocab::HelloPieces;
using ::tessera::test_vocab::kByteBase;
using ::tessera::test_vocab::MustMake;
using ::tessera::test_vocab::SpmVocab;

constexpr char kFffd[] = "\xEF\xBF\xBD";

TEST(TokenizerStreamTest, HoldsACharacterSplitAcrossByteTokens) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  StreamDecoder d(*tok);
  // 中 is E4 B8 AD: nothing comes out until its last byte arrives.
  EXPECT_EQ(d.Push(kByteBase + 0xE4), "");
  EXPECT_EQ(d.Push(kByteBase + 0xB8), "");
  EXPECT_EQ(d.Push(kByteBase + 0xAD), "\xE4\xB8\xAD");
  EXPECT_EQ(d.Push(271), "hello");
  EXPECT_EQ(d.Finish(), "");
}

TEST(TokenizerStreamTest, Gpt2TokensSplitInsideACharacter) {
  // ids: 256 "aÃ" (a + byte C3), 257 "©b" (byte A9 + b): é straddles them.
  auto tok = MustMake(Gpt2Vocab({{"a", "\xC3\x83"}, {"\xC2\xA9", "b"}}));
  ASSERT_NE(tok, nullptr);
  ASSERT_EQ(tok->TokenBytes(256), "a\xC3");
  StreamDecoder d(*tok);
  EXPECT_EQ(d.Push(256), "a");
  EXPECT_EQ(d.Push(257), "\xC3\xA9" "b");
  EXPECT_EQ(d.Finish(), "");
}

TEST(TokenizerStreamTest, IllFormedBytesBecomeReplacementCharacters) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  {
    // C3 then 'h': C3 can no longer be completed, so it is U+FFFD at once.
    StreamDecoder d(*tok);
    EXPECT_EQ(d.Push(kByteBase + 0xC3), "");
    EXPECT_EQ(d.Push(260), std::string(kFffd) + "h");
  }
  {
    // A stray continuation byte.
    StreamDecoder d(*tok);
    EXPECT_EQ(d.Push(kByteBase + 0x80), kFffd);
  }
  {
    // Finish flushes an incomplete character as one U+FFFD.
    StreamDecoder d(*tok);
    EXPECT_EQ(d.Push(kByteBase + 0xE4), "");
    EXPECT_EQ(d.Push(kByteBase + 0xB8), "");
    EXPECT_EQ(d.Finish(), kFffd);
    EXPECT_EQ(d.Finish(), "");
  }
}

TEST(TokenizerStreamTest, StripsOnlyTheFirstLeadingSpace) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  // " hello world" is 272 276 262 266; <s> (1) first decodes to "" and does not
  // count as the first piece.
  const std::vector<int32_t> ids{1, 272, 276, 262, 266};
  std::string stripped, kept;
  StreamDecoder strip(*tok, /*strip_leading_space=*/true);
  StreamDecoder keep(*tok);
  for (int32_t id : ids) {
    stripped += strip.Push(id);
    kept += keep.Push(id);
  }
  stripped += strip.Finish();
  kept += keep.Finish();
  EXPECT_EQ(stripped, "hello world");
  EXPECT_EQ(kept, " hello world");
}

TEST(TokenizerStreamTest, StreamingEqualsWholeDecodeAndEmitsOnlyWholeCharacters) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  const std::string text = "hello \xE4\xB8\xAD\xE6\x96\x87 world \xF0\x9F\x8E\x89 caf\xC3\xA9";
  const std::vector<int32_t> ids = tok->Encode(text, true);
  StreamDecoder d(*tok);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = d.Push(id);
    EXPECT_TRUE(IsValidUtf8(piece));
    streamed += piece;
  }
  streamed += d.Finish();
  EXPECT_EQ(streamed, tok->Decode(ids));
  EXPECT_EQ(streamed, " " + text);
}

}  // namespace
}  // namespace tessera
