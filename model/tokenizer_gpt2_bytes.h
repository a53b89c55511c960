// GPT-2's reversible mapping of the 256 byte values onto printable Unicode
// characters, which lets byte-level BPE vocabularies be stored as text: the
// printable Latin-1 bytes stand for themselves, the other 68 (controls, space,
// DEL, NBSP, soft hyphen) move to U+0100 upwards, so ' ' is "Ġ" (U+0120).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

uint32_t Gpt2ByteToCodepoint(uint8_t b);
// The byte a character of the alphabet stands for; -1 for other characters.
int Gpt2CodepointToByte(uint32_t cp);

// Bytes -> the UTF-8 text of their alphabet characters.
std::string Gpt2EncodeBytes(std::string_view bytes);
// A token's text -> the bytes it stands for; characters outside the alphabet
// (and ill-formed UTF-8) are kept as they are.
std::string Gpt2DecodeText(std::string_view text);

}  // namespace tessera
