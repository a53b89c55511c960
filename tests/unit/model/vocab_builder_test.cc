// The builder's vocabularies: layout, determinism, uniqueness, and that they
// tokenize text the corpus never contained.
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/tokenizer.h"
#include "model/tokenizer_gpt2_bytes.h"
#include "model/tokenizer_pretokenize.h"
#include "model/utf8.h"
#include "model/vocab_builder.h"
#include "model/vocab_corpus.h"

namespace tessera {
namespace {

struct Case {
  const char* model;
  int32_t size;
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " " << c.size; }
};

class VocabBuilderSizesTest : public ::testing::TestWithParam<Case> {};

// Sentences written for this test, not taken from the corpus.
const std::vector<std::string>& ForeignTexts() {
  static const std::vector<std::string> texts = {
      "Quantum zebras juggle xylophones quietly.",
      "  two leading spaces, three trailing   ",
      "tabs\tand\nnewlines\r\n\n and \x01 control bytes \x7F",
      "na\xC3\xAFve r\xC3\xA9sum\xC3\xA9 for the stra\xC3\x9F" "e",
      "\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x81\xAF\xE5\xA4\xA7\xE3\x81\x8D\xE3\x81\x84",  // 東京は大きい
      "\xEC\x95\x88\xEB\x85\x95 \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",  // 안녕 Привет
      "emoji \xF0\x9F\x8E\x89\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!",
      "numbers 3.14159, 2**10 = 1024, -7e-3",
      "",
      " ",
  };
  return texts;
}

TEST_P(VocabBuilderSizesTest, LayoutIsValidUniqueAndExactSize) {
  const Case c = GetParam();
  absl::StatusOr<VocabData> v = BuildVocab(c.model, c.size);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->model, c.model);
  ASSERT_EQ(static_cast<int32_t>(v->tokens.size()), c.size);
  EXPECT_TRUE(ValidateVocabData(*v).ok());
  std::set<std::string> seen(v->tokens.begin(), v->tokens.end());
  EXPECT_EQ(seen.size(), v->tokens.size()) << "duplicate tokens";

  if (std::string(c.model) == "llama") {
    EXPECT_EQ(v->tokens[0], "<unk>");
    EXPECT_EQ(v->type(0), TokenType::kUnknown);
    EXPECT_EQ(v->tokens[1], "<s>");
    EXPECT_EQ(v->type(1), TokenType::kControl);
    EXPECT_EQ(v->tokens[2], "</s>");
    EXPECT_EQ(v->type(2), TokenType::kControl);
    EXPECT_EQ(v->unk_id, 0);
    EXPECT_EQ(v->bos_id, 1);
    EXPECT_EQ(v->eos_id, 2);
    for (int b = 0; b < 256; ++b) {
      EXPECT_EQ(v->type(3 + b), TokenType::kByte);
      EXPECT_EQ(ParseByteToken(v->tokens[3 + b]), b);
    }
    EXPECT_EQ(v->tokens[3 + 0x41], "<0x41>");
  } else {
    for (int b = 0; b < 256; ++b) {
      EXPECT_EQ(v->tokens[b], EncodeUtf8(Gpt2ByteToCodepoint(static_cast<uint8_t>(b))));
    }
    ASSERT_GE(v->eos_id, 256);
    EXPECT_EQ(v->eos_id, v->bos_id);
    EXPECT_EQ(v->tokens[v->eos_id], "<|endoftext|>");
    EXPECT_EQ(v->type(v->eos_id), TokenType::kControl);
    EXPECT_EQ(v->merges.size() >= static_cast<size_t>(v->eos_id - 256), true);
  }
}

TEST_P(VocabBuilderSizesTest, Deterministic) {
  const Case c = GetParam();
  absl::StatusOr<VocabData> a = BuildVocab(c.model, c.size);
  absl::StatusOr<VocabData> b = BuildVocab(c.model, c.size);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(a->scores, b->scores);
  EXPECT_EQ(a->types, b->types);
  EXPECT_EQ(a->merges, b->merges);
}

TEST_P(VocabBuilderSizesTest, TextOutsideTheCorpusRoundTrips) {
  const Case c = GetParam();
  absl::StatusOr<VocabData> v = BuildVocab(c.model, c.size);
  ASSERT_TRUE(v.ok());
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = MakeTokenizer(*v);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const bool llama = std::string(c.model) == "llama";
  for (const std::string& text : ForeignTexts()) {
    const std::vector<int32_t> ids = (*tok)->Encode(text, /*add_bos=*/true);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < c.size);
    const std::string expected = llama && !text.empty() ? " " + text : text;
    EXPECT_EQ((*tok)->Decode(ids), expected) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, VocabBuilderSizesTest,
                         ::testing::Values(Case{"llama", 260}, Case{"llama", 300},
                                           Case{"llama", 512}, Case{"llama", 8192},
                                           Case{"llama", 32000}, Case{"gpt2", 257},
                                           Case{"gpt2", 512}, Case{"gpt2", 8192},
                                           Case{"gpt2", 32000}),
                         [](const auto& info) {
                           return std::string(info.param.model) + "_" +
                                  std::to_string(info.param.size);
                         });

