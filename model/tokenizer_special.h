// Finds special tokens (control and user-defined ones, such as "<s>" or
// "<|endoftext|>") written literally in a text, so the tokenizer can emit their
// ids instead of spelling them out piece by piece.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera {

class SpecialTokenMatcher {
 public:
  // Empty texts are ignored: they would match everywhere.
  void Add(std::string_view text, int32_t id);
  bool empty() const { return count_ == 0; }

  struct Fragment {
    std::string_view text;  // plain text when id < 0, else the special token's text
    int32_t id;
  };
  // Splits `text` into plain runs and special tokens, scanning left to right and
  // taking the longest special token that starts at each position (the lowest
  // id among equal texts). Fragments view into `text`; plain runs are non-empty.
  std::vector<Fragment> Split(std::string_view text) const;

 private:
  // Candidates by first byte, longest first, so the first hit is the longest.
  std::array<std::vector<std::pair<std::string, int32_t>>, 256> by_first_;
  size_t count_ = 0;
};

}  // namespace tessera
