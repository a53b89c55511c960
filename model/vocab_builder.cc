#include "model/vocab_builder.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "model/tokenizer_gpt2_bytes.h"
#include "model/tokenizer_pretokenize.h"
#include "model/tokenizer_unicode.h"
#include "model/utf8.h"
#include "model/vocab_corpus.h"
#include "model/vocab_trainer.h"

namespace tessera {
namespace {

constexpr uint32_t kSpaceMark = 0x2581;  // "▁", SentencePiece's space
constexpr int32_t kLlamaFixedTokens = 3 + 256;  // <unk> <s> </s> and the byte tokens

// Words as symbol sequences with their counts; an ordered map keeps the
// training input, and so the vocabulary, independent of hashing.
using WordCounts = std::map<std::vector<int32_t>, int64_t>;

// When the corpus runs out of merges, llama vocabularies are filled with
// single characters from these blocks (Latin-1 and Latin Extended letters,
// Greek, Cyrillic, kana, CJK ideographs, Hangul syllables), so every filler id
// is a usable token that saves byte fallback; beyond them come <unusedN>
// tokens (type unused). gpt2 vocabularies fill with <unusedN> directly: a
// multi-byte character there would need merges and intermediate tokens.
struct CodepointRange {
  uint32_t lo, hi;
};
constexpr CodepointRange kFillRanges[] = {
    {0x00A1, 0x00AC}, {0x00AE, 0x00FF}, {0x0100, 0x024F}, {0x0391, 0x03A1}, {0x03A3, 0x03A9},
    {0x03B1, 0x03C9}, {0x0400, 0x045F}, {0x3041, 0x3096}, {0x30A1, 0x30FA}, {0x4E00, 0x9FFF},
    {0xAC00, 0xD7A3},
};

bool IsControlChar(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp < 0xA0); }

void AddToken(VocabData& v, std::string text, float score, TokenType type) {
  v.tokens.push_back(std::move(text));
  v.scores.push_back(score);
  v.types.push_back(static_cast<int32_t>(type));
}

void FillUnused(VocabData& v, int32_t vocab_size, bool with_scores) {
  for (int32_t i = 0; static_cast<int32_t>(v.tokens.size()) < vocab_size; ++i) {
    AddToken(v, absl::StrCat("<unused", i, ">"), 0.0f, TokenType::kUnused);
  }
  if (!with_scores) v.scores.clear();
}

// Each corpus line as the SentencePiece encoder sees a text: spaces as "▁"
// and a "▁" in front.
std::vector<std::string> NormalizedLines(std::string_view corpus) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < corpus.size()) {
    size_t end = corpus.find('\n', start);
    if (end == std::string_view::npos) end = corpus.size();
    const std::string_view line = corpus.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    std::string norm = EncodeUtf8(kSpaceMark);
    for (char c : line) {
      if (c == ' ') {
        AppendUtf8(kSpaceMark, norm);
      } else {
        norm.push_back(c);
      }
    }
    lines.push_back(std::move(norm));
  }
  return lines;
}

// Splits a normalised line into training words the way SentencePiece does by
// default: "▁" begins a word, and letters, digits and other symbols do not
// share one. Characters outside the alphabet end a word and are left out.
void CountLlamaWords(std::string_view line, const absl::flat_hash_map<uint32_t, int32_t>& alphabet,
                     WordCounts& words) {
  std::vector<int32_t> word;
  bool has_class = false;  // false while the word is empty or just "▁"
  CharClass word_class = CharClass::kOther;
  const auto flush = [&] {
    if (!word.empty()) ++words[word];
    word.clear();
    has_class = false;
  };
  for (size_t pos = 0; pos < line.size();) {
    const uint32_t cp = Utf8Decode(line, pos);
    pos += Utf8UnitLen(line, pos);
    const auto it = alphabet.find(cp);
    if (it == alphabet.end()) {
      flush();
      continue;
    }
    if (cp == kSpaceMark) {
      flush();
      word.push_back(it->second);
      continue;
    }
    const CharClass c = ClassifyCodepoint(cp);
    if (has_class && word_class != c) flush();
    word.push_back(it->second);
    word_class = c;
    has_class = true;
  }
  flush();
}

