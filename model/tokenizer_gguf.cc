// Reading tokenizer.ggml.* metadata from a GGUF file into VocabData.
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/tokenizer_vocab.h"

namespace tessera {
namespace {

namespace keys = tokenizer_keys;

// Every error names the key; the reader's own messages usually do already.
absl::Status WithKey(const absl::Status& s, const char* key) {
  if (s.ok() || absl::StrContains(s.message(), key)) return s;
  return absl::Status(s.code(), absl::StrCat(key, ": ", s.message()));
}

absl::StatusOr<std::vector<std::string>> ReadStrings(const GgufFile& f, const char* key) {
  absl::StatusOr<std::vector<std::string_view>> views = f.GetStringArray(key);
  if (!views.ok()) return WithKey(views.status(), key);
  return std::vector<std::string>(views->begin(), views->end());
}

// An optional token id: -1 when the key is absent.
absl::StatusOr<int32_t> ReadId(const GgufFile& f, const char* key) {
  if (!f.Has(key)) return -1;
  absl::StatusOr<uint64_t> id = f.GetUint(key);
  if (!id.ok()) return WithKey(id.status(), key);
  if (*id > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(key, " is ", *id, ", out of range"));
  }
  return static_cast<int32_t>(*id);
}

absl::StatusOr<bool> ReadBool(const GgufFile& f, const char* key, bool fallback) {
  if (!f.Has(key)) return fallback;
  absl::StatusOr<bool> b = f.GetBool(key);
  if (!b.ok()) return WithKey(b.status(), key);
  return *b;
}

// llama.cpp assumes <unk>=0, <s>=1, </s>=2 for SentencePiece vocabularies
// without the id keys; take that only where the token there has the fitting type.
void ApplyLlamaDefaults(VocabData& v, bool has_bos, bool has_eos, bool has_unk) {
  const auto has_type = [&](int32_t id, TokenType t) {
    return static_cast<size_t>(id) < v.tokens.size() &&
           (v.types.size() != v.tokens.size() || v.type(id) == t);
  };
  if (!has_unk && has_type(0, TokenType::kUnknown)) v.unk_id = 0;
  if (!has_bos && has_type(1, TokenType::kControl)) v.bos_id = 1;
  if (!has_eos && has_type(2, TokenType::kControl)) v.eos_id = 2;
}

}  // namespace

absl::StatusOr<VocabData> ReadVocabData(const GgufFile& f) {
  VocabData v;
  if (!f.Has(keys::kModel)) {
    return absl::NotFoundError(absl::StrCat(keys::kModel, " is missing: the file has no tokenizer"));
  }
  absl::StatusOr<std::string_view> model = f.GetString(keys::kModel);
  if (!model.ok()) return WithKey(model.status(), keys::kModel);
  v.model = std::string(*model);
  if (v.model == "gpt2" && f.Has(keys::kPre)) {
    absl::StatusOr<std::string_view> pre = f.GetString(keys::kPre);
    if (!pre.ok()) return WithKey(pre.status(), keys::kPre);
    // Other pre-tokenizers (llama.cpp's "default" among them) split text
    // differently; running them as gpt2 would silently give the model token
    // sequences it was never trained on. Files without the key predate it and
    // are GPT-2's own. llama.cpp spells it "gpt-2"; "gpt2" is accepted too.
    if (*pre != "gpt-2" && *pre != "gpt2") {
      return absl::UnimplementedError(absl::StrCat(keys::kPre, ": pre-tokenizer '",
                                                   std::string(*pre),
                                                   "' is not supported (only gpt-2)"));
    }
  }

  absl::StatusOr<std::vector<std::string>> tokens = ReadStrings(f, keys::kTokens);
  if (!tokens.ok()) return tokens.status();
  v.tokens = std::move(*tokens);

  if (f.Has(keys::kScores)) {
    absl::StatusOr<std::vector<float>> scores = f.GetFloatArray(keys::kScores);
    if (!scores.ok()) return WithKey(scores.status(), keys::kScores);
    v.scores = std::move(*scores);
  }
  if (f.Has(keys::kTokenType)) {
    absl::StatusOr<std::vector<int64_t>> types = f.GetIntArray(keys::kTokenType);
    if (!types.ok()) return WithKey(types.status(), keys::kTokenType);
    v.types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      const int64_t t = (*types)[i];
      if (t < 1 || t > 6) {
        return absl::InvalidArgumentError(
            absl::StrCat(keys::kTokenType, "[", i, "] is ", t, " (expected 1..6)"));
      }
      v.types.push_back(static_cast<int32_t>(t));
    }
  }
  if (v.model == "gpt2") {
    absl::StatusOr<std::vector<std::string>> merges = ReadStrings(f, keys::kMerges);
    if (!merges.ok()) return merges.status();
    v.merges = std::move(*merges);
  }

  absl::StatusOr<int32_t> bos = ReadId(f, keys::kBos);
  if (!bos.ok()) return bos.status();
  absl::StatusOr<int32_t> eos = ReadId(f, keys::kEos);
  if (!eos.ok()) return eos.status();
  absl::StatusOr<int32_t> unk = ReadId(f, keys::kUnk);
  if (!unk.ok()) return unk.status();
  absl::StatusOr<int32_t> pad = ReadId(f, keys::kPad);
  if (!pad.ok()) return pad.status();
  v.bos_id = *bos;
  v.eos_id = *eos;
  v.unk_id = *unk;
  v.pad_id = *pad;
  const bool llama = v.model == "llama";
  if (llama) ApplyLlamaDefaults(v, f.Has(keys::kBos), f.Has(keys::kEos), f.Has(keys::kUnk));

  absl::StatusOr<bool> add_bos = ReadBool(f, keys::kAddBos, llama);
  if (!add_bos.ok()) return add_bos.status();
  absl::StatusOr<bool> add_space = ReadBool(f, keys::kAddSpacePrefix, llama);
  if (!add_space.ok()) return add_space.status();
  v.add_bos = *add_bos;
  v.add_space_prefix = *add_space;

  if (absl::Status s = ValidateVocabData(v); !s.ok()) return s;
  return v;
}

}  // namespace tessera
