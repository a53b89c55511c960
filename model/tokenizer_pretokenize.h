// GPT-2's pre-tokenizer, written out by hand instead of with a regex engine:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// BPE merges never cross the boundaries it draws.
#pragma once

#include <string_view>
#include <vector>

#include "model/tokenizer_unicode.h"

namespace tessera {

// The pieces of `text` in order; they view into `text` and concatenate to it.
// Ill-formed UTF-8 bytes count as kOther characters of one byte.
std::vector<std::string_view> Gpt2PreTokenize(std::string_view text);

}  // namespace tessera
