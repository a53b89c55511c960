#include "model/tokenizer_vocab.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "model/utf8.h"

namespace tessera {
namespace {

namespace keys = tokenizer_keys;

absl::Status CheckId(const char* key, int32_t id, size_t n_tokens) {
  if (id == -1 || (id >= 0 && static_cast<size_t>(id) < n_tokens)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(key, " is ", id, " but the vocabulary has ",
                                                 n_tokens, " tokens"));
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

absl::Status ValidateMerges(const VocabData& v) {
  TokenIndex index;
  for (size_t i = 0; i < v.tokens.size(); ++i) index.Add(v.tokens[i], static_cast<int32_t>(i));
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    // Split at the first space after the first character, as llama.cpp does, so
    // a left part may itself start with a space.
    const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (space == std::string::npos || space + 1 >= m.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(keys::kMerges, "[", i, "] '", m, "' is not of the form 'left right'"));
    }
    const std::string_view left(m.data(), space);
    const std::string_view right(m.data() + space + 1, m.size() - space - 1);
    for (std::string_view part : {left, right}) {
      if (index.Find(part) < 0) {
        return absl::InvalidArgumentError(absl::StrCat(keys::kMerges, "[", i, "] '", m,
                                                       "' refers to '", std::string(part),
                                                       "', which is not a token"));
      }
    }
    if (index.Find(std::string(left) + std::string(right)) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(keys::kMerges, "[", i, "] '", m,
                                                     "' makes a string that is not a token"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int ParseByteToken(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  const int hi = HexDigit(text[3]);
  const int lo = HexDigit(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string ByteTokenText(uint8_t b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string{'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
}

absl::Status ValidateVocabData(const VocabData& v) {
  if (v.model != "llama" && v.model != "gpt2") {
    return absl::InvalidArgumentError(absl::StrCat(keys::kModel, ": tokenizer model '", v.model,
                                                   "' is not supported (expected llama or gpt2)"));
  }
  const size_t n = v.tokens.size();
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(keys::kTokens, " is empty"));
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(keys::kTokens, " has too many entries: ", n));
  }
  if (!v.scores.empty() && v.scores.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(keys::kScores, " has ", v.scores.size(),
                                                   " entries but ", keys::kTokens, " has ", n));
  }
  if (!v.types.empty() && v.types.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(keys::kTokenType, " has ", v.types.size(),
                                                   " entries but ", keys::kTokens, " has ", n));
  }
  for (size_t i = 0; i < v.scores.size(); ++i) {
    // A NaN would break the strict ordering the merge queue depends on.
    if (!std::isfinite(v.scores[i])) {
      return absl::InvalidArgumentError(absl::StrCat(keys::kScores, "[", i, "] is not finite"));
    }
  }
  for (size_t i = 0; i < v.types.size(); ++i) {
    if (v.types[i] < 1 || v.types[i] > 6) {
      return absl::InvalidArgumentError(absl::StrCat(keys::kTokenType, "[", i, "] is ",
                                                     v.types[i], " (expected 1..6)"));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!IsValidUtf8(v.tokens[i])) {
      return absl::InvalidArgumentError(absl::StrCat(keys::kTokens, "[", i, "] is not valid UTF-8"));
    }
    if (v.type(static_cast<int32_t>(i)) == TokenType::kByte && ParseByteToken(v.tokens[i]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(keys::kTokens, "[", i, "] '", v.tokens[i],
                                                     "' has the byte type but is not <0xXX>"));
    }
  }
  for (auto [key, id] : {std::pair{keys::kBos, v.bos_id}, std::pair{keys::kEos, v.eos_id},
                         std::pair{keys::kUnk, v.unk_id}, std::pair{keys::kPad, v.pad_id}}) {
    if (absl::Status s = CheckId(key, id, n); !s.ok()) return s;
  }
  if (v.model == "gpt2") return ValidateMerges(v);
  return absl::OkStatus();
}

}  // namespace tessera
