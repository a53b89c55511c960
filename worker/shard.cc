#include "worker/shard.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

absl::Status CheckRange(const char* what, int64_t begin, int64_t end, int64_t limit) {
  if (begin < 0 || end < begin || end > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", what, " range [", begin, ", ", end, ") is not inside [0, ", limit, ")"));
  }
  return absl::OkStatus();
}

std::vector<float> SliceVector(const std::vector<float>& v, int64_t begin, int64_t end) {
  if (v.empty()) return {};
  return std::vector<float>(v.begin() + begin, v.begin() + end);
}

MatrixView EmptyView(const MatrixView& like) {
  return MatrixView{like.type, nullptr, 0, like.cols, like.row_bytes};
}

// Columns [begin, end) of every row, copied into storage the shard owns, and
// the mapped pages of the whole matrix handed back (this rank will not read
// the other columns).
absl::StatusOr<MatrixView> CopyColumns(const Model& model, const MatrixView& w, int64_t begin, int64_t end,
                                       const char* name, int64_t layer, Shard& shard) {
  const int64_t align = BlockElems(w.type);
  if (begin % align != 0 || (end % align != 0 && end != w.cols)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, " ", name, ": columns [", begin, ", ", end, ") of a ", std::string(DTypeName(w.type)),
        " matrix must start and end on a block of ", align));
  }
  // Both ends are on block boundaries (a valid matrix's width is whole
  // blocks), so bytes are whole blocks too.
  auto bytes_of = [&](int64_t n) { return n / align * BlockBytes(w.type); };
  const int64_t cols = end - begin;
  MatrixView out{w.type, nullptr, w.rows, cols, bytes_of(cols)};
  if (cols == 0 || w.rows == 0) return out;
  const int64_t offset = bytes_of(begin);
  auto buf = std::make_unique<uint8_t[]>(static_cast<size_t>(out.row_bytes * w.rows));
  for (int64_t r = 0; r < w.rows; ++r) {
    std::memcpy(buf.get() + r * out.row_bytes, w.Row(r) + offset, static_cast<size_t>(out.row_bytes));
  }
  model.file->ReleasePages(w.data, static_cast<size_t>(w.row_bytes * w.rows));
  out.data = buf.get();
  shard.owned_bytes += out.row_bytes * w.rows;
  shard.owned.push_back(std::move(buf));
  return out;
}

int64_t ViewBytes(const MatrixView& w) { return w.rows * w.row_bytes; }

}  // namespace

std::string ShardRanges::DebugString() const {
  return absl::StrCat("layers [", layer_begin, ", ", layer_end, ") q heads [", q_head_begin, ", ", q_head_end,
                      ") kv heads [", kv_head_begin, ", ", kv_head_end, ") ffn [", ffn_begin, ", ", ffn_end,
                      ") vocab [", vocab_begin, ", ", vocab_end, ")");
}

ShardRanges WholeModel(const ModelConfig& c) {
  return ShardRanges{0, c.n_layers, 0, c.n_heads, 0, c.n_kv_heads, 0, c.ffn_dim, 0, c.vocab_size};
}

ShardRanges RangesFromPlan(const proto::RankShard& r) {
  return ShardRanges{r.layers().begin(),  r.layers().end(), r.q_heads().begin(), r.q_heads().end(),
                     r.kv_heads().begin(), r.kv_heads().end(), r.ffn().begin(),   r.ffn().end(),
                     r.vocab().begin(),   r.vocab().end()};
}

