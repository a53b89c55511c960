#include "model/tokenizer_spm.h"

#include <queue>
#include <utility>

#include "model/utf8.h"

namespace tessera {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

struct Symbol {
  size_t start;  // into the normalised text
  size_t len;    // 0 once merged into the symbol on its left
  int prev;
  int next;
};

struct Bigram {
  float score;
  int left;
  int right;
  size_t len;  // left.len + right.len when queued: a mismatch later means stale
};

// Best first: the highest score, then the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(VocabData v) : VocabTokenizer(std::move(v)) {
  byte_ids_.fill(-1);
  for (int32_t id = 0; id < vocab_size(); ++id) {
    const TokenType t = type(id);
    if (t == TokenType::kNormal || t == TokenType::kUserDefined) {
      pieces_.Add(vocab().tokens[id], id);
    } else if (t == TokenType::kByte) {
      const int b = ParseByteToken(vocab().tokens[id]);
      if (byte_ids_[b] < 0) byte_ids_[b] = id;
    }
  }
}

float SpmTokenizer::Score(int32_t id) const {
  return vocab().scores.empty() ? 0.0f : vocab().scores[id];
}

void SpmTokenizer::EncodeText(std::string_view text, bool after_special,
                              std::vector<int32_t>& out) const {
  std::string norm;
  norm.reserve(text.size() + text.size() / 4 + kSpace.size());
  if (vocab().add_space_prefix && after_special) norm.append(kSpace);
  for (char c : text) {
    if (c == ' ') {
      norm.append(kSpace);
    } else {
      norm.push_back(c);
    }
  }

  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  for (size_t pos = 0; pos < norm.size();) {
    const size_t len = Utf8UnitLen(norm, pos);
    const int index = static_cast<int>(sym.size());
    sym.push_back({pos, len, index - 1, -1});
    if (index > 0) sym[index - 1].next = index;
    pos += len;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t len = sym[left].len + sym[right].len;
    const int32_t id = pieces_.Find(std::string_view(norm).substr(sym[left].start, len));
    if (id >= 0) queue.push({Score(id), left, right, len});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    // Symbols only grow or vanish, so a changed length sum marks a stale pair.
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = std::string_view(norm).substr(sym[i].start, sym[i].len);
    const int32_t id = pieces_.Find(piece);
    if (id >= 0) {
      out.push_back(id);
    } else {
      EmitFallback(piece, out);
    }
  }
}

void SpmTokenizer::EmitFallback(std::string_view unit, std::vector<int32_t>& out) const {
  bool all_bytes = true;
  for (char c : unit) all_bytes = all_bytes && byte_ids_[static_cast<uint8_t>(c)] >= 0;
  if (all_bytes) {
    for (char c : unit) out.push_back(byte_ids_[static_cast<uint8_t>(c)]);
  } else if (vocab().unk_id >= 0) {
    out.push_back(vocab().unk_id);
  }
}

std::string SpmTokenizer::TokenBytes(int32_t id) const {
  if (!InRange(id)) return "";
  const std::string& text = vocab().tokens[id];
  switch (type(id)) {
    case TokenType::kByte:
      return std::string(1, static_cast<char>(ParseByteToken(text)));
    case TokenType::kControl:
    case TokenType::kUnused:
      return "";
    case TokenType::kUnknown:
      return "\xE2\x81\x87";
    case TokenType::kNormal:
    case TokenType::kUserDefined:
      break;
  }
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      pos += kSpace.size();
    } else {
      out.push_back(text[pos++]);
    }
  }
  return out;
}

}  // namespace tessera
