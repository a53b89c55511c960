// A model's (or shard's) weights in a backend's memory: the same roles as
// ModelWeights (model/model_weights.h), with every matrix and vector pointer
// in the memory the backend's ops read. Made by Backend::Resident; the CPU
// backend's are views of the ModelWeights themselves, a device backend's own
// their copies (a subclass holds the buffers).
#pragma once

#include <cstdint>
#include <vector>

#include "model/matrix_view.h"
#include "model/model_weights.h"

namespace tessera {

struct ResidentLayer {
  const float* attn_norm = nullptr;              // dim
  MatrixView wq, wk, wv, wo;
  const float* bq = nullptr;                     // nullptr unless config.qkv_bias
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* ffn_norm = nullptr;               // dim
  MatrixView w_gate, w_up, w_down;
};

struct ResidentWeights {
  virtual ~ResidentWeights() = default;
  MatrixView token_embd;
  const float* output_norm = nullptr;
  MatrixView output;                             // may share token_embd's memory (tied)
  const float* rope_freqs = nullptr;             // nullptr: no per-frequency factors
  std::vector<ResidentLayer> layers;
  // Backend memory these weights occupy beyond the host mapping (0 for views).
  int64_t device_bytes = 0;
};

// Views of `w` in host memory (what the CPU backend's Resident returns).
ResidentWeights HostViews(const ModelWeights& w);

}  // namespace tessera