absl::StatusOr<VocabData> BuildLlama(int32_t vocab_size) {
  const std::vector<std::string> lines = NormalizedLines(VocabCorpus());
  std::map<uint32_t, int64_t> freq;
  for (const std::string& line : lines) {
    for (size_t pos = 0; pos < line.size(); pos += Utf8UnitLen(line, pos)) {
      const uint32_t cp = Utf8Decode(line, pos);
      if (!IsControlChar(cp)) ++freq[cp];
    }
  }
  std::vector<std::pair<uint32_t, int64_t>> chars(freq.begin(), freq.end());
  // "▁" first (as a byte sequence it would decode to "▁", not to a space),
  // then by frequency: a tiny vocabulary leaves the rare ones to byte fallback.
  std::stable_sort(chars.begin(), chars.end(), [](const auto& a, const auto& b) {
    if ((a.first == kSpaceMark) != (b.first == kSpaceMark)) return a.first == kSpaceMark;
    return a.second > b.second;
  });
  const size_t n_alpha = std::min(chars.size(), static_cast<size_t>(vocab_size - kLlamaFixedTokens));
  std::vector<std::string> alphabet;
  absl::flat_hash_map<uint32_t, int32_t> alpha_ids;
  for (size_t i = 0; i < n_alpha; ++i) {
    alpha_ids.emplace(chars[i].first, static_cast<int32_t>(i));
    alphabet.push_back(EncodeUtf8(chars[i].first));
  }

  WordCounts words;
  for (const std::string& line : lines) CountLlamaWords(line, alpha_ids, words);
  BpeTrainer trainer(alphabet);
  for (const auto& [word, count] : words) trainer.AddWord(word, count);
  trainer.Train(vocab_size - kLlamaFixedTokens - static_cast<int32_t>(n_alpha));
  const std::vector<std::string>& symbols = trainer.symbols();
  const int32_t n_learned = static_cast<int32_t>(symbols.size() - n_alpha);

  VocabData v;
  v.model = "llama";
  AddToken(v, "<unk>", 0.0f, TokenType::kUnknown);
  AddToken(v, "<s>", 0.0f, TokenType::kControl);
  AddToken(v, "</s>", 0.0f, TokenType::kControl);
  for (int b = 0; b < 256; ++b) AddToken(v, ByteTokenText(static_cast<uint8_t>(b)), 0.0f, TokenType::kByte);
  // The encoder merges the pair with the highest score first, so pieces score
  // -1, -2, ... in the order training made them; single characters are never
  // the result of a merge and score below all pieces.
  float next_char_score = -static_cast<float>(n_learned) - 1.0f;
  for (size_t i = 0; i < n_alpha; ++i) AddToken(v, symbols[i], next_char_score--, TokenType::kNormal);
  for (int32_t j = 0; j < n_learned; ++j) {
    AddToken(v, symbols[n_alpha + j], -static_cast<float>(j) - 1.0f, TokenType::kNormal);
  }
  for (const CodepointRange& r : kFillRanges) {
    for (uint32_t cp = r.lo; cp <= r.hi && static_cast<int32_t>(v.tokens.size()) < vocab_size; ++cp) {
      if (!alpha_ids.contains(cp)) AddToken(v, EncodeUtf8(cp), next_char_score--, TokenType::kNormal);
    }
  }
  FillUnused(v, vocab_size, /*with_scores=*/true);
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  v.add_bos = true;
  v.add_space_prefix = true;
  return v;
}

