// `tessera model make` and `tessera model info`.
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "client/cli.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "model/model_maker.h"

namespace tessera::cli {
namespace {

struct MakeArgs {
  std::string preset = "tiny";
  std::string output;
  std::string type = "f32";
  std::string arch = "llama";
  std::string tokenizer = "llama";
  int64_t layers = 0, width = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0, context = 0;
  uint64_t seed = 1;
  bool tied = false;
};

int RunMake(const MakeArgs& a) {
  auto spec = PresetSpec(a.preset);
  if (!spec.ok()) {
    std::cerr << "error: " << spec.status().message() << "\n";
    return 2;
  }
  auto type = ParseDType(a.type);
  if (!type.ok()) {
    std::cerr << "error: " << type.status().message() << "\n";
    return 2;
  }
  spec->type = *type;
  spec->arch = a.arch == "qwen2" ? Arch::kQwen2 : Arch::kLlama;
  spec->tokenizer = a.tokenizer;
  spec->seed = a.seed;
  spec->tied_output = spec->tied_output || a.tied;  // llama-1b is tied, like Llama 3.2 1B
  // Explicit shape options override the preset.
  for (auto [value, field] : {std::pair{a.layers, &spec->n_layers}, {a.width, &spec->dim},
                              {a.heads, &spec->n_heads}, {a.kv_heads, &spec->n_kv_heads},
                              {a.ffn, &spec->ffn_dim}, {a.vocab, &spec->vocab_size},
                              {a.context, &spec->context_length}}) {
    if (value != 0) *field = value;
  }
  if (auto st = ValidateSpec(*spec); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 2;
  }
  if (auto st = MakeModelFile(*spec, a.output); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }
  std::printf("wrote %s: %s, %lld layers, width %lld, %lld heads (%lld KV), FFN %lld, vocab %lld, "
              "context %lld, %s, %.1fM parameters\n",
              a.output.c_str(), std::string(ArchName(spec->arch)).c_str(),
              static_cast<long long>(spec->n_layers), static_cast<long long>(spec->dim),
              static_cast<long long>(spec->n_heads), static_cast<long long>(spec->n_kv_heads),
              static_cast<long long>(spec->ffn_dim), static_cast<long long>(spec->vocab_size),
              static_cast<long long>(spec->context_length), std::string(DTypeName(spec->type)).c_str(),
              static_cast<double>(ParameterCount(*spec)) / 1e6);
  return 0;
}

int RunInfo(const std::string& path) {
  auto model = LoadModel(path);
  if (!model.ok()) {
    std::cerr << "error: " << path << ": " << model.status().message() << "\n";
    return 1;
  }
  const ModelConfig& c = (*model)->config;
  std::printf("%s: %s '%s'\n", path.c_str(), std::string(ArchName(c.arch)).c_str(), c.name.c_str());
  std::printf("  layers %lld, width %lld, heads %lld (KV %lld, head size %lld), FFN %lld\n",
              static_cast<long long>(c.n_layers), static_cast<long long>(c.dim),
              static_cast<long long>(c.n_heads), static_cast<long long>(c.n_kv_heads),
              static_cast<long long>(c.head_dim), static_cast<long long>(c.ffn_dim));
  std::printf("  vocab %lld, context %lld, rope theta %g (%s, %lld dims, linear scale %g)%s%s\n",
              static_cast<long long>(c.vocab_size), static_cast<long long>(c.context_length),
              c.rope_theta, c.rope_neox ? "neox" : "normal", static_cast<long long>(c.rope_dims),
              c.rope_linear_scale, c.tied_output ? ", tied output" : "",
              c.qkv_bias ? ", QKV bias" : "");
  std::map<std::string, std::pair<int64_t, int64_t>> by_type;  // type -> (tensors, bytes)
  int64_t params = 0;
  for (const GgufTensorInfo& t : (*model)->file->tensors()) {
    auto& e = by_type[std::string(DTypeName(t.type))];
    ++e.first;
    e.second += t.n_bytes;
    params += t.n_elements;
  }
  std::printf("  %.2fM parameters in %zu tensors:", static_cast<double>(params) / 1e6,
              (*model)->file->tensors().size());
  for (const auto& [type, e] : by_type) {
    std::printf(" %s x%lld (%.1f MiB)", type.c_str(), static_cast<long long>(e.first),
                static_cast<double>(e.second) / (1 << 20));
  }
  std::printf("\n  tokenizer: %d tokens, bos %d, eos %d\n", (*model)->tokenizer->vocab_size(),
              (*model)->tokenizer->bos_id(), (*model)->tokenizer->eos_id());
  return 0;
}

}  // namespace

void AddModelCommands(CLI::App& app, int& exit_code) {
  CLI::App* model = app.add_subcommand("model", "Make or inspect GGUF model files");
  model->require_subcommand(1);

  auto args = std::make_shared<MakeArgs>();
  CLI::App* make = model->add_subcommand(
      "make", "Write a random-weight model of a chosen shape (with a real tokenizer vocabulary)");
  make->add_option("-o,--output", args->output, "Output .gguf path")->required();
  make->add_option("--preset", args->preset, "tiny (~0.5M params), small (~30M), medium (~250M), llama-1b (Llama 3.2 1B's shape, "
                  "1.24B, tied output) or llama-8b (Llama 3 8B's shape, 8.03B)")
      ->capture_default_str();
  make->add_option("--type", args->type, "Matrix type: f32, f16, bf16, q8_0 or q4_0")->capture_default_str();
  make->add_option("--arch", args->arch, "llama or qwen2 (adds QKV biases)")
      ->capture_default_str()
      ->check(CLI::IsMember({"llama", "qwen2"}));
  make->add_option("--tokenizer", args->tokenizer, "llama (SentencePiece) or gpt2 (byte-level BPE)")
      ->capture_default_str()
      ->check(CLI::IsMember({"llama", "gpt2"}));
  make->add_option("--layers", args->layers, "Override the preset's layer count")->check(CLI::PositiveNumber);
  make->add_option("--width", args->width, "Override the embedding width")->check(CLI::PositiveNumber);
  make->add_option("--heads", args->heads, "Override the attention heads")->check(CLI::PositiveNumber);
  make->add_option("--kv-heads", args->kv_heads, "Override the KV heads (grouped-query attention)")
      ->check(CLI::PositiveNumber);
  make->add_option("--ffn", args->ffn, "Override the FFN width")->check(CLI::PositiveNumber);
  make->add_option("--vocab", args->vocab, "Override the vocabulary size")->check(CLI::PositiveNumber);
  make->add_option("--context", args->context, "Override the context length")->check(CLI::PositiveNumber);
  make->add_option("--seed", args->seed, "Weight seed (same seed, same bytes)")->capture_default_str();
  make->add_flag("--tied", args->tied, "Tie the output head to the token embedding (llama-1b always is)");
  make->callback([args, &exit_code] { exit_code = RunMake(*args); });

  auto path = std::make_shared<std::string>();
  CLI::App* info = model->add_subcommand("info", "Validate a GGUF model and print its shape");
  info->add_option("model", *path, "Path to a .gguf file")->required();
  info->callback([path, &exit_code] { exit_code = RunInfo(*path); });
}

}  // namespace tessera::cli
