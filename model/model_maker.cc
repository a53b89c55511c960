#include "model/model_maker.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/quant.h"
#include "model/vocab_builder.h"

namespace tessera {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Each tensor draws from its own stream keyed by (seed, name), so a tensor's
// values do not depend on which tensors come before it.
uint64_t StreamSeed(uint64_t seed, std::string_view name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the name
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// Uniform values with the given standard deviation (a uniform on
// [-sqrt(3) s, sqrt(3) s] has standard deviation s).
std::vector<float> RandomValues(uint64_t seed, std::string_view name, int64_t n, float stddev,
                                float mean = 0.0f) {
  uint64_t state = StreamSeed(seed, name);
  std::vector<float> v(static_cast<size_t>(n));
  const double half_width = std::sqrt(3.0) * stddev;
  for (float& x : v) {
    const double u = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53;  // [0, 1)
    x = static_cast<float>(mean + (2.0 * u - 1.0) * half_width);
  }
  return v;
}

// Output-head row scales: tokens the tokenizer learned as multi-character
// pieces keep full scale; single characters, bytes, control and unused tokens
// get a small one, so a random model (like a trained one) rarely predicts them
// and its greedy text reads as word fragments rather than stray bytes.
std::vector<float> OutputRowScales(const VocabData& v) {
  std::vector<float> scale(v.tokens.size(), 0.25f);
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    if (v.type(static_cast<int32_t>(id)) != TokenType::kNormal) continue;
    int code_points = 0;
    for (unsigned char c : v.tokens[id]) code_points += (c & 0xc0) != 0x80;
    if (code_points >= 2) scale[id] = 1.0f;
  }
  return scale;
}

void ScaleRows(std::vector<float>& values, const std::vector<float>& row_scale) {
  const size_t cols = values.size() / row_scale.size();
  for (size_t r = 0; r < row_scale.size(); ++r) {
    for (size_t c = 0; c < cols; ++c) values[r * cols + c] *= row_scale[r];
  }
}

absl::Status AddEncoded(GgufWriter& w, const std::string& name, std::vector<int64_t> dims,
                        DType type, const std::vector<float>& values) {
  const int64_t cols = dims[0];
  const int64_t rows = static_cast<int64_t>(values.size()) / cols;
  auto row_bytes = RowBytes(type, cols);
  if (!row_bytes.ok()) return row_bytes.status();
  std::vector<uint8_t> data(static_cast<size_t>(*row_bytes * rows));
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(type, values.data() + r * cols, cols, data.data() + r * *row_bytes);
  }
  return w.AddTensor(name, std::move(dims), type, std::move(data));
}

// llama.cpp's general.file_type values for the "mostly X" file types.
uint32_t FileType(DType t) {
  switch (t) {
    case DType::kF32: return 0;
    case DType::kF16: return 1;
    case DType::kQ4_0: return 2;
    case DType::kQ8_0: return 7;
    case DType::kBF16: return 32;
  }
  return 0;
}

}  // namespace

absl::StatusOr<ModelSpec> PresetSpec(std::string_view preset) {
  ModelSpec s;
  if (preset == "tiny") return s;  // the defaults
  if (preset == "small") {
    s.n_layers = 8, s.dim = 512, s.n_heads = 8, s.n_kv_heads = 4, s.ffn_dim = 1408;
    s.vocab_size = 8192, s.context_length = 1024;
    return s;
  }
  if (preset == "medium") {
    s.n_layers = 16, s.dim = 1024, s.n_heads = 16, s.n_kv_heads = 4, s.ffn_dim = 2816;
    s.vocab_size = 32000, s.context_length = 2048;
    return s;
  }
  // The shapes of Llama 3.2 1B (tied output head) and Llama 3 8B, for the
  // GPU benchmarks: bytes per token and matrix shapes as the real models.
  if (preset == "llama-1b") {
    s.n_layers = 16, s.dim = 2048, s.n_heads = 32, s.n_kv_heads = 8, s.ffn_dim = 8192;
    s.vocab_size = 128256, s.context_length = 8192, s.rope_theta = 500000.0f, s.tied_output = true;
    return s;
  }
  if (preset == "llama-8b") {
    s.n_layers = 32, s.dim = 4096, s.n_heads = 32, s.n_kv_heads = 8, s.ffn_dim = 14336;
    s.vocab_size = 128256, s.context_length = 8192, s.rope_theta = 500000.0f;
    return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown preset '", std::string(preset),
                                                 "' (expected tiny, small, medium, llama-1b or llama-8b)"));
}

