// The tensor catalog: binds a GGUF file's tensors to the roles of the
// transformer, checking every shape and type against the config. Matrices stay
// in the mapping (no copy); small 1-D tensors (norms, biases, rope factors) are
// converted to owned f32 vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "model/gguf_file.h"
#include "model/matrix_view.h"
#include "model/model_config.h"

namespace tessera {

struct LayerWeights {
  std::vector<float> attn_norm;         // dim
  MatrixView wq, wk, wv, wo;            // wq: q_dim x dim, wk/wv: kv_dim x dim, wo: dim x q_dim
  std::vector<float> bq, bk, bv;        // empty unless config.qkv_bias
  std::vector<float> ffn_norm;          // dim
  MatrixView w_gate, w_up, w_down;      // gate/up: ffn_dim x dim, down: dim x ffn_dim
};

struct ModelWeights {
  MatrixView token_embd;                // vocab x dim
  std::vector<float> output_norm;       // dim
  MatrixView output;                    // vocab x dim (== token_embd when tied)
  std::vector<float> rope_freqs;        // empty, or rope_dims/2 divisors (rope_freqs.weight)
  std::vector<LayerWeights> layers;
};

// Tensor names follow llama.cpp's GGUF conventions: token_embd.weight,
// output_norm.weight, output.weight, blk.N.{attn_norm,attn_q,attn_k,attn_v,
// attn_output,ffn_norm,ffn_gate,ffn_up,ffn_down}.weight, blk.N.attn_{q,k,v}.bias.
absl::StatusOr<ModelWeights> BindModelWeights(const GgufFile& file, const ModelConfig& config);

}  // namespace tessera
