// UTF-8 helpers shared by the tokenizers and the vocabulary builder. Validity
// follows RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the well-formed character starting at s[pos], or 0 when the bytes
// there are not one (a stray continuation byte, a bad lead byte, a truncated or
// overlong sequence, a surrogate).
size_t Utf8CharLen(std::string_view s, size_t pos);

// The code point of the well-formed character at s[pos]; requires
// Utf8CharLen(s, pos) > 0.
uint32_t Utf8Decode(std::string_view s, size_t pos);

// Appends the UTF-8 form of `cp` (a scalar value: not a surrogate, <= U+10FFFF).
void AppendUtf8(uint32_t cp, std::string& out);
std::string EncodeUtf8(uint32_t cp);

bool IsValidUtf8(std::string_view s);

// The number of bytes at the end of `s` that begin a character which more bytes
// could still complete (0..3). A decoder holds these back instead of emitting them.
size_t IncompleteUtf8Suffix(std::string_view s);

// Copies `s`, replacing each maximal ill-formed subpart with U+FFFD (the
// practice the Unicode standard recommends, so one bad byte is one U+FFFD).
std::string SanitizeUtf8(std::string_view s);

// Length of the unit a tokenizer treats as one character at s[pos]: the
// well-formed character there, or 1 for a byte that does not start one.
inline size_t Utf8UnitLen(std::string_view s, size_t pos) {
  size_t n = Utf8CharLen(s, pos);
  return n == 0 ? 1 : n;
}

}  // namespace tessera
