// The size check on text prompts before they are tokenized
// (MaxInputBytesPerToken in request_validator.h): it must never refuse a
// text that fits, and must refuse one too long to fit without tokenizing it.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/request_validator.h"
#include "gtest/gtest.h"
#include "model/model.h"
#include "model/model_maker.h"
#include "tests/unit/coordinator/counting_tokenizer.h"
#include "tests/unit/coordinator/test_cluster.h"

namespace tessera::testing {
namespace {

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Texts of every kind a tokenizer treats differently, short and long.
std::vector<std::string> Corpus(const Tokenizer& tok) {
  int32_t longest = 0;
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (tok.TokenText(id).size() > tok.TokenText(longest).size() && !tok.IsControl(id)) longest = id;
  }
  std::vector<std::string> out = {"hello world", "a", " ", "\n\n", "x y z"};
  for (int n : {1, 3, 10, 40, 200}) {
    out.push_back(Repeat("The quick brown fox jumps over the lazy dog. ", n));
    out.push_back(Repeat("\xE2\x96\x81", n));  // SentencePiece's own space, written literally
    out.push_back(Repeat("    ", n));
    out.push_back(Repeat("\xff\xfe", n));  // not UTF-8
    out.push_back(Repeat("h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC ", n));
    out.push_back(Repeat(tok.TokenBytes(longest), n));
    out.push_back(Repeat(std::string(tok.TokenText(longest)), n));
    out.push_back(Repeat("0123456789", n));
  }
  return out;
}

std::unique_ptr<Model> Gpt2Model() {
  const std::string path = ::testing::TempDir() + "/tessera_prompt_size_gpt2_" + std::to_string(::getpid()) + ".gguf";
  ModelSpec spec;
  spec.tokenizer = "gpt2";
  EXPECT_TRUE(MakeModelFile(spec, path).ok());
  auto m = LoadModel(path);
  std::remove(path.c_str());
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

void ExpectBoundHolds(const Tokenizer& tok, const char* kind) {
  const int64_t per_token = MaxInputBytesPerToken(tok);
  EXPECT_GE(per_token, 4) << kind;
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    EXPECT_LE(static_cast<int64_t>(tok.TokenBytes(id).size()), per_token) << kind << " token " << id;
  }
  for (const std::string& text : Corpus(tok)) {
    const int64_t tokens = static_cast<int64_t>(tok.Encode(text, /*add_bos=*/false).size());
    EXPECT_GE(tokens * per_token, static_cast<int64_t>(text.size()))
        << kind << ": " << text.size() << " bytes encode to " << tokens << " tokens of at most " << per_token
        << " bytes each";
  }
}

TEST(PromptSize, NoTokenStandsForMoreBytesThanTheBoundSentencePiece) {
  ExpectBoundHolds(*Reference().tokenizer, "llama");
}

TEST(PromptSize, NoTokenStandsForMoreBytesThanTheBoundByteLevelBpe) {
  const std::unique_ptr<Model> gpt2 = Gpt2Model();
  ASSERT_NE(gpt2, nullptr);
  ExpectBoundHolds(*gpt2->tokenizer, "gpt2");
}

TEST(PromptSize, ATextIsRefusedUntokenizedOnlyWhenItCannotFit) {
  CountingTokenizer& tok = Counter();
  RequestLimits limits;
  limits.vocab_size = tok.vocab_size();
  limits.context_length = 64;
  limits.max_bytes_per_token = MaxInputBytesPerToken(tok);
  const int64_t bos = tok.add_bos() && tok.bos_id() >= 0 ? 1 : 0;
  int refused_untokenized = 0;
  for (const std::string& text : Corpus(tok)) {
    const int64_t tokens = static_cast<int64_t>(tok.Encode(text, tok.add_bos()).size());
    for (int max_tokens : {1, 10, 60}) {
      proto::GenerateRequest g;
      g.set_request_id("r");
      g.set_prompt(text);
      g.set_max_tokens(max_tokens);
      const int encodes = tok.encodes;
      const absl::StatusOr<ValidatedRequest> v = ValidateGenerateRequest(g, tok, limits);
      const bool fits = tokens > 0 && tokens + max_tokens - 1 <= limits.context_length;
      EXPECT_EQ(v.ok(), fits) << text.size() << " bytes, " << tokens << " tokens, max_tokens " << max_tokens << ": "
                              << v.status();
      const int64_t text_room = limits.context_length - (max_tokens - 1) - bos;
      if (static_cast<int64_t>(text.size()) > text_room * limits.max_bytes_per_token) {
        EXPECT_EQ(tok.encodes, encodes) << text.size() << " bytes were tokenized";
        EXPECT_NE(std::string(v.status().message()).find(" bytes; no token of this model"), std::string::npos)
            << v.status();
        ++refused_untokenized;
      } else {
        EXPECT_EQ(tok.encodes, encodes + 1);
      }
    }
  }
  EXPECT_GT(refused_untokenized, 10);  // the corpus reaches past the bound

  // The kind of prompt that stalled the coordinator: 15 MiB of text.
  proto::GenerateRequest huge;
  huge.set_request_id("huge");
  huge.set_prompt(std::string(15u << 20, 'a'));
  huge.set_max_tokens(4);
  const int encodes = tok.encodes;
  const absl::StatusOr<ValidatedRequest> v = ValidateGenerateRequest(huge, tok, limits);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tok.encodes, encodes);
}

TEST(PromptSize, TheLargestReadyGroupsKvCacheBoundsTheTextToo) {
  CountingTokenizer& tok = Counter();
  RequestLimits limits;
  limits.vocab_size = tok.vocab_size();
  limits.context_length = 512;
  limits.kv_blocks = 1;  // 16 positions
  limits.kv_block_size = 16;
  limits.max_bytes_per_token = MaxInputBytesPerToken(tok);
  proto::GenerateRequest g;
  g.set_request_id("r");
  // 16 positions, max_tokens 1, BOS: at most 15 text tokens.
  g.set_prompt(std::string(static_cast<size_t>(15 * limits.max_bytes_per_token + 1), 'a'));
  g.set_max_tokens(1);
  const int encodes = tok.encodes;
  const absl::StatusOr<ValidatedRequest> v = ValidateGenerateRequest(g, tok, limits);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(tok.encodes, encodes);
  EXPECT_NE(std::string(v.status().message()).find("at most 16 prompt tokens fit"), std::string::npos)
      << v.status();
}

}  // namespace
}  // namespace tessera::testing
