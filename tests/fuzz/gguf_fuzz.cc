// libFuzzer target: the GGUF reader and everything LoadModel builds on it
// (config, tensor catalog, tokenizer) on arbitrary bytes. Errors are fine;
// a crash, a leak, an out-of-bounds read (the bytes live in a vector of
// exactly their size, so ASan sees one) or a broken invariant is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/gguf_file.h"
#include "model/model.h"
#include "model/model_config.h"
#include "model/model_fingerprint.h"
#include "model/model_weights.h"
#include "model/quant.h"
#include "model/tokenizer.h"
#include "model/utf8.h"
#include "tests/fuzz/fuzz_check.h"

namespace tessera {
namespace {

// Keeps the optimizer from dropping reads whose values are unused.
volatile uint64_t g_sink = 0;

void Touch(const void* p, size_t n) {
  if (n == 0) return;
  const auto* b = static_cast<const uint8_t*>(p);
  g_sink = g_sink + b[0] + b[n - 1];
}

void ExerciseMetadata(const GgufFile& file) {
  for (const std::string& key : file.Keys()) {
    FUZZ_CHECK(file.Has(key), "key '%s' listed but not found", key.c_str());
    FUZZ_CHECK(file.TypeOf(key).ok(), "key '%s' has no type", key.c_str());
    // Every getter on every key: the wrong type must be an error, never a
    // misread of the value's bytes.
    (void)file.GetUint(key);
    (void)file.GetInt(key);
    (void)file.GetFloat(key);
    (void)file.GetBool(key);
    if (auto s = file.GetString(key); s.ok()) Touch(s->data(), s->size());
    if (auto a = file.GetStringArray(key); a.ok()) {
      for (std::string_view s : *a) Touch(s.data(), s.size());
    }
    if (auto a = file.GetFloatArray(key); a.ok()) Touch(a->data(), a->size() * sizeof(float));
    if (auto a = file.GetIntArray(key); a.ok()) Touch(a->data(), a->size() * sizeof(int64_t));
  }
}

// Decodes row `r` of `m` (a bounds check on the tensor's placement: ASan
// flags any byte outside the file).
void DecodeRow(const MatrixView& m, int64_t r) {
  std::vector<float> row(static_cast<size_t>(m.cols));
  DequantizeRow(m.type, m.Row(r), m.cols, row.data());
  Touch(row.data(), row.size() * sizeof(float));
}

void ExerciseTensors(const GgufFile& file) {
  for (const GgufTensorInfo& t : file.tensors()) {
    FUZZ_CHECK(file.FindTensor(t.name) == &t, "tensor '%s' not found by name", t.name.c_str());
    FUZZ_CHECK(t.n_bytes > 0 && t.n_elements > 0, "tensor '%s': %lld bytes, %lld elements", t.name.c_str(),
               static_cast<long long>(t.n_bytes), static_cast<long long>(t.n_elements));
    Touch(t.data, static_cast<size_t>(t.n_bytes));
    absl::StatusOr<MatrixView> m = file.Matrix(t.name);
    if (!m.ok()) continue;
    FUZZ_CHECK(m->rows > 0 && m->cols > 0 && m->rows * m->row_bytes == t.n_bytes,
               "tensor '%s': matrix %lld x %lld (row %lld bytes) for %lld bytes", t.name.c_str(),
               static_cast<long long>(m->rows), static_cast<long long>(m->cols),
               static_cast<long long>(m->row_bytes), static_cast<long long>(t.n_bytes));
    DecodeRow(*m, 0);
    DecodeRow(*m, m->rows - 1);
  }
}

void ExerciseTokenizer(const Tokenizer& tok) {
  const int32_t n = tok.vocab_size();
  FUZZ_CHECK(n > 0, "empty vocabulary accepted");
  for (int32_t id : {-1, n, tok.bos_id(), tok.eos_id()}) {
    (void)tok.TokenBytes(id);
    (void)tok.TokenText(id);
    (void)tok.IsControl(id);
  }
  // Every token's bytes through the stream decoder: its output must always
  // be valid UTF-8, whatever the vocabulary holds.
  StreamDecoder decoder(tok, /*strip_leading_space=*/true);
  for (int32_t id = 0; id < std::min(n, 4096); ++id) {
    const std::string piece = decoder.Push(id);
    FUZZ_CHECK(IsValidUtf8(piece), "stream decoder emitted invalid UTF-8 at token %d", id);
  }
  FUZZ_CHECK(IsValidUtf8(decoder.Finish()), "stream decoder flushed invalid UTF-8");
  for (bool special : {false, true}) {
    for (int32_t id : tok.Encode("Hello, world! </s> <s> caf\xC3\xA9 \xF0\x9F\x8E\x89", tok.add_bos(), special)) {
      FUZZ_CHECK(id >= 0 && id < n, "Encode produced id %d outside [0, %d)", id, n);
    }
  }
}

void ExerciseModel(const Model& model) {
  const ModelWeights& w = model.weights;
  FUZZ_CHECK(static_cast<int64_t>(w.layers.size()) == model.config.n_layers, "%zu layers bound for %lld",
             w.layers.size(), static_cast<long long>(model.config.n_layers));
  for (const MatrixView* m : {&w.token_embd, &w.output}) {
    DecodeRow(*m, 0);
    DecodeRow(*m, m->rows - 1);
  }
  for (const LayerWeights& l : w.layers) {
    for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      DecodeRow(*m, m->rows - 1);
    }
  }
  g_sink = g_sink + ModelFingerprint(model).size();
}

}  // namespace
}  // namespace tessera

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  // A vector of exactly `size` bytes: a read past the end is a heap overflow.
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(std::vector<uint8_t>(data, data + size));
  if (!file.ok()) return 0;
  ExerciseMetadata(**file);
  ExerciseTensors(**file);
  // The loader's stages one by one, so that a file failing an early one
  // still reaches the later ones.
  if (absl::StatusOr<ModelConfig> config = LoadModelConfig(**file); config.ok()) {
    (void)BindModelWeights(**file, *config);
  }
  if (absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**file); tok.ok()) {
    ExerciseTokenizer(**tok);
  }
  absl::StatusOr<std::unique_ptr<Model>> model = LoadModel(*std::move(file));
  if (model.ok()) ExerciseModel(**model);
  return 0;
}
