#include "kernels/resident_weights.h"

namespace tessera {
namespace {

const float* OrNull(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

}  // namespace

ResidentWeights HostViews(const ModelWeights& w) {
  ResidentWeights r;
  r.token_embd = w.token_embd;
  r.output_norm = OrNull(w.output_norm);
  r.output = w.output;
  r.rope_freqs = OrNull(w.rope_freqs);
  r.layers.reserve(w.layers.size());
  for (const LayerWeights& l : w.layers) {
    ResidentLayer x;
    x.attn_norm = OrNull(l.attn_norm);
    x.wq = l.wq;
    x.wk = l.wk;
    x.wv = l.wv;
    x.wo = l.wo;
    x.bq = OrNull(l.bq);
    x.bk = OrNull(l.bk);
    x.bv = OrNull(l.bv);
    x.ffn_norm = OrNull(l.ffn_norm);
    x.w_gate = l.w_gate;
    x.w_up = l.w_up;
    x.w_down = l.w_down;
    r.layers.push_back(x);
  }
  return r;
}

}  // namespace tessera