TEST(VocabBuilderTest, CorpusIsValidUtf8OfTheIntendedSize) {
  const std::string_view corpus = VocabCorpus();
  EXPECT_TRUE(IsValidUtf8(corpus));
  EXPECT_GE(corpus.size(), 20u * 1024);
  EXPECT_LE(corpus.size(), 60u * 1024);
}

TEST(VocabBuilderTest, RejectsBadArguments) {
  EXPECT_FALSE(BuildVocab("bert", 512).ok());
  EXPECT_FALSE(BuildVocab("llama", kMinLlamaVocab - 1).ok());
  EXPECT_FALSE(BuildVocab("gpt2", kMinGpt2Vocab - 1).ok());
  EXPECT_FALSE(BuildVocab("gpt2", kMaxBuiltVocab + 1).ok());
}

TEST(VocabBuilderTest, LlamaPieceScoresFallInMergeOrder) {
  absl::StatusOr<VocabData> v = BuildVocab("llama", 8192);
  ASSERT_TRUE(v.ok());
  // Learned pieces (normal tokens of more than one character) come in merge
  // order with scores -1, -2, ...; single characters score below all of them.
  float last = 0;
  float lowest_piece = 0;
  int pieces = 0;
  for (size_t i = 0; i < v->tokens.size(); ++i) {
    const std::string& t = v->tokens[i];
    if (v->type(static_cast<int32_t>(i)) != TokenType::kNormal) continue;
    if (Utf8CharLen(t, 0) == t.size()) continue;  // a single character
    EXPECT_LT(v->scores[i], last) << t;
    last = lowest_piece = v->scores[i];
    ++pieces;
  }
  EXPECT_GT(pieces, 1000);
  for (size_t i = 0; i < v->tokens.size(); ++i) {
    const std::string& t = v->tokens[i];
    if (v->type(static_cast<int32_t>(i)) == TokenType::kNormal && Utf8CharLen(t, 0) == t.size()) {
      EXPECT_LT(v->scores[i], lowest_piece) << t;
    }
  }
}

TEST(VocabBuilderTest, LearnedTokensEncodeToThemselves) {
  // Each learned token spells (part of) a corpus word, and encoding replays
  // the training merges on it: by rank for gpt2, by score for llama (scores
  // fall in merge order for exactly this), so its text encodes back to it.
  absl::StatusOr<VocabData> g = BuildVocab("gpt2", 8192);
  ASSERT_TRUE(g.ok());
  absl::StatusOr<std::unique_ptr<Tokenizer>> gt = MakeTokenizer(*g);
  ASSERT_TRUE(gt.ok());
  int checked = 0;
  for (int32_t id = 256; id < g->eos_id; ++id) {
    const std::string bytes = (*gt)->TokenBytes(id);
    // A token the pre-tokenizer would cut (e.g. "\n\n" before a word) is
    // never encoded whole.
    if (Gpt2PreTokenize(bytes).size() != 1) continue;
    EXPECT_EQ((*gt)->Encode(bytes, false), std::vector<int32_t>{id}) << bytes;
    ++checked;
  }
  EXPECT_GT(checked, 3000);

  absl::StatusOr<VocabData> l = BuildVocab("llama", 8192);
  ASSERT_TRUE(l.ok());
  l->add_space_prefix = false;  // pieces that start mid-word have no "▁"
  absl::StatusOr<std::unique_ptr<Tokenizer>> lt = MakeTokenizer(*l);
  ASSERT_TRUE(lt.ok());
  checked = 0;
  for (int32_t id = 0; id < static_cast<int32_t>(l->tokens.size()); ++id) {
    const std::string& text = l->tokens[id];
    if (l->type(id) != TokenType::kNormal || Utf8CharLen(text, 0) == text.size()) continue;
    EXPECT_EQ((*lt)->Encode((*lt)->TokenBytes(id), false), std::vector<int32_t>{id}) << text;
    ++checked;
  }
  EXPECT_GT(checked, 3000);
}

TEST(VocabBuilderTest, EnglishCompressesWell) {
  // A real vocabulary: ordinary English takes far fewer tokens than bytes.
  const std::string text =
      "The children walked along the river in the morning and then they went to the market "
      "to buy bread, apples and cheese before the weather turned cold.";
  for (const char* model : {"llama", "gpt2"}) {
    absl::StatusOr<VocabData> v = BuildVocab(model, 8192);
    ASSERT_TRUE(v.ok());
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = MakeTokenizer(*v);
    ASSERT_TRUE(tok.ok());
    EXPECT_LT((*tok)->Encode(text, false).size() * 4, text.size()) << model;
  }
}

}  // namespace
}  // namespace tessera
