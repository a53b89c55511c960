// Byte-level BPE ("gpt2" vocabularies): the GPT-2 pre-tokenizer splits the
// text, each piece's bytes become alphabet characters, and merges apply in rank
// order (the lowest-ranked adjacent pair first) until none applies.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "model/tokenizer_base.h"

namespace tessera {

class BpeTokenizer final : public VocabTokenizer {
 public:
  explicit BpeTokenizer(VocabData v);

  // Normal tokens map back through the GPT-2 alphabet; user-defined tokens
  // give their text; control and unused tokens give "".
  std::string TokenBytes(int32_t id) const override;

 protected:
  void EncodeText(std::string_view text, bool after_special,
                  std::vector<int32_t>& out) const override;

 private:
  void EncodeWord(std::string_view word, std::vector<int32_t>& out) const;

  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  absl::flat_hash_map<uint64_t, Merge> merges_;  // by (left id, right id)
  std::array<int32_t, 256> byte_ids_;            // -1 where the alphabet character is no token
};

}  // namespace tessera
