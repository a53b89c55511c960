// SentencePiece-style encoding on the hand vocabulary of tokenizer_test_vocab.h;
// every expected id sequence is worked out in the comment above it.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/tokenizer.h"
#include "tests/unit/model/tokenizer_test_vocab.h"

namespace tessera {
namespace {

using ::tessera::test_vocab::HelloPieces;
using ::tessera::test_vocab::kByteBase;
using ::tessera::test_vocab::MustMake;
using ::tessera::test_vocab::SpmVocab;
using Ids = std::vector<int32_t>;

TEST(TokenizerSpmTest, MergesByScoreUntilNoPairIsAToken) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  // "hello world" -> "▁hello▁world", symbols ▁ h e l l o ▁ w o r l d.
  // Pairs that are tokens: he(-1) ll(-2) lo(-3) ▁w(-8) or(-9).
  //  he   -> ▁ [he] l l o ▁ w o r l d      new: ▁he, hel: not tokens
  //  ll   -> ▁ he [ll] o ...              new: hell(-7), llo(-4)
  //  lo   is stale (its l was taken by ll)
  //  llo  -> ▁ he [llo] ▁ ...             new: hello(-5)
  //  hello-> ▁ [hello] ▁ ...              new: ▁hello(-6)
  //  ▁hello -> [▁hello] ▁ w o r l d;  hell(-7) is stale
  //  ▁w   -> [▁hello] [▁w] o r l d        new: ▁wo: not a token
  //  or   -> [▁hello] [▁w] [or] l d       new: ▁wor(-9.5)
  //  ▁wor -> [▁hello] [▁wor] l d
  // = 272 276 262 266.
  EXPECT_EQ(tok->Encode("hello world", /*add_bos=*/false), (Ids{272, 276, 262, 266}));
  EXPECT_EQ(tok->Decode({272, 276, 262, 266}), " hello world");
}

TEST(TokenizerSpmTest, EqualScoresMergeLeftmostFirst) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  // "▁aaa": the pairs a+a at 1-2 and at 2-3 both make aa(-0.5); the left one
  // goes first, leaving ▁ [aa] a = 259 278 277 (not ▁ a aa = 259 277 278).
  EXPECT_EQ(tok->Encode("aaa", false), (Ids{259, 278, 277}));
}

TEST(TokenizerSpmTest, HigherScoreBeatsPosition) {
  // ids: 259 ▁, 260 a, 261 b, 262 c, 263 ab(-3), 264 bc(-2).
  auto tok = MustMake(SpmVocab({{"\u2581", -10}, {"a", -11}, {"b", -12}, {"c", -13},
                                {"ab", -3}, {"bc", -2}}));
  ASSERT_NE(tok, nullptr);
  // "▁abc": bc(-2) outranks the leftmost ab(-3): ▁ a [bc]; "abc" is no token.
  EXPECT_EQ(tok->Encode("abc", false), (Ids{259, 260, 264}));
}

TEST(TokenizerSpmTest, BosAndEmptyText) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  EXPECT_TRUE(tok->Encode("", false).empty());
  EXPECT_EQ(tok->Encode("", true), (Ids{1}));
  // "he" -> "▁he": ▁ [he] after the BOS.
  EXPECT_EQ(tok->Encode("he", true), (Ids{1, 259, 267}));
  EXPECT_TRUE(tok->add_bos());
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
}

