#include "model/tokenizer_gpt2_bytes.h"

#include <array>

#include "model/utf8.h"

namespace tessera {
namespace {

// The largest code point of the alphabet: 256 + the 68 remapped bytes - 1.
constexpr uint32_t kMaxAlphabetCodepoint = 256 + 68 - 1;

constexpr bool MapsToItself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, kMaxAlphabetCodepoint + 1> to_byte{};
};

constexpr Tables MakeTables() {
  Tables t;
  for (auto& b : t.to_byte) b = -1;
  uint32_t next = 256;  // the remapped bytes take U+0100.. in byte order
  for (int b = 0; b < 256; ++b) {
    t.to_cp[b] = MapsToItself(b) ? static_cast<uint32_t>(b) : next++;
    t.to_byte[t.to_cp[b]] = static_cast<int16_t>(b);
  }
  return t;
}

constexpr Tables kTables = MakeTables();

}  // namespace

uint32_t Gpt2ByteToCodepoint(uint8_t b) { return kTables.to_cp[b]; }

int Gpt2CodepointToByte(uint32_t cp) {
  return cp <= kMaxAlphabetCodepoint ? kTables.to_byte[cp] : -1;
}

std::string Gpt2EncodeBytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(kTables.to_cp[static_cast<uint8_t>(c)], out);
  return out;
}

std::string Gpt2DecodeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = Utf8UnitLen(text, pos);
    const int b = Utf8CharLen(text, pos) > 0 ? Gpt2CodepointToByte(Utf8Decode(text, pos)) : -1;
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

}  // namespace tessera
