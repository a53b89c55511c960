// Builds a real, deterministic tokenizer vocabulary for generated models
// (`tessera model make`): BPE merges learned from an embedded English corpus,
// in the layout llama.cpp expects of a "llama" (SentencePiece) or "gpt2"
// (byte-level BPE) vocabulary. The same arguments always give the same vocabulary.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "model/gguf_writer.h"
#include "model/tokenizer_vocab.h"

namespace tessera {

// llama: <unk>, <s>, </s>, the 256 byte tokens and "▁"; gpt2: the 256 byte
// characters and <|endoftext|>.
inline constexpr int32_t kMinLlamaVocab = 260;
inline constexpr int32_t kMinGpt2Vocab = 257;
inline constexpr int32_t kMaxBuiltVocab = 1 << 20;

// llama layout: <unk>=0 (unknown), <s>=1, </s>=2 (control), <0x00>..<0xFF>
// (byte), "▁" and the corpus's other characters by frequency, the learned
// pieces in merge order (scores falling with merge order), then filler.
// gpt2 layout: the 256 GPT-2 alphabet characters in byte order, the learned
// tokens in merge order, <|endoftext|> (control; bos and eos), then filler.
// The corpus yields a few thousand merges; sizes beyond that are filled (see
// vocab_builder.cc). Sizes 512, 8192 and 32000 are the ones `model make` uses.
absl::StatusOr<VocabData> BuildVocab(std::string_view model, int32_t vocab_size);

// Writes every tokenizer.ggml.* key a llama.cpp loader reads for `v`.
void WriteVocab(const VocabData& v, GgufWriter& writer);

}  // namespace tessera
