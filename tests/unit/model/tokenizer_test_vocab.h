// Hand-made vocabularies for the tokenizer tests. Ids are laid out so the tests
// can work out expected encodings by hand.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "model/tokenizer.h"
#include "model/tokenizer_gpt2_bytes.h"
#include "model/tokenizer_vocab.h"
#include "model/utf8.h"

namespace tessera::test_vocab {

inline constexpr int32_t kUnk = 0, kBos = 1, kEos = 2;
inline constexpr int32_t kByteBase = 3;       // <0xXX> is id 3 + 0xXX when bytes are present
inline constexpr int32_t kSpmPieceBase = 259;  // the first piece after the byte tokens

// llama layout: 0 <unk>, 1 <s>, 2 </s>, then (with_bytes) <0x00>..<0xFF>, then
// `pieces` (text, score) in order.
inline VocabData SpmVocab(const std::vector<std::pair<std::string, float>>& pieces,
                          bool with_bytes = true) {
  VocabData v;
  v.model = "llama";
  const auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  if (with_bytes) {
    for (int b = 0; b < 256; ++b) add(ByteTokenText(static_cast<uint8_t>(b)), 0, TokenType::kByte);
  }
  for (const auto& [text, score] : pieces) add(text, score, TokenType::kNormal);
  v.unk_id = kUnk;
  v.bos_id = kBos;
  v.eos_id = kEos;
  return v;
}

// The pieces most SPM tests use; with byte tokens, piece i has id 259 + i:
//   259 ▁   260 h   261 e   262 l   263 o   264 w   265 r   266 d
//   267 he (-1)   268 ll (-2)   269 lo (-3)   270 llo (-4)   271 hello (-5)
//   272 ▁hello (-6)   273 hell (-7)   274 ▁w (-8)   275 or (-9)   276 ▁wor (-9.5)
//   277 a (-20)   278 aa (-0.5)
inline std::vector<std::pair<std::string, float>> HelloPieces() {
  return {{"\u2581", -10}, {"h", -11},      {"e", -12},       {"l", -13},     {"o", -14},
          {"w", -15},      {"r", -16},      {"d", -17},       {"he", -1},     {"ll", -2},
          {"lo", -3},      {"llo", -4},     {"hello", -5},    {"\u2581hello", -6},
          {"hell", -7},    {"\u2581w", -8}, {"or", -9},       {"\u2581wor", -9.5f},
          {"a", -20},      {"aa", -0.5f}};
}

// gpt2 layout: ids 0..255 are the GPT-2 alphabet characters of bytes 0..255,
// then the tokens the merges make, in merge order, then <|endoftext|>.
inline VocabData Gpt2Vocab(const std::vector<std::pair<std::string, std::string>>& merges) {
  VocabData v;
  v.model = "gpt2";
  v.add_bos = false;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(EncodeUtf8(Gpt2ByteToCodepoint(static_cast<uint8_t>(b))));
  for (const auto& [left, right] : merges) {
    v.tokens.push_back(left + right);
    v.merges.push_back(left + " " + right);
  }
  v.types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  v.tokens.push_back("<|endoftext|>");
  v.types.push_back(static_cast<int32_t>(TokenType::kControl));
  v.bos_id = v.eos_id = static_cast<int32_t>(v.tokens.size()) - 1;
  return v;
}

inline std::unique_ptr<Tokenizer> MustMake(VocabData v) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = MakeTokenizer(std::move(v));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

}  // namespace tessera::test_vocab
