#include "model/utf8.h"

namespace tessera {
namespace {

// Sequence length announced by a lead byte, 0 for bytes that cannot lead.
size_t SeqLen(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The second byte's range depends on the lead: that is where overlong forms,
// surrogates and values above U+10FFFF are excluded.
bool SecondByteOk(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

struct Prefix {
  size_t needed;  // the full length the lead byte announces (0: bad lead)
  size_t valid;   // how many bytes from pos are consistent with it
};

Prefix ScanPrefix(std::string_view s, size_t pos) {
  const uint8_t lead = static_cast<uint8_t>(s[pos]);
  const size_t needed = SeqLen(lead);
  if (needed <= 1) return {needed, needed};
  size_t valid = 1;
  while (valid < needed && pos + valid < s.size()) {
    const uint8_t b = static_cast<uint8_t>(s[pos + valid]);
    const bool ok = valid == 1 ? SecondByteOk(lead, b) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    ++valid;
  }
  return {needed, valid};
}

}  // namespace

size_t Utf8CharLen(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  const Prefix p = ScanPrefix(s, pos);
  return p.needed != 0 && p.valid == p.needed ? p.needed : 0;
}

uint32_t Utf8Decode(std::string_view s, size_t pos) {
  const size_t n = Utf8CharLen(s, pos);
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[pos + i])); };
  switch (n) {
    case 1: return byte(0);
    case 2: return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3: return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    case 4:
      return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) |
             (byte(3) & 0x3F);
    default: return kReplacementChar;
  }
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string EncodeUtf8(uint32_t cp) {
  std::string out;
  AppendUtf8(cp, out);
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t n = Utf8CharLen(s, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

size_t IncompleteUtf8Suffix(std::string_view s) {
  // A lead byte can be at most three bytes back from the end and still wait
  // for more; anything further back is either complete or ill-formed.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const size_t pos = s.size() - back;
    const uint8_t b = static_cast<uint8_t>(s[pos]);
    if (b >= 0x80 && b <= 0xBF) continue;  // continuation: keep looking for the lead
    const Prefix p = ScanPrefix(s, pos);
    return p.needed > back && p.valid == back ? back : 0;
  }
  return 0;
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const Prefix p = ScanPrefix(s, pos);
    if (p.needed != 0 && p.valid == p.needed) {
      out.append(s.substr(pos, p.needed));
      pos += p.needed;
    } else {
      AppendUtf8(kReplacementChar, out);
      pos += p.valid == 0 ? 1 : p.valid;
    }
  }
  return out;
}

}  // namespace tessera