absl::Status ValidateSpec(const ModelSpec& s) {
  auto positive = [](int64_t v, const char* what) -> absl::Status {
    if (v <= 0 || v > (int64_t{1} << 20)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " must be in [1, 2^20], got ", v));
    }
    return absl::OkStatus();
  };
  for (auto [v, what] : {std::pair{s.n_layers, "layers"}, {s.dim, "width"}, {s.n_heads, "heads"},
                         {s.n_kv_heads, "KV heads"}, {s.ffn_dim, "FFN width"},
                         {s.vocab_size, "vocabulary"}, {s.context_length, "context"}}) {
    if (auto st = positive(v, what); !st.ok()) return st;
  }
  if (s.dim % s.n_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("width ", s.dim, " is not divisible by the ", s.n_heads, " heads"));
  }
  if (s.n_heads % s.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "heads (", s.n_heads, ") must be a multiple of KV heads (", s.n_kv_heads, ")"));
  }
  if ((s.dim / s.n_heads) % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("head size ", s.dim / s.n_heads, " must be even for RoPE"));
  }
  const int64_t block = BlockElems(s.type);
  if (s.dim % block != 0 || s.ffn_dim % block != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "with ", std::string(DTypeName(s.type)), " width (", s.dim, ") and FFN width (", s.ffn_dim,
        ") must be multiples of ", block));
  }
  if (s.tokenizer != "llama" && s.tokenizer != "gpt2") {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer must be llama or gpt2, got '", s.tokenizer, "'"));
  }
  if (!(s.logit_scale > 0.0f)) return absl::InvalidArgumentError("logit scale must be > 0");
  // Each field alone may be sane while their product is not; counted in
  // double so the check itself cannot overflow. The whole file is built in
  // memory (and serialized once more to be written), so the cap bounds that:
  // an 8B model (llama-8b) in BF16 takes ~35 GB on the way.
  const double d = static_cast<double>(s.dim), f = static_cast<double>(s.ffn_dim);
  const double kv = d / static_cast<double>(s.n_heads) * static_cast<double>(s.n_kv_heads);
  const double params = static_cast<double>(s.vocab_size) * d * 2 +
                        static_cast<double>(s.n_layers) * (2 * d * d + 2 * d * kv + 3 * d * f);
  constexpr double kMaxParameters = 10e9;
  if (params > kMaxParameters) {
    return absl::InvalidArgumentError(absl::StrCat("a model of about ", params / 1e6,
                                                   "M parameters is beyond what model make writes (",
                                                   kMaxParameters / 1e6, "M at most)"));
  }
  return absl::OkStatus();
}

int64_t ParameterCount(const ModelSpec& s) {
  const int64_t head_dim = s.dim / s.n_heads;
  const int64_t kv_dim = s.n_kv_heads * head_dim;
  const int64_t biases = s.arch == Arch::kQwen2 ? s.dim + 2 * kv_dim : 0;
  const int64_t per_layer = 2 * s.dim * s.dim + 2 * s.dim * kv_dim + 3 * s.dim * s.ffn_dim + 2 * s.dim + biases;
  return s.vocab_size * s.dim * (s.tied_output ? 1 : 2) + s.n_layers * per_layer + s.dim;
}

