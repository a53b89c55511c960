// Tokenizers read from GGUF metadata: a built vocabulary written with
// WriteVocab through GgufWriter and read back with GgufFile::FromBytes, and
// malformed tokenizer metadata that must fail with the key named.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/tokenizer.h"
#include "model/vocab_builder.h"
#include "tests/unit/model/tokenizer_test_vocab.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
namespace keys = tokenizer_keys;

absl::StatusOr<std::unique_ptr<GgufFile>> Reread(const GgufWriter& w) {
  absl::StatusOr<std::vector<uint8_t>> bytes = w.Serialize();
  if (!bytes.ok()) return bytes.status();
  return GgufFile::FromBytes(std::move(*bytes));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> TokenizerFrom(const GgufWriter& w) {
  absl::StatusOr<std::unique_ptr<GgufFile>> f = Reread(w);
  if (!f.ok()) return f.status();
  return Tokenizer::FromGguf(**f);
}

class TokenizerGgufRoundTripTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerGgufRoundTripTest, WrittenVocabularyReadsBackTheSame) {
  const std::string model = GetParam();
  absl::StatusOr<VocabData> v = BuildVocab(model, 512);
  ASSERT_TRUE(v.ok()) << v.status();
  GgufWriter w;
  WriteVocab(*v, w);
  absl::StatusOr<std::unique_ptr<GgufFile>> f = Reread(w);
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<VocabData> read = ReadVocabData(**f);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->model, v->model);
  EXPECT_EQ(read->tokens, v->tokens);
  EXPECT_EQ(read->scores, v->scores);
  EXPECT_EQ(read->types, v->types);
  EXPECT_EQ(read->merges, v->merges);
  EXPECT_EQ(read->bos_id, v->bos_id);
  EXPECT_EQ(read->eos_id, v->eos_id);
  EXPECT_EQ(read->unk_id, v->unk_id);
  EXPECT_EQ(read->add_bos, v->add_bos);
  EXPECT_EQ((*f)->GetString(keys::kModel).value_or(""), model);

  absl::StatusOr<std::unique_ptr<Tokenizer>> from_file = Tokenizer::FromGguf(**f);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> direct = MakeTokenizer(*v);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ((*from_file)->vocab_size(), 512);
  EXPECT_EQ((*from_file)->bos_id(), v->bos_id);
  EXPECT_EQ((*from_file)->eos_id(), v->eos_id);
  for (const std::string text : {"The river rises in spring.", "caf\xC3\xA9 \xE6\xB0\xB4 \xF0\x9F\x8E\x89",
                                 "  spaced\tout\n", ""}) {
    const std::vector<int32_t> ids = (*from_file)->Encode(text, true);
    EXPECT_EQ(ids, (*direct)->Encode(text, true)) << text;
    const std::string expected = model == "llama" && !text.empty() ? " " + text : text;
    EXPECT_EQ((*from_file)->Decode(ids), expected) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TokenizerGgufRoundTripTest, ::testing::Values("llama", "gpt2"));

// A small valid llama tokenizer, for the malformed variants below to break.
void WriteSmallLlama(GgufWriter& w) {
  const VocabData v = test_vocab::SpmVocab({{"\u2581", -1}, {"a", -2}}, /*with_bytes=*/false);
  WriteVocab(v, w);
}

absl::Status ErrorOf(const GgufWriter& w) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = TokenizerFrom(w);
  return tok.ok() ? absl::OkStatus() : tok.status();
}

TEST(TokenizerGgufTest, SmallValidTokenizerLoads) {
  GgufWriter w;
  WriteSmallLlama(w);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = TokenizerFrom(w);
  ASSERT_TRUE(tok.ok()) << tok.status();
  // "aa" -> "▁aa": no merges in this vocabulary: ▁ a a = 3 4 4.
  EXPECT_EQ((*tok)->Encode("aa", false), (std::vector<int32_t>{3, 4, 4}));
}

TEST(TokenizerGgufTest, ScoresLengthMismatch) {
  GgufWriter w;
  WriteSmallLlama(w);
  w.SetFloat32Array(keys::kScores, {0, 0, 0, -1});  // five tokens
  const absl::Status s = ErrorOf(w);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(keys::kScores));
}

