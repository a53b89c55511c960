// The executor's logits against an independent reference: plain
// double-precision loops written here, reading weights straight from the GGUF
// tensors, sharing no code with kernels/ or worker/.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/quant.h"
#include "test_model.h"
#include "worker/executor.h"
#include "worker/kv_cache.h"

namespace tessera {
namespace {

using Mat = std::vector<double>;  // row-major

// Weights of a tensor as doubles, decoded with the format's definition
// (model/quant.h), not with any kernel.
Mat Weights(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* t = f.FindTensor(name);
  EXPECT_NE(t, nullptr) << name;
  std::vector<float> decoded(static_cast<size_t>(t->n_elements));
  DequantizeRow(t->type, t->data, t->n_elements, decoded.data());
  return Mat(decoded.begin(), decoded.end());
}

// y = W x with W stored [rows][cols].
std::vector<double> MatVec(const Mat& w, const std::vector<double>& x) {
  const size_t cols = x.size(), rows = w.size() / cols;
  std::vector<double> y(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
  }
  return y;
}

std::vector<double> RmsNorm(const std::vector<double>& x, const Mat& g, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / x.size() + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * g[i];
  return y;
}

void Rope(std::vector<double>& v, int64_t heads, int64_t head_dim, int64_t pos, const ModelConfig& c) {
  const int64_t rd = c.rope_dims;
  for (int64_t h = 0; h < heads; ++h) {
    double* x = v.data() + h * head_dim;
    for (int64_t i = 0; i < rd / 2; ++i) {
      const double angle = (pos / static_cast<double>(c.rope_linear_scale)) *
                           std::pow(static_cast<double>(c.rope_theta), -2.0 * i / rd);
      const int64_t a = c.rope_neox ? i : 2 * i;
      const int64_t b = c.rope_neox ? i + rd / 2 : 2 * i + 1;
      const double x0 = x[a], x1 = x[b];
      x[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
      x[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
    }
  }
}

// Logits after every position of `tokens`.
std::vector<std::vector<double>> ReferenceLogits(const Model& m, const std::vector<int32_t>& tokens) {
  const GgufFile& f = *m.file;
  const ModelConfig& c = m.config;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const Mat embd = Weights(f, "token_embd.weight");
  std::vector<std::vector<double>> x(n, std::vector<double>(c.dim));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < c.dim; ++i) x[t][i] = embd[tokens[t] * c.dim + i];
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const Mat wq = Weights(f, p + "attn_q.weight"), wk = Weights(f, p + "attn_k.weight"),
              wv = Weights(f, p + "attn_v.weight"), wo = Weights(f, p + "attn_output.weight"),
              an = Weights(f, p + "attn_norm.weight"), fn = Weights(f, p + "ffn_norm.weight"),
              wg = Weights(f, p + "ffn_gate.weight"), wu = Weights(f, p + "ffn_up.weight"),
              wd = Weights(f, p + "ffn_down.weight");
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      const auto xn = RmsNorm(x[t], an, c.rms_eps);
      q[t] = MatVec(wq, xn), k[t] = MatVec(wk, xn), v[t] = MatVec(wv, xn);
      if (c.qkv_bias) {
        const Mat bq = Weights(f, p + "attn_q.bias"), bk = Weights(f, p + "attn_k.bias"),
                  bv = Weights(f, p + "attn_v.bias");
        for (size_t i = 0; i < q[t].size(); ++i) q[t][i] += bq[i];
        for (size_t i = 0; i < k[t].size(); ++i) k[t][i] += bk[i], v[t][i] += bv[i];
      }
      Rope(q[t], c.n_heads, c.head_dim, t, c);
      Rope(k[t], c.n_kv_heads, c.head_dim, t, c);
    }
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> att(c.q_dim(), 0.0);
      for (int64_t h = 0; h < c.n_heads; ++h) {
        const int64_t kvh = h / (c.n_heads / c.n_kv_heads);
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < c.head_dim; ++i) d += q[t][h * c.head_dim + i] * k[j][kvh * c.head_dim + i];
          s[j] = d / std::sqrt(static_cast<double>(c.head_dim));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= t; ++j) {
          for (int64_t i = 0; i < c.head_dim; ++i) {
            att[h * c.head_dim + i] += s[j] / sum * v[j][kvh * c.head_dim + i];
          }
        }
      }
      const auto o = MatVec(wo, att);
      for (int64_t i = 0; i < c.dim; ++i) x[t][i] += o[i];
      const auto xn = RmsNorm(x[t], fn, c.rms_eps);
      auto g = MatVec(wg, xn);
      const auto u = MatVec(wu, xn);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const auto d = MatVec(wd, g);
      for (int64_t i = 0; i < c.dim; ++i) x[t][i] += d[i];
    }
  }
  const Mat on = Weights(f, "output_norm.weight");
  const Mat out = Weights(f, c.tied_output ? "token_embd.weight" : "output.weight");
  std::vector<std::vector<double>> logits;
  for (int64_t t = 0; t < n; ++t) logits.push_back(MatVec(out, RmsNorm(x[t], on, c.rms_eps)));
  return logits;
}

