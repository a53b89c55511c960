#include "model/model.h"

#include "absl/strings/str_cat.h"

namespace tessera {

absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& path) {
  auto file = GgufFile::Open(path);
  if (!file.ok()) return file.status();
  return LoadModel(*std::move(file));
}

absl::StatusOr<std::unique_ptr<Model>> LoadModel(std::unique_ptr<GgufFile> file) {
  auto model = std::make_unique<Model>();
  auto config = LoadModelConfig(*file);
  if (!config.ok()) return config.status();
  model->config = *std::move(config);
  auto weights = BindModelWeights(*file, model->config);
  if (!weights.ok()) return weights.status();
  model->weights = *std::move(weights);
  auto tokenizer = Tokenizer::FromGguf(*file);
  if (!tokenizer.ok()) return tokenizer.status();
  model->tokenizer = *std::move(tokenizer);
  if (model->tokenizer->vocab_size() != model->config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer.ggml.tokens has ", model->tokenizer->vocab_size(),
        " entries but token_embd.weight has ", model->config.vocab_size, " rows"));
  }
  model->file = std::move(file);
  return model;
}

}  // namespace tessera
