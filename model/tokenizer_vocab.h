// The plain data a tokenizer is built from: the tokenizer.ggml.* metadata of a
// GGUF file, held in vectors so tokenizers can be built and tested without one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/gguf_file.h"
#include "model/tokenizer.h"

namespace tessera {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// GGUF key names, shared by the reader, the writer and the error messages.
namespace tokenizer_keys {
inline constexpr char kModel[] = "tokenizer.ggml.model";
inline constexpr char kPre[] = "tokenizer.ggml.pre";
inline constexpr char kTokens[] = "tokenizer.ggml.tokens";
inline constexpr char kScores[] = "tokenizer.ggml.scores";
inline constexpr char kTokenType[] = "tokenizer.ggml.token_type";
inline constexpr char kMerges[] = "tokenizer.ggml.merges";
inline constexpr char kBos[] = "tokenizer.ggml.bos_token_id";
inline constexpr char kEos[] = "tokenizer.ggml.eos_token_id";
inline constexpr char kUnk[] = "tokenizer.ggml.unknown_token_id";
inline constexpr char kPad[] = "tokenizer.ggml.padding_token_id";
inline constexpr char kAddBos[] = "tokenizer.ggml.add_bos_token";
inline constexpr char kAddEos[] = "tokenizer.ggml.add_eos_token";
inline constexpr char kAddSpacePrefix[] = "tokenizer.ggml.add_space_prefix";
}  // namespace tokenizer_keys

struct VocabData {
  std::string model;                 // "llama" (SentencePiece style) or "gpt2" (byte-level BPE)
  std::vector<std::string> tokens;
  std::vector<float> scores;         // empty (all 0) or one per token; drives llama merges
  std::vector<int32_t> types;        // empty (all normal) or one TokenType per token
  std::vector<std::string> merges;   // gpt2: "left right", best (lowest rank) first
  int32_t bos_id = -1;               // -1: none
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = true;               // what callers are advised to pass to Encode
  bool add_space_prefix = true;      // llama: prefix "▁" to text that starts a fragment

  TokenType type(int32_t id) const {
    return types.empty() ? TokenType::kNormal : static_cast<TokenType>(types[id]);
  }
};

// Checks everything a tokenizer relies on: a known model, array lengths that
// agree, type values 1..6, ids in range, tokens that are valid UTF-8, byte
// tokens spelled <0xXX>, merges "a b" whose parts and result are tokens.
// Errors name the GGUF key at fault.
absl::Status ValidateVocabData(const VocabData& v);

// Reads the tokenizer.ggml.* keys of `file` and validates the result.
// Defaults: add_bos_token true for llama, false for gpt2; add_space_prefix
// true for llama; a llama file without id keys gets <unk>=0, <s>=1, </s>=2
// where those tokens have the fitting types (as llama.cpp assumes). gpt2
// needs merges, and tokenizer.ggml.pre absent or "gpt2".
absl::StatusOr<VocabData> ReadVocabData(const GgufFile& file);

// Validates `v` and builds its tokenizer.
absl::StatusOr<std::unique_ptr<Tokenizer>> MakeTokenizer(VocabData v);

// Token text -> id; where a text repeats, the lowest id wins.
class TokenIndex {
 public:
  void Add(std::string_view text, int32_t id) { map_.try_emplace(std::string(text), id); }
  int32_t Find(std::string_view text) const {
    auto it = map_.find(absl::string_view(text.data(), text.size()));
    return it == map_.end() ? -1 : it->second;
  }

 private:
  absl::flat_hash_map<std::string, int32_t> map_;
};

// "<0x41>" -> 0x41; -1 for anything else.
int ParseByteToken(std::string_view text);
// 0x41 -> "<0x41>" (two upper-case hex digits).
std::string ByteTokenText(uint8_t b);

}  // namespace tessera
