#include "model/tokenizer_base.h"

#include <utility>

namespace tessera {

VocabTokenizer::VocabTokenizer(VocabData v) : v_(std::move(v)) {
  for (int32_t id = 0; id < vocab_size(); ++id) {
    const TokenType t = type(id);
    if (t == TokenType::kControl || t == TokenType::kUserDefined) specials_.Add(v_.tokens[id], id);
  }
}

std::string_view VocabTokenizer::TokenText(int32_t id) const {
  return InRange(id) ? std::string_view(v_.tokens[id]) : std::string_view();
}

bool VocabTokenizer::IsControl(int32_t id) const {
  return InRange(id) && type(id) == TokenType::kControl;
}

std::vector<int32_t> VocabTokenizer::Encode(std::string_view text, bool add_bos,
                                            bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && v_.bos_id >= 0) out.push_back(v_.bos_id);
  if (!parse_special || specials_.empty()) {
    if (!text.empty()) EncodeText(text, /*after_special=*/true, out);
    return out;
  }
  bool after_special = true;
  for (const SpecialTokenMatcher::Fragment& f : specials_.Split(text)) {
    if (f.id >= 0) {
      out.push_back(f.id);
      after_special = true;
    } else {
      EncodeText(f.text, after_special, out);
      after_special = false;
    }
  }
  return out;
}

}  // namespace tessera