absl::StatusOr<VocabData> BuildGpt2(int32_t vocab_size) {
  std::vector<std::string> alphabet;
  for (int b = 0; b < 256; ++b) alphabet.push_back(EncodeUtf8(Gpt2ByteToCodepoint(static_cast<uint8_t>(b))));
  WordCounts words;
  for (std::string_view piece : Gpt2PreTokenize(VocabCorpus())) {
    std::vector<int32_t> word;
    for (char c : piece) word.push_back(static_cast<uint8_t>(c));
    ++words[word];
  }
  BpeTrainer trainer(alphabet);
  for (const auto& [word, count] : words) trainer.AddWord(word, count);
  const std::vector<BpeTrainer::Merge> merges = trainer.Train(vocab_size - kMinGpt2Vocab);
  const std::vector<std::string>& symbols = trainer.symbols();

  VocabData v;
  v.model = "gpt2";
  // GPT-2 merges apply by rank, so the tokens need no scores.
  for (const std::string& s : symbols) AddToken(v, s, 0.0f, TokenType::kNormal);
  for (const BpeTrainer::Merge& m : merges) {
    v.merges.push_back(absl::StrCat(symbols[m.left], " ", symbols[m.right]));
  }
  const int32_t eot = static_cast<int32_t>(v.tokens.size());
  AddToken(v, "<|endoftext|>", 0.0f, TokenType::kControl);
  FillUnused(v, vocab_size, /*with_scores=*/false);
  v.bos_id = eot;
  v.eos_id = eot;
  v.add_bos = false;
  v.add_space_prefix = false;
  return v;
}

}  // namespace

absl::StatusOr<VocabData> BuildVocab(std::string_view model, int32_t vocab_size) {
  if (model != "llama" && model != "gpt2") {
    return absl::InvalidArgumentError(absl::StrCat("vocabulary model '", std::string(model),
                                                   "' is not supported (expected llama or gpt2)"));
  }
  const int32_t min_size = model == "llama" ? kMinLlamaVocab : kMinGpt2Vocab;
  if (vocab_size < min_size || vocab_size > kMaxBuiltVocab) {
    return absl::InvalidArgumentError(absl::StrCat("vocabulary size ", vocab_size, " for ",
                                                   std::string(model), " is out of range [",
                                                   min_size, ", ", kMaxBuiltVocab, "]"));
  }
  absl::StatusOr<VocabData> v = model == "llama" ? BuildLlama(vocab_size) : BuildGpt2(vocab_size);
  if (!v.ok()) return v.status();
  // A builder bug must not reach a model file.
  if (absl::Status s = ValidateVocabData(*v); !s.ok()) return s;
  return v;
}

void WriteVocab(const VocabData& v, GgufWriter& writer) {
  namespace keys = tokenizer_keys;
  const bool llama = v.model == "llama";
  writer.SetString(keys::kModel, v.model);
  // llama.cpp names the GPT-2 pre-tokenizer "gpt-2" and refuses other spellings.
  if (!llama) writer.SetString(keys::kPre, "gpt-2");
  writer.SetStringArray(keys::kTokens, v.tokens);
  if (!v.scores.empty()) writer.SetFloat32Array(keys::kScores, v.scores);
  if (!v.types.empty()) writer.SetInt32Array(keys::kTokenType, v.types);
  if (!llama) writer.SetStringArray(keys::kMerges, v.merges);
  for (auto [key, id] : {std::pair{keys::kBos, v.bos_id}, std::pair{keys::kEos, v.eos_id},
                         std::pair{keys::kUnk, v.unk_id}, std::pair{keys::kPad, v.pad_id}}) {
    if (id >= 0) writer.SetUint32(key, static_cast<uint32_t>(id));
  }
  writer.SetBool(keys::kAddBos, v.add_bos);
  writer.SetBool(keys::kAddEos, false);
  if (llama) writer.SetBool(keys::kAddSpacePrefix, v.add_space_prefix);
}

}  // namespace tessera