TEST(TokenizerSpmTest, UnknownCharactersFallBackToBytes) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  // "hé" -> ▁ h é; é (C3 A9) has no piece: <0xC3> <0xA9> = 3+0xC3, 3+0xA9.
  const Ids he_acute{259, 260, kByteBase + 0xC3, kByteBase + 0xA9};
  EXPECT_EQ(tok->Encode("h\xC3\xA9", false), he_acute);
  EXPECT_EQ(tok->Decode(he_acute), " h\xC3\xA9");
  // A newline has no piece either: <0x0A>.
  EXPECT_EQ(tok->Encode("\n", false), (Ids{259, kByteBase + 0x0A}));
  // An emoji (U+1F389, F0 9F 8E 89) is four byte tokens.
  EXPECT_EQ(tok->Encode("\xF0\x9F\x8E\x89", false),
            (Ids{259, kByteBase + 0xF0, kByteBase + 0x9F, kByteBase + 0x8E, kByteBase + 0x89}));
  // Ill-formed input still encodes, byte by byte, and decodes to the same bytes.
  EXPECT_EQ(tok->Encode("\xFF", false), (Ids{259, kByteBase + 0xFF}));
  EXPECT_EQ(tok->Decode(tok->Encode("\xFF\xC3", false)), " \xFF\xC3");
}

TEST(TokenizerSpmTest, WithoutByteTokensUnknownCharactersBecomeUnk) {
  // No byte tokens: the pieces start at id 3 (▁ 3, h 4, e 5, ...).
  auto tok = MustMake(SpmVocab(HelloPieces(), /*with_bytes=*/false));
  ASSERT_NE(tok, nullptr);
  // "hé" -> ▁ h <unk>: one <unk> for the whole character.
  EXPECT_EQ(tok->Encode("h\xC3\xA9", false), (Ids{3, 4, 0}));
  EXPECT_EQ(tok->Decode({3, 4, 0}), " h\u2047");
}

TEST(TokenizerSpmTest, WhitespaceRunsKeepEverySpace) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  // "he  ll" -> "▁he▁▁ll": ▁ [he] ▁ ▁ [ll] = 259 267 259 259 268.
  EXPECT_EQ(tok->Encode("he  ll", false), (Ids{259, 267, 259, 259, 268}));
  EXPECT_EQ(tok->Decode({259, 267, 259, 259, 268}), " he  ll");
  // Leading and trailing spaces: " he " -> "▁▁he▁".
  EXPECT_EQ(tok->Encode(" he ", false), (Ids{259, 259, 267, 259}));
}

TEST(TokenizerSpmTest, SpacePrefixCanBeTurnedOff) {
  VocabData v = SpmVocab(HelloPieces());
  v.add_space_prefix = false;
  auto tok = MustMake(std::move(v));
  ASSERT_NE(tok, nullptr);
  // "hello" without "▁": he, ll, llo, hello as above = 271.
  EXPECT_EQ(tok->Encode("hello", false), (Ids{271}));
}

TEST(TokenizerSpmTest, TokenBytes) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->TokenBytes(1), "");  // control
  EXPECT_EQ(tok->TokenBytes(2), "");
  EXPECT_TRUE(tok->IsControl(1));
  EXPECT_FALSE(tok->IsControl(272));
  EXPECT_EQ(tok->TokenBytes(kByteBase + 0x41), "A");
  EXPECT_EQ(tok->TokenBytes(kByteBase + 0x00), std::string(1, '\0'));
  EXPECT_EQ(tok->TokenBytes(272), " hello");
  EXPECT_EQ(tok->TokenText(272), "\u2581hello");
  EXPECT_EQ(tok->TokenBytes(-1), "");
  EXPECT_EQ(tok->TokenBytes(tok->vocab_size()), "");
  EXPECT_EQ(tok->TokenText(tok->vocab_size()), "");
}

TEST(TokenizerSpmTest, RoundTripsArbitraryText) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  for (const std::string text :
       {"hello world", "  leading and trailing  ", "tabs\tand\nnewlines\r\n",
        "caf\xC3\xA9 na\xC3\xAFve", "\xE4\xB8\xAD\xE6\x96\x87 \xE6\xB0\xB4",
        "emoji \xF0\x9F\x8E\x89\xF0\x9F\x98\x80!", "hellohello  wor ld"}) {
    EXPECT_EQ(tok->Decode(tok->Encode(text, false)), " " + text) << text;
    EXPECT_EQ(tok->Decode(tok->Encode(text, true)), " " + text) << text;  // BOS decodes to ""
  }
}

}  // namespace
}  // namespace tessera
