#include "model/tokenizer_bpe.h"

#include <queue>
#include <utility>

#include "model/tokenizer_gpt2_bytes.h"
#include "model/tokenizer_pretokenize.h"
#include "model/utf8.h"

namespace tessera {
namespace {

struct Symbol {
  int32_t id;  // -1: a byte the vocabulary cannot spell
  int prev;
  int next;
  bool dead;   // merged into the symbol on its left
};

struct Candidate {
  int32_t rank;
  int left;
  int right;
  int32_t left_id;   // the ids when queued: a mismatch later means stale
  int32_t right_id;
  int32_t result;
};

// Best first: the lowest rank, then the leftmost pair.
struct CandidateOrder {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.left > b.left;
  }
};

}  // namespace

BpeTokenizer::BpeTokenizer(VocabData v) : VocabTokenizer(std::move(v)) {
  TokenIndex index;
  for (int32_t id = 0; id < vocab_size(); ++id) index.Add(vocab().tokens[id], id);
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = index.Find(EncodeUtf8(Gpt2ByteToCodepoint(static_cast<uint8_t>(b))));
  }
  const std::vector<std::string>& merges = vocab().merges;
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    // Validated: "left right" with both parts and their concatenation tokens.
    const std::string& m = merges[rank];
    const size_t space = m.find(' ', 1);
    const std::string_view left(m.data(), space);
    const std::string_view right(m.data() + space + 1, m.size() - space - 1);
    const int32_t result = index.Find(std::string(left) + std::string(right));
    merges_.try_emplace(PairKey(index.Find(left), index.Find(right)),
                        Merge{static_cast<int32_t>(rank), result});
  }
}

void BpeTokenizer::EncodeText(std::string_view text, bool /*after_special*/,
                              std::vector<int32_t>& out) const {
  for (std::string_view word : Gpt2PreTokenize(text)) EncodeWord(word, out);
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const int index = static_cast<int>(i);
    sym.push_back({byte_ids_[static_cast<uint8_t>(word[i])], index - 1,
                   i + 1 < word.size() ? index + 1 : -1, false});
  }

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> queue;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0 || sym[left].id < 0 || sym[right].id < 0) return;
    const auto it = merges_.find(PairKey(sym[left].id, sym[right].id));
    if (it != merges_.end()) {
      queue.push({it->second.rank, left, right, sym[left].id, sym[right].id, it->second.result});
    }
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    Symbol& r = sym[c.right];
    if (l.dead || r.dead || l.next != c.right || l.id != c.left_id || r.id != c.right_id) continue;
    l.id = c.result;
    r.dead = true;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    try_add(l.prev, c.left);
    try_add(c.left, l.next);
  }

  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0) {
      out.push_back(sym[i].id);
    } else if (vocab().unk_id >= 0) {
      out.push_back(vocab().unk_id);
    }
  }
}

std::string BpeTokenizer::TokenBytes(int32_t id) const {
  if (!InRange(id)) return "";
  const std::string& text = vocab().tokens[id];
  switch (type(id)) {
    case TokenType::kControl:
    case TokenType::kUnused:
      return "";
    case TokenType::kUserDefined:
      return text;
    case TokenType::kByte: {
      const int b = ParseByteToken(text);
      return std::string(1, static_cast<char>(b));
    }
    case TokenType::kNormal:
    case TokenType::kUnknown:
      break;
  }
  return Gpt2DecodeText(text);
}

}  // namespace tessera
