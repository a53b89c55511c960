// Special tokens written literally in text: recognised only with parse_special.
#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/tokenizer.h"
#include "model/tokenizer_special.h"
#include "tests/unit/model/tokenizer_test_vocab.h"

namespace tessera {
namespace {

using ::tessera::test_vocab::Gpt2Vocab;
using ::tessera::test_vocab::HelloPieces;
using ::tessera::test_vocab::kByteBase;
using ::tessera::test_vocab::MustMake;
using ::tessera::test_vocab::SpmVocab;
using Ids = std::vector<int32_t>;

std::vector<std::pair<std::string, int32_t>> Parts(const SpecialTokenMatcher& m, std::string_view text) {
  std::vector<std::pair<std::string, int32_t>> out;
  for (const auto& f : m.Split(text)) out.emplace_back(std::string(f.text), f.id);
  return out;
}

TEST(TokenizerSpecialTest, MatcherTakesTheLongestTokenAtEachPosition) {
  SpecialTokenMatcher m;
  m.Add("<s>", 1);
  m.Add("</s>", 2);
  m.Add("<s>x", 7);
  m.Add("", 9);  // ignored: it would match everywhere
  using P = std::vector<std::pair<std::string, int32_t>>;
  EXPECT_EQ(Parts(m, "a<s>b</s>"), (P{{"a", -1}, {"<s>", 1}, {"b", -1}, {"</s>", 2}}));
  EXPECT_EQ(Parts(m, "<s>xy"), (P{{"<s>x", 7}, {"y", -1}}));
  EXPECT_EQ(Parts(m, "<s><s>"), (P{{"<s>", 1}, {"<s>", 1}}));
  EXPECT_EQ(Parts(m, "<s"), (P{{"<s", -1}}));  // a prefix at the end is plain text
  EXPECT_TRUE(Parts(m, "").empty());
}

TEST(TokenizerSpecialTest, MatcherPrefersTheLowestIdForEqualTexts) {
  SpecialTokenMatcher m;
  m.Add("<x>", 5);
  m.Add("<x>", 3);
  ASSERT_EQ(m.Split("<x>").size(), 1u);
  EXPECT_EQ(m.Split("<x>")[0].id, 3);
}

TEST(TokenizerSpecialTest, SpmParsesControlTokensOnlyWhenAsked) {
  auto tok = MustMake(SpmVocab(HelloPieces()));
  ASSERT_NE(tok, nullptr);
  // <s>, then "hello" which starts a fragment after a special token and so gets
  // the "▁" prefix: [▁hello] = 272, then </s>.
  EXPECT_EQ(tok->Encode("<s>hello</s>", false, /*parse_special=*/true), (Ids{1, 272, 2}));
  // Unparsed, the text is spelled out: "▁<s>hello</s>" with < s > / as byte
  // tokens (no pieces for them) and "hello" merging to 271 (no "▁" before it).
  const int b = kByteBase;
  EXPECT_EQ(tok->Encode("<s>hello</s>", false, /*parse_special=*/false),
            (Ids{259, b + '<', b + 's', b + '>', 271, b + '<', b + '/', b + 's', b + '>'}));
  // Text after a special token gets the prefix; text after text does not.
  EXPECT_EQ(tok->Encode("he</s>he", false, true), (Ids{259, 267, 2, 259, 267}));
}

TEST(TokenizerSpecialTest, UserDefinedTokensAreSpecialToo) {
  VocabData v = SpmVocab(HelloPieces());
  v.tokens.push_back("<|tool|>");
  v.scores.push_back(0);
  v.types.push_back(static_cast<int32_t>(TokenType::kUserDefined));
  const int32_t tool = static_cast<int32_t>(v.tokens.size()) - 1;
  auto tok = MustMake(std::move(v));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Encode("<|tool|>", false, true), (Ids{tool}));
  EXPECT_EQ(tok->TokenBytes(tool), "<|tool|>");  // user-defined tokens are text
  EXPECT_FALSE(tok->IsControl(tool));
}

TEST(TokenizerSpecialTest, Gpt2EndOfText) {
  // ids: 256 "he" (merge h e), 257 <|endoftext|>.
  auto tok = MustMake(Gpt2Vocab({{"h", "e"}}));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Encode("he<|endoftext|>he", false, true), (Ids{256, 257, 256}));
  const Ids spelled = tok->Encode("he<|endoftext|>he", false, false);
  EXPECT_EQ(std::count(spelled.begin(), spelled.end(), 257), 0);
  EXPECT_EQ(tok->Decode(spelled), "he<|endoftext|>he");
  EXPECT_EQ(tok->Decode({256, 257, 256}), "hehe");  // control tokens decode to nothing
}

}  // namespace
}  // namespace tessera
