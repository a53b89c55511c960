#include "model/tokenizer_pretokenize.h"

#include "model/utf8.h"

namespace tessera {
namespace {

// The class of the unit at text[pos] and its length in bytes.
struct Unit {
  CharClass cls;
  size_t len;
};

Unit UnitAt(std::string_view text, size_t pos) {
  const size_t len = Utf8CharLen(text, pos);
  if (len == 0) return {CharClass::kOther, 1};
  return {ClassifyCodepoint(Utf8Decode(text, pos)), len};
}

// End of the run of `cls` units starting at pos.
size_t RunEnd(std::string_view text, size_t pos, CharClass cls) {
  while (pos < text.size()) {
    const Unit u = UnitAt(text, pos);
    if (u.cls != cls) break;
    pos += u.len;
  }
  return pos;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, or 0.
size_t ContractionLen(std::string_view text, size_t pos) {
  if (text[pos] != '\'') return 0;
  for (std::string_view suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
    if (text.compare(pos + 1, suffix.size(), suffix) == 0) return 1 + suffix.size();
  }
  return 0;
}

}  // namespace

std::vector<std::string_view> Gpt2PreTokenize(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end;
    if (const size_t c = ContractionLen(text, pos); c > 0) {
      end = pos + c;
    } else if (text[pos] == ' ' && pos + 1 < text.size() &&
               UnitAt(text, pos + 1).cls != CharClass::kSpace) {
      // " ?X+": one literal space joins the run of letters, digits or other
      // symbols that follows it.
      end = RunEnd(text, pos + 1, UnitAt(text, pos + 1).cls);
    } else if (const Unit u = UnitAt(text, pos); u.cls != CharClass::kSpace) {
      end = RunEnd(text, pos, u.cls);
    } else {
      // "\s+(?!\S)|\s+": a whitespace run gives up its last character when a
      // non-space follows, so that character can lead the next piece; a run
      // of one character stays whole.
      size_t last = pos;
      end = pos;
      while (end < text.size()) {
        const Unit w = UnitAt(text, end);
        if (w.cls != CharClass::kSpace) break;
        last = end;
        end += w.len;
      }
      if (end < text.size() && last > pos) end = last;
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

}  // namespace tessera