absl::Status BuildModel(const ModelSpec& s, GgufWriter& w) {
  if (auto st = ValidateSpec(s); !st.ok()) return st;
  auto vocab = BuildVocab(s.tokenizer, static_cast<int32_t>(s.vocab_size));
  if (!vocab.ok()) return vocab.status();

  const std::string arch(ArchName(s.arch));
  const int64_t head_dim = s.dim / s.n_heads;
  const int64_t kv_dim = s.n_kv_heads * head_dim;
  w.SetString("general.architecture", arch);
  w.SetString("general.name", absl::StrCat("tessera-random-", arch, "-", s.n_layers, "x", s.dim));
  w.SetUint32("general.file_type", FileType(s.type));
  w.SetUint32(arch + ".context_length", static_cast<uint32_t>(s.context_length));
  w.SetUint32(arch + ".embedding_length", static_cast<uint32_t>(s.dim));
  w.SetUint32(arch + ".block_count", static_cast<uint32_t>(s.n_layers));
  w.SetUint32(arch + ".feed_forward_length", static_cast<uint32_t>(s.ffn_dim));
  w.SetUint32(arch + ".attention.head_count", static_cast<uint32_t>(s.n_heads));
  w.SetUint32(arch + ".attention.head_count_kv", static_cast<uint32_t>(s.n_kv_heads));
  w.SetFloat32(arch + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  w.SetFloat32(arch + ".rope.freq_base", s.rope_theta);
  w.SetUint32(arch + ".rope.dimension_count", static_cast<uint32_t>(head_dim));
  w.SetUint32(arch + ".vocab_size", static_cast<uint32_t>(s.vocab_size));
  WriteVocab(*vocab, w);

  // Scales: the residual stream starts at unit RMS; each branch adds a share
  // that shrinks with depth; after the final norm, logits have a standard
  // deviation of logit_scale, so the top choice stands clear of the rest.
  const float in_std = 1.0f / std::sqrt(static_cast<float>(s.dim));
  const float depth = 1.0f / std::sqrt(2.0f * static_cast<float>(s.n_layers));
  const float out_std = s.logit_scale / std::sqrt(static_cast<float>(s.dim));
  auto norm = [&](const std::string& name, float mean) {
    return AddEncoded(w, name, {s.dim}, DType::kF32, RandomValues(s.seed, name, s.dim, 0.05f * mean, mean));
  };
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, float stddev) {
    return AddEncoded(w, name, {cols, rows}, s.type, RandomValues(s.seed, name, rows * cols, stddev));
  };

  // Tied: the embedding doubles as the output head, so the final norm carries
  // the logit scale instead of a separate output matrix.
  const float embd_std = 1.0f;
  const std::vector<float> row_scale = OutputRowScales(*vocab);
  {
    std::vector<float> embd = RandomValues(s.seed, "token_embd.weight", s.vocab_size * s.dim, embd_std);
    if (s.tied_output) ScaleRows(embd, row_scale);
    if (auto st = AddEncoded(w, "token_embd.weight", {s.dim, s.vocab_size}, s.type, embd); !st.ok()) return st;
  }
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    absl::Status st = norm(p + "attn_norm.weight", 1.0f);
    if (st.ok()) st = matrix(p + "attn_q.weight", s.dim, s.dim, in_std);
    if (st.ok()) st = matrix(p + "attn_k.weight", kv_dim, s.dim, in_std);
    if (st.ok()) st = matrix(p + "attn_v.weight", kv_dim, s.dim, in_std);
    if (st.ok() && s.arch == Arch::kQwen2) {
      for (const char* b : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) {
        const int64_t n = std::string_view(b) == "attn_q.bias" ? s.dim : kv_dim;
        if (st.ok()) st = AddEncoded(w, p + b, {n}, DType::kF32, RandomValues(s.seed, p + b, n, 0.1f));
      }
    }
    if (st.ok()) st = matrix(p + "attn_output.weight", s.dim, s.dim, in_std * depth);
    if (st.ok()) st = norm(p + "ffn_norm.weight", 1.0f);
    if (st.ok()) st = matrix(p + "ffn_gate.weight", s.ffn_dim, s.dim, in_std);
    if (st.ok()) st = matrix(p + "ffn_up.weight", s.ffn_dim, s.dim, in_std);
    // silu(g) * u has an RMS near 0.5 for unit-variance g and u: scale up by 2.
    if (st.ok()) {
      st = matrix(p + "ffn_down.weight", s.dim, s.ffn_dim,
                  2.0f * depth / std::sqrt(static_cast<float>(s.ffn_dim)));
    }
    if (!st.ok()) return st;
  }
  if (s.tied_output) {
    // With tied weights the residual stream still carries the input token's
    // own embedding, and a positive final norm would make that token the
    // top logit every step (a copy machine). Random signs cancel that term
    // while keeping the logits' spread at logit_scale.
    std::vector<float> g = RandomValues(s.seed, "output_norm.weight", s.dim, 0.05f, 1.0f);
    uint64_t state = StreamSeed(s.seed, "output_norm.sign");
    for (float& v : g) v *= (SplitMix64(state) & 1 ? -1.0f : 1.0f) * out_std / embd_std;
    if (auto st = AddEncoded(w, "output_norm.weight", {s.dim}, DType::kF32, g); !st.ok()) return st;
  } else {
    if (auto st = norm("output_norm.weight", 1.0f); !st.ok()) return st;
    std::vector<float> out = RandomValues(s.seed, "output.weight", s.vocab_size * s.dim, out_std);
    ScaleRows(out, row_scale);
    if (auto st = AddEncoded(w, "output.weight", {s.dim, s.vocab_size}, s.type, out); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status MakeModelFile(const ModelSpec& spec, const std::string& path) {
  GgufWriter writer;
  if (auto st = BuildModel(spec, writer); !st.ok()) return st;
  return writer.WriteFile(path);
}

}  // namespace tessera
