// What the SentencePiece and byte-level BPE tokenizers share: the vocabulary,
// the special-token ids, and Encode's outer loop (BOS, special-token fragments).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"
#include "model/tokenizer_special.h"
#include "model/tokenizer_vocab.h"

namespace tessera {

class VocabTokenizer : public Tokenizer {
 public:
  // `v` must have passed ValidateVocabData.
  explicit VocabTokenizer(VocabData v);

  int32_t vocab_size() const override { return static_cast<int32_t>(v_.tokens.size()); }
  int32_t bos_id() const override { return v_.bos_id; }
  int32_t eos_id() const override { return v_.eos_id; }
  bool add_bos() const override { return v_.add_bos; }
  std::string_view TokenText(int32_t id) const override;
  bool IsControl(int32_t id) const override;
  std::vector<int32_t> Encode(std::string_view text, bool add_bos,
                              bool parse_special = false) const override;

 protected:
  // Appends the ids of a run of plain text (no special tokens in it).
  // `after_special` is true at the start of the input and right after a
  // special token: SentencePiece puts its space prefix there.
  virtual void EncodeText(std::string_view text, bool after_special,
                          std::vector<int32_t>& out) const = 0;

  const VocabData& vocab() const { return v_; }
  bool InRange(int32_t id) const { return id >= 0 && id < vocab_size(); }
  TokenType type(int32_t id) const { return v_.type(id); }

 private:
  VocabData v_;
  SpecialTokenMatcher specials_;
};

}  // namespace tessera