struct Case {
  const char* name;
  Arch arch;
  DType type;
  bool tied;
  // Bound on max |logit error| / max |logit|. Float weights: f32 rounding
  // only. Q8_0/Q4_0: the kernels quantize activations to 8 bits per block of
  // 32 (a relative error up to 1/254 per element), so a looser bound.
  double tolerance;
};

class ForwardReferenceTest : public ::testing::TestWithParam<Case> {};

// Prefill of 5 tokens, then 4 decode steps: after each step the executor's
// logits must match the reference's for that position.
TEST_P(ForwardReferenceTest, PrefillAndDecodeMatchDoubleReference) {
  const Case& tc = GetParam();
  ModelSpec spec;  // the tiny preset
  spec.arch = tc.arch;
  spec.type = tc.type;
  spec.tied_output = tc.tied;
  spec.n_layers = 2;
  auto model = testing::MakeTestModel(spec);
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> tokens = {1, 37, 290, 5, 411, 77, 8, 123, 500};
  const auto ref = ReferenceLogits(*model, tokens);

  for (CpuIsa isa : {CpuIsa::kScalar, DetectCpuIsa()}) {
    auto backend = MakeCpuBackend({.threads = 2, .isa = isa});
    auto kv = KvCache::Create({model->config.n_layers, model->config.kv_dim(), 4, 8}, *backend);
    ASSERT_TRUE(kv.ok());
    Executor exec(*model, *backend, **kv);
    std::vector<float> logits;
    auto check = [&](int64_t pos) {
      ASSERT_EQ(logits.size(), ref[pos].size());
      double max_err = 0, max_ref = 0;
      for (size_t i = 0; i < logits.size(); ++i) {
        max_err = std::max(max_err, std::abs(logits[i] - ref[pos][i]));
        max_ref = std::max(max_ref, std::abs(ref[pos][i]));
      }
      EXPECT_LT(max_err, tc.tolerance * max_ref) << tc.name << " isa " << CpuIsaName(isa) << " pos " << pos;
      // Greedy choices must agree wherever the reference's margin between its
      // top two logits exceeds twice the allowed error.
      std::vector<double> sorted = ref[pos];
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
      if (sorted[0] - sorted[1] > 2 * tc.tolerance * max_ref) {
        const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
        const auto ref_best = std::max_element(ref[pos].begin(), ref[pos].end()) - ref[pos].begin();
        EXPECT_EQ(best, ref_best) << tc.name << " pos " << pos;
      }
    };
    SequenceChunk prefill{7, std::span<const int32_t>(tokens.data(), 5), 0, true};
    ASSERT_TRUE(exec.Forward({&prefill, 1}, &logits).ok());
    check(4);
    for (int64_t pos = 5; pos < static_cast<int64_t>(tokens.size()); ++pos) {
      SequenceChunk step{7, std::span<const int32_t>(&tokens[pos], 1), pos, true};
      ASSERT_TRUE(exec.Forward({&step, 1}, &logits).ok());
      check(pos);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, ForwardReferenceTest,
    ::testing::Values(Case{"llama_f32", Arch::kLlama, DType::kF32, false, 1e-4},
                      Case{"llama_f32_tied", Arch::kLlama, DType::kF32, true, 1e-4},
                      Case{"llama_f16", Arch::kLlama, DType::kF16, false, 1e-4},
                      Case{"llama_bf16", Arch::kLlama, DType::kBF16, false, 1e-4},
                      Case{"llama_q8_0", Arch::kLlama, DType::kQ8_0, false, 0.03},
                      Case{"llama_q4_0", Arch::kLlama, DType::kQ4_0, false, 0.03},
                      Case{"qwen2_f32", Arch::kQwen2, DType::kF32, false, 1e-4},
                      Case{"qwen2_f16_tied", Arch::kQwen2, DType::kF16, true, 1e-4}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tessera
