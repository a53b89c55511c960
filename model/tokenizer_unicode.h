// Unicode character classes for GPT-2's pre-tokenizer, which matches \p{L},
// \p{N} and \s through Python's regex module.
#pragma once

#include <cstdint>

namespace tessera {

enum class CharClass { kLetter, kNumber, kSpace, kOther };

// Letters (General_Category L*), numbers (N*) and white space (the
// White_Space property) of Unicode 17.0; everything else, unassigned code
// points and surrogates included, is kOther.
CharClass ClassifyCodepoint(uint32_t cp);

}  // namespace tessera