absl::StatusOr<std::unique_ptr<Shard>> MakeShard(const Model& model, const ShardRanges& r) {
  const ModelConfig& c = model.config;
  if (auto s = CheckRange("layer", r.layer_begin, r.layer_end, c.n_layers); !s.ok()) return s;
  if (r.layer_end == r.layer_begin) return absl::InvalidArgumentError("a shard needs at least one layer");
  if (auto s = CheckRange("query head", r.q_head_begin, r.q_head_end, c.n_heads); !s.ok()) return s;
  if (auto s = CheckRange("kv head", r.kv_head_begin, r.kv_head_end, c.n_kv_heads); !s.ok()) return s;
  if (auto s = CheckRange("FFN", r.ffn_begin, r.ffn_end, c.ffn_dim); !s.ok()) return s;
  if (auto s = CheckRange("vocabulary", r.vocab_begin, r.vocab_end, c.vocab_size); !s.ok()) return s;
  const int64_t group = c.n_heads / c.n_kv_heads;
  if (r.n_q_heads() > 0 && (r.kv_head_begin != r.q_head_begin / group ||
                            r.kv_head_end != (r.q_head_end + group - 1) / group)) {
    return absl::InvalidArgumentError(absl::StrCat("query heads [", r.q_head_begin, ", ", r.q_head_end,
                                                   ") read kv heads [", r.q_head_begin / group, ", ",
                                                   (r.q_head_end + group - 1) / group, "), not [",
                                                   r.kv_head_begin, ", ", r.kv_head_end, ")"));
  }
  if (r.n_q_heads() == 0 && r.n_kv_heads() != 0) {
    return absl::InvalidArgumentError("a shard without query heads holds no kv heads");
  }

  auto shard = std::make_unique<Shard>();
  shard->ranges = r;
  shard->config = c;
  const ModelWeights& w = model.weights;
  ModelWeights& out = shard->weights;
  const int64_t hd = c.head_dim;

  out.token_embd = shard->first_stage() ? w.token_embd.RowRange(r.vocab_begin, r.vocab_end) : EmptyView(w.token_embd);
  out.output = shard->last_stage() ? w.output.RowRange(r.vocab_begin, r.vocab_end) : EmptyView(w.output);
  if (shard->last_stage()) out.output_norm = w.output_norm;
  out.rope_freqs = w.rope_freqs;
  int64_t bytes = ViewBytes(out.token_embd);
  // A tied model whose first stage is also its last reads one table.
  if (!(c.tied_output && shard->first_stage())) bytes += ViewBytes(out.output);
  bytes += static_cast<int64_t>(sizeof(float) * (out.output_norm.size() + out.rope_freqs.size()));

  for (int64_t layer = r.layer_begin; layer < r.layer_end; ++layer) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(layer)];
    LayerWeights l;
    l.attn_norm = lw.attn_norm;
    l.ffn_norm = lw.ffn_norm;
    l.wq = lw.wq.RowRange(r.q_head_begin * hd, r.q_head_end * hd);
    l.wk = lw.wk.RowRange(r.kv_head_begin * hd, r.kv_head_end * hd);
    l.wv = lw.wv.RowRange(r.kv_head_begin * hd, r.kv_head_end * hd);
    l.bq = SliceVector(lw.bq, r.q_head_begin * hd, r.q_head_end * hd);
    l.bk = SliceVector(lw.bk, r.kv_head_begin * hd, r.kv_head_end * hd);
    l.bv = SliceVector(lw.bv, r.kv_head_begin * hd, r.kv_head_end * hd);
    l.w_gate = lw.w_gate.RowRange(r.ffn_begin, r.ffn_end);
    l.w_up = lw.w_up.RowRange(r.ffn_begin, r.ffn_end);
    auto wo = CopyColumns(model, lw.wo, r.q_head_begin * hd, r.q_head_end * hd, "attn_output", layer, *shard);
    if (!wo.ok()) return wo.status();
    l.wo = *wo;
    auto down = CopyColumns(model, lw.w_down, r.ffn_begin, r.ffn_end, "ffn_down", layer, *shard);
    if (!down.ok()) return down.status();
    l.w_down = *down;
    bytes += ViewBytes(l.wq) + ViewBytes(l.wk) + ViewBytes(l.wv) + ViewBytes(l.w_gate) + ViewBytes(l.w_up) +
             ViewBytes(l.wo) + ViewBytes(l.w_down);
    bytes += static_cast<int64_t>(sizeof(float) * (l.attn_norm.size() + l.ffn_norm.size() + l.bq.size() +
                                                   l.bk.size() + l.bv.size()));
    out.layers.push_back(std::move(l));
  }
  shard->weight_bytes = bytes;
  return shard;
}

}  // namespace tessera
