// SentencePiece-style BPE ("llama" vocabularies): spaces become "▁", then
// adjacent pieces merge greedily by vocabulary score; characters with no piece
// fall back to <0xXX> byte tokens.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer_base.h"

namespace tessera {

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(VocabData v);

  // Byte tokens give their byte, "▁" gives ' ', control and unused tokens give
  // "", the unknown token gives "⁇" (U+2047, SentencePiece's mark for it).
  std::string TokenBytes(int32_t id) const override;

 protected:
  void EncodeText(std::string_view text, bool after_special,
                  std::vector<int32_t>& out) const override;

 private:
  float Score(int32_t id) const;
  // A character no piece covers: its bytes as byte tokens when the vocabulary
  // has all of them, else the unknown token; dropped when there is neither.
  void EmitFallback(std::string_view unit, std::vector<int32_t>& out) const;

  TokenIndex pieces_;  // normal and user-defined tokens: what text may become
  std::array<int32_t, 256> byte_ids_;  // -1 where the vocabulary lacks <0xXX>
};

}  // namespace tessera
