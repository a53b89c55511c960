// A tokenizer built from a GGUF file's tokenizer.ggml.* metadata: SentencePiece
// style ("llama": score-driven merges, "▁" for spaces, <0xXX> byte fallback) and
// byte-level BPE ("gpt2": rank-driven merges over the GPT-2 byte alphabet).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/gguf_file.h"

namespace tessera {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the vocabulary has none
  virtual int32_t eos_id() const = 0;  // -1 when the vocabulary has none
  virtual bool add_bos() const = 0;    // tokenizer.ggml.add_bos_token (default true for llama)

  // Text to ids; special tokens written literally in `text` (e.g. "</s>") are
  // recognised only when parse_special is true.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos,
                                      bool parse_special = false) const = 0;
  // The bytes a token stands for (byte-fallback tokens give their byte; control
  // tokens give ""). For llama vocabularies "▁" becomes ' '; the caller strips
  // the leading space of a prompt's first piece where it wants to.
  virtual std::string TokenBytes(int32_t id) const = 0;
  virtual std::string_view TokenText(int32_t id) const = 0;  // the raw vocabulary string
  virtual bool IsControl(int32_t id) const = 0;

  // Whole-sequence decode (control tokens skipped).
  std::string Decode(const std::vector<int32_t>& ids) const;
};

// Turns a stream of token ids into text without ever emitting half a UTF-8
// character: bytes of an incomplete character wait for the next token; Finish()
// flushes what is left (invalid bytes become U+FFFD).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool strip_leading_space = false);
  std::string Push(int32_t id);
  std::string Finish();

 private:
  const Tokenizer& tok_;
  bool strip_leading_space_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace tessera
