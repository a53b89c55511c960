// Tiny models built in memory for the fuzz targets and the corpus maker: no
// files, so a fuzzer starts anywhere and parallel runs cannot collide.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model.h"
#include "model/model_maker.h"

namespace tessera::fuzz {

// The smallest shape the maker accepts for every matrix type (q4_0/q8_0
// need widths that are multiples of 32); `vocab` keeps the GGUF seeds small.
inline ModelSpec SmallSpec(std::string_view tokenizer, int64_t vocab, DType type) {
  ModelSpec spec;
  spec.tokenizer = std::string(tokenizer);
  spec.n_layers = 1;
  spec.dim = 32;
  spec.n_heads = 2;
  spec.n_kv_heads = 1;
  spec.ffn_dim = 32;
  spec.vocab_size = vocab;
  spec.context_length = 128;
  spec.type = type;
  return spec;
}

// The GGUF bytes of `spec`; aborts on failure (a broken maker is no fuzz
// finding, and nothing useful runs without the model).
inline std::vector<uint8_t> ModelBytes(const ModelSpec& spec) {
  GgufWriter writer;
  absl::Status st = BuildModel(spec, writer);
  absl::StatusOr<std::vector<uint8_t>> bytes =
      st.ok() ? writer.Serialize() : absl::StatusOr<std::vector<uint8_t>>(st);
  if (!bytes.ok()) {
    std::fprintf(stderr, "fuzz: cannot build the model: %s\n", bytes.status().ToString().c_str());
    std::abort();
  }
  return *std::move(bytes);
}

inline std::unique_ptr<Model> LoadSpec(const ModelSpec& spec) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(ModelBytes(spec));
  absl::StatusOr<std::unique_ptr<Model>> model =
      file.ok() ? LoadModel(*std::move(file)) : absl::StatusOr<std::unique_ptr<Model>>(file.status());
  if (!model.ok()) {
    std::fprintf(stderr, "fuzz: cannot load the model: %s\n", model.status().ToString().c_str());
    std::abort();
  }
  return *std::move(model);
}

}  // namespace tessera::fuzz
