// Tokenizer construction, whole-sequence decoding and streaming decoding; the
// encoders live in tokenizer_spm.cc and tokenizer_bpe.cc.
#include "model/tokenizer.h"

#include <utility>

#include "model/tokenizer_bpe.h"
#include "model/tokenizer_spm.h"
#include "model/tokenizer_vocab.h"
#include "model/utf8.h"

namespace tessera {

namespace {

std::unique_ptr<Tokenizer> MakeValidated(VocabData v) {
  if (v.model == "llama") return std::make_unique<SpmTokenizer>(std::move(v));
  return std::make_unique<BpeTokenizer>(std::move(v));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeTokenizer(VocabData v) {
  if (absl::Status s = ValidateVocabData(v); !s.ok()) return s;
  return MakeValidated(std::move(v));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  absl::StatusOr<VocabData> v = ReadVocabData(file);  // validates
  if (!v.ok()) return v.status();
  return MakeValidated(std::move(*v));
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += TokenBytes(id);
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool strip_leading_space)
    : tok_(tokenizer), strip_leading_space_(strip_leading_space) {}

std::string StreamDecoder::Push(int32_t id) {
  std::string bytes = tok_.TokenBytes(id);
  if (bytes.empty()) return "";
  if (first_) {
    // Only the first piece with any bytes can carry the space a SentencePiece
    // encoder put in front of the prompt.
    first_ = false;
    if (strip_leading_space_ && bytes[0] == ' ') bytes.erase(0, 1);
  }
  pending_ += bytes;
  const size_t hold = IncompleteUtf8Suffix(pending_);
  std::string out = SanitizeUtf8(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::Finish() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace tessera
