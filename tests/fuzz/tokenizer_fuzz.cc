// libFuzzer target: the tokenizers (SentencePiece-style "llama" and
// byte-level BPE "gpt2", built once from tiny in-memory models) and the
// streaming detokenizer the coordinator uses.
//
// Input: byte 0 holds flags (bit 0: gpt2 instead of llama, bit 1: add BOS,
// bit 2: parse special tokens, bit 3: strip the leading space when
// streaming); the rest is both the text to encode and, read as 16-bit
// little-endian numbers, token ids to decode (some outside the vocabulary).
//
// Checked: ids in range; Decode(Encode(text)) gives the text back (gpt2: any
// bytes; llama: with the space prefix, for text without a literal U+2581);
// no token of Encode covers more input bytes than MaxInputBytesPerToken
// (the coordinator's length check before tokenizing relies on it); the
// stream decoder emits only valid UTF-8, and all of it together is the
// sanitized whole-sequence decode.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/request_validator.h"
#include "model/dtype.h"
#include "model/tokenizer.h"
#include "model/utf8.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_models.h"

namespace tessera {
namespace {

struct Tokenizers {
  std::unique_ptr<Model> llama = fuzz::LoadSpec(fuzz::SmallSpec("llama", 512, DType::kF32));
  std::unique_ptr<Model> gpt2 = fuzz::LoadSpec(fuzz::SmallSpec("gpt2", 512, DType::kF32));
  int64_t llama_max_bytes = MaxInputBytesPerToken(*llama->tokenizer);
  int64_t gpt2_max_bytes = MaxInputBytesPerToken(*gpt2->tokenizer);
};

const Tokenizers& Get() {
  static const Tokenizers* t = new Tokenizers();  // never freed: no destruction-order issues at exit
  return *t;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

void CheckEncode(const Tokenizer& tok, bool gpt2, int64_t max_bytes, std::string_view text, bool add_bos,
                 bool parse_special) {
  const int32_t n = tok.vocab_size();
  const std::vector<int32_t> ids = tok.Encode(text, add_bos, parse_special);
  for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < n, "Encode produced id %d outside [0, %d)", id, n);
  if (parse_special) return;  // special tokens decode to nothing: no round trip

  size_t content = ids.size();
  if (add_bos && tok.bos_id() >= 0) {
    FUZZ_CHECK(!ids.empty() && ids[0] == tok.bos_id(), "add_bos without BOS first");
    --content;
  }
  FUZZ_CHECK(static_cast<int64_t>(content) * max_bytes >= static_cast<int64_t>(text.size()),
             "%zu tokens for %zu bytes: some token covers more than MaxInputBytesPerToken = %lld bytes ('%s')",
             content, text.size(), static_cast<long long>(max_bytes), Printable(text).c_str());

  const std::string decoded = tok.Decode(ids);
  if (gpt2) {
    FUZZ_CHECK(decoded == text, "gpt2 round trip: '%s' -> '%s'", Printable(text).c_str(),
               Printable(decoded).c_str());
  } else if (text.find("\xE2\x96\x81") == std::string_view::npos) {
    const std::string expected = text.empty() ? std::string() : std::string(" ").append(text);
    FUZZ_CHECK(decoded == expected, "llama round trip: '%s' -> '%s'", Printable(text).c_str(),
               Printable(decoded).c_str());
  }
}

std::string ExpectedStream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool strip) {
  std::string whole;
  bool first = true;
  for (int32_t id : ids) {
    std::string piece = tok.TokenBytes(id);
    if (piece.empty()) continue;
    if (first && strip && piece[0] == ' ') piece.erase(0, 1);
    first = false;
    whole += piece;
  }
  return SanitizeUtf8(whole);
}

void CheckDecode(const Tokenizer& tok, const std::vector<int32_t>& ids, bool strip) {
  std::string streamed;
  StreamDecoder decoder(tok, strip);
  for (int32_t id : ids) {
    const std::string piece = decoder.Push(id);
    FUZZ_CHECK(IsValidUtf8(piece), "stream decoder emitted invalid UTF-8 '%s'", Printable(piece).c_str());
    streamed += piece;
  }
  const std::string rest = decoder.Finish();
  FUZZ_CHECK(IsValidUtf8(rest), "stream decoder flushed invalid UTF-8 '%s'", Printable(rest).c_str());
  streamed += rest;
  const std::string expected = ExpectedStream(tok, ids, strip);
  FUZZ_CHECK(streamed == expected, "streamed '%s' but the whole sequence decodes to '%s'",
             Printable(streamed).c_str(), Printable(expected).c_str());
}

}  // namespace
}  // namespace tessera

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  if (size == 0) return 0;
  const Tokenizers& t = Get();
  const uint8_t flags = data[0];
  const bool gpt2 = flags & 1;
  const Tokenizer& tok = gpt2 ? *t.gpt2->tokenizer : *t.llama->tokenizer;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  CheckEncode(tok, gpt2, gpt2 ? t.gpt2_max_bytes : t.llama_max_bytes, text, (flags & 2) != 0, (flags & 4) != 0);

  // Ids in [-8, vocab + 8): the decoders must ignore those outside.
  const int32_t range = tok.vocab_size() + 16;
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    const uint32_t raw = static_cast<uint8_t>(text[i]) | (static_cast<uint32_t>(static_cast<uint8_t>(text[i + 1])) << 8);
    ids.push_back(static_cast<int32_t>(raw % static_cast<uint32_t>(range)) - 8);
  }
  CheckDecode(tok, ids, (flags & 8) != 0);
  return 0;
}