TEST(TokenizerGgufTest, ScoresOfTheWrongType) {
  GgufWriter w;
  WriteSmallLlama(w);
  w.SetInt32Array(keys::kScores, {0, 0, 0, -1, -2});
  const absl::Status s = ErrorOf(w);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(keys::kScores));
}

TEST(TokenizerGgufTest, BosIdOutOfRange) {
  GgufWriter w;
  WriteSmallLlama(w);
  w.SetUint32(keys::kBos, 5);  // ids are 0..4
  const absl::Status s = ErrorOf(w);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(keys::kBos));
}

TEST(TokenizerGgufTest, TokenTypeOutOfRangeAndLengthMismatch) {
  {
    GgufWriter w;
    WriteSmallLlama(w);
    w.SetInt32Array(keys::kTokenType, {2, 3, 3, 1, 9});
    EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kTokenType));
  }
  {
    GgufWriter w;
    WriteSmallLlama(w);
    w.SetInt32Array(keys::kTokenType, {2, 3, 3, 1});
    EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kTokenType));
  }
}

TEST(TokenizerGgufTest, ByteTypedTokenMustBeSpelledAsAByte) {
  GgufWriter w;
  WriteSmallLlama(w);
  w.SetInt32Array(keys::kTokenType, {2, 3, 3, 1, 6});  // "a" typed as a byte
  EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kTokens));
}

TEST(TokenizerGgufTest, MissingOrUnknownModel) {
  {
    GgufWriter w;
    w.SetStringArray(keys::kTokens, {"a"});
    const absl::Status s = ErrorOf(w);
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(s.message(), HasSubstr(keys::kModel));
  }
  {
    GgufWriter w;
    WriteSmallLlama(w);
    w.SetString(keys::kModel, "bert");
    EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kModel));
  }
}

TEST(TokenizerGgufTest, MissingTokens) {
  GgufWriter w;
  w.SetString(keys::kModel, "llama");
  EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kTokens));
}

TEST(TokenizerGgufTest, Gpt2MergesMustReferToTokens) {
  // ids: 256 "he", 257 <|endoftext|>.
  const VocabData v = test_vocab::Gpt2Vocab({{"h", "e"}});
  {
    GgufWriter w;
    WriteVocab(v, w);
    EXPECT_TRUE(ErrorOf(w).ok()) << ErrorOf(w);
  }
  {
    GgufWriter w;
    WriteVocab(v, w);
    w.SetStringArray(keys::kMerges, {"h e", "he llo"});  // "llo" is no token
    EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kMerges));
  }
  {
    GgufWriter w;
    WriteVocab(v, w);
    w.SetStringArray(keys::kMerges, {"he"});  // no space
    EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kMerges));
  }
  {
    GgufWriter w;
    WriteVocab(v, w);
    w.SetString(keys::kPre, "llama-bpe");  // a pre-tokenizer tessera does not implement
    EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kPre));
  }
}

TEST(TokenizerGgufTest, InvalidUtf8Token) {
  GgufWriter w;
  WriteSmallLlama(w);
  w.SetStringArray(keys::kTokens, {"<unk>", "<s>", "</s>", "\u2581", "\xC3"});
  EXPECT_THAT(ErrorOf(w).message(), HasSubstr(keys::kTokens));
}

TEST(TokenizerGgufTest, LlamaDefaultsWhenIdKeysAreMissing) {
  // Without the id keys, llama.cpp's <unk>=0, <s>=1, </s>=2 apply because the
  // tokens there have the fitting types; add_bos defaults to true.
  const VocabData v = test_vocab::SpmVocab({{"\u2581", -1}, {"a", -2}}, false);
  GgufWriter w;
  w.SetString(keys::kModel, "llama");
  w.SetStringArray(keys::kTokens, v.tokens);
  w.SetFloat32Array(keys::kScores, v.scores);
  w.SetInt32Array(keys::kTokenType, v.types);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = TokenizerFrom(w);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  EXPECT_TRUE((*tok)->add_bos());
  // The unknown character "b" becomes <unk> (no byte tokens here): ▁ <unk>.
  EXPECT_EQ((*tok)->Encode("b", false), (std::vector<int32_t>{3, 0}));
}

}  // namespace
}  // namespace tessera
