// A model opened for inference: the mapped GGUF file, its config, the bound
// weights and the tokenizer. Everything is validated at load; after LoadModel
// succeeds the forward pass needs no further checks of the file.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "model/gguf_file.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "model/tokenizer.h"

namespace tessera {

struct Model {
  std::unique_ptr<GgufFile> file;  // owns the mapping the weights point into
  ModelConfig config;
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
};

absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& path);
// The same from an already opened file (tests build files in memory).
absl::StatusOr<std::unique_ptr<Model>> LoadModel(std::unique_ptr<GgufFile> file);

}  // namespace tessera
