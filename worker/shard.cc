#include "worker/shard.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

ByteSpan SpanOf(const void* p, int64_t bytes) {
  const auto b = reinterpret_cast<uintptr_t>(p);
  return ByteSpan{b, b + static_cast<uintptr_t>(bytes)};
}

// The copy of the same slice `previous` holds, if any.
const ColumnCopy* SharedCopy(const Shard* previous, const MatrixView& w, int64_t begin, int64_t end) {
  if (previous == nullptr) return nullptr;
  for (const ColumnCopy& c : previous->owned) {
    if (c.source == w.data && c.begin == begin && c.end == end) return &c;
  }
  return nullptr;
}

// Bytes of a row of `cols` columns (whole blocks; a partial one rounds up).
int64_t RowBytes(const MatrixView& w, int64_t cols) {
  const int64_t align = BlockElems(w.type);
  return (cols + align - 1) / align * BlockBytes(w.type);
}

// Columns [begin, end) of every row, copied into storage the shard owns, and
// the mapped pages of the whole matrix handed back (this rank will not read
// the other columns). The same slice in `previous` is shared instead.
absl::StatusOr<MatrixView> CopyColumns(const Model& model, const MatrixView& w, int64_t begin, int64_t end,
                                       const char* name, int64_t layer, const Shard* previous, Shard& shard) {
  const int64_t align = BlockElems(w.type);
  if (begin % align != 0 || (end % align != 0 && end != w.cols)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, " ", name, ": columns [", begin, ", ", end, ") of a ", std::string(DTypeName(w.type)),
        " matrix must start and end on a block of ", align));
  }
  // Both ends are on block boundaries (a valid matrix's width is whole
  // blocks), so bytes are whole blocks too.
  const int64_t cols = end - begin;
  MatrixView out{w.type, nullptr, w.rows, cols, RowBytes(w, cols)};
  if (cols == 0 || w.rows == 0) return out;
  const int64_t bytes = out.row_bytes * w.rows;
  if (const ColumnCopy* c = SharedCopy(previous, w, begin, end)) {
    out.data = c->data.get();
    shard.owned_bytes += bytes;
    shard.kept_bytes += bytes;
    shard.owned.push_back(*c);
    return out;
  }
  const int64_t offset = RowBytes(w, begin);
  // Not a throwing new: a rank short of memory during a live reshard must
  // say so and roll back with the group, not end the job with bad_alloc.
  uint8_t* raw = new (std::nothrow) uint8_t[static_cast<size_t>(bytes)];
  if (raw == nullptr) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "layer %d %s: cannot allocate %.1f MiB for the copy of columns [%d, %d)", layer, name,
        static_cast<double>(bytes) / (1024.0 * 1024.0), begin, end));
  }
  std::shared_ptr<uint8_t[]> buf(raw);
  for (int64_t r = 0; r < w.rows; ++r) {
    std::memcpy(buf.get() + r * out.row_bytes, w.Row(r) + offset, static_cast<size_t>(out.row_bytes));
  }
  model.file->ReleasePages(w.data, static_cast<size_t>(w.row_bytes * w.rows));
  out.data = buf.get();
  shard.owned_bytes += bytes;
  shard.owned.push_back(ColumnCopy{w.data, begin, end, std::move(buf), bytes});
  return out;
}

int64_t ViewBytes(const MatrixView& w) { return w.rows * w.row_bytes; }

// Records a row slice the shard reads in place.
void AddView(const MatrixView& w, Shard& shard) {
  if (ViewBytes(w) > 0) shard.viewed.push_back(SpanOf(w.data, ViewBytes(w)));
}

// Elements [begin, end) of one of the model's vectors, copied, and recorded
// as read.
std::vector<float> SliceVector(const std::vector<float>& v, int64_t begin, int64_t end, Shard& shard) {
  std::vector<float> out = SliceVector(v, begin, end);
  if (!out.empty()) shard.viewed.push_back(SpanOf(v.data() + begin, static_cast<int64_t>(out.size() * sizeof(float))));
  return out;
}

}  // namespace

int64_t TotalBytes(const std::vector<ByteSpan>& spans) {
  int64_t n = 0;
  for (const ByteSpan& s : spans) n += s.size();
  return n;
}

std::vector<ByteSpan> Uncovered(const std::vector<ByteSpan>& spans, const std::vector<ByteSpan>& cover) {
  // The cover as sorted, disjoint spans; then each span minus them.
  std::vector<ByteSpan> merged;
  for (const ByteSpan& c : cover) {
    if (c.end > c.begin) merged.push_back(c);
  }
  std::sort(merged.begin(), merged.end(), [](const ByteSpan& a, const ByteSpan& b) { return a.begin < b.begin; });
  size_t n = 0;
  for (const ByteSpan& c : merged) {
    if (n > 0 && c.begin <= merged[n - 1].end) {
      merged[n - 1].end = std::max(merged[n - 1].end, c.end);
    } else {
      merged[n++] = c;
    }
  }
  merged.resize(n);
  std::vector<ByteSpan> out;
  for (const ByteSpan& s : spans) {
    uintptr_t at = s.begin;
    auto it = std::upper_bound(merged.begin(), merged.end(), at,
                               [](uintptr_t x, const ByteSpan& c) { return x < c.end; });
    for (; it != merged.end() && it->begin < s.end && at < s.end; ++it) {
      if (it->begin > at) out.push_back(ByteSpan{at, it->begin});
      at = std::max(at, it->end);
    }
    if (at < s.end) out.push_back(ByteSpan{at, s.end});
  }
  return out;
}

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

int64_t NewColumnCopyBytes(const Model& model, const ShardRanges& r, const Shard* previous) {
  const int64_t hd = model.config.head_dim;
  auto fresh = [&](const MatrixView& w, int64_t begin, int64_t end) -> int64_t {
    if (end <= begin || SharedCopy(previous, w, begin, end) != nullptr) return 0;
    return w.rows * RowBytes(w, end - begin);
  };
  int64_t bytes = 0;
  const int64_t n_layers = static_cast<int64_t>(model.weights.layers.size());
  for (int64_t layer = std::max<int64_t>(r.layer_begin, 0); layer < std::min(r.layer_end, n_layers); ++layer) {
    const LayerWeights& lw = model.weights.layers[static_cast<size_t>(layer)];
    bytes += fresh(lw.wo, r.q_head_begin * hd, r.q_head_end * hd);
    bytes += fresh(lw.w_down, r.ffn_begin, r.ffn_end);
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<Shard>> MakeShard(const Model& model, const ShardRanges& r, const Shard* previous) {
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

  Shard& sh = *shard;
  out.token_embd = shard->first_stage() ? w.token_embd.RowRange(r.vocab_begin, r.vocab_end) : EmptyView(w.token_embd);
  out.output = shard->last_stage() ? w.output.RowRange(r.vocab_begin, r.vocab_end) : EmptyView(w.output);
  if (shard->last_stage()) {
    out.output_norm = SliceVector(w.output_norm, 0, static_cast<int64_t>(w.output_norm.size()), sh);
  }
  out.rope_freqs = SliceVector(w.rope_freqs, 0, static_cast<int64_t>(w.rope_freqs.size()), sh);
  AddView(out.token_embd, sh);
  // A tied model whose first stage is also its last reads one table.
  if (!(c.tied_output && shard->first_stage())) AddView(out.output, sh);

  for (int64_t layer = r.layer_begin; layer < r.layer_end; ++layer) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(layer)];
    LayerWeights l;
    l.attn_norm = SliceVector(lw.attn_norm, 0, static_cast<int64_t>(lw.attn_norm.size()), sh);
    l.ffn_norm = SliceVector(lw.ffn_norm, 0, static_cast<int64_t>(lw.ffn_norm.size()), sh);
    l.wq = lw.wq.RowRange(r.q_head_begin * hd, r.q_head_end * hd);
    l.wk = lw.wk.RowRange(r.kv_head_begin * hd, r.kv_head_end * hd);
    l.wv = lw.wv.RowRange(r.kv_head_begin * hd, r.kv_head_end * hd);
    l.bq = SliceVector(lw.bq, r.q_head_begin * hd, r.q_head_end * hd, sh);
    l.bk = SliceVector(lw.bk, r.kv_head_begin * hd, r.kv_head_end * hd, sh);
    l.bv = SliceVector(lw.bv, r.kv_head_begin * hd, r.kv_head_end * hd, sh);
    l.w_gate = lw.w_gate.RowRange(r.ffn_begin, r.ffn_end);
    l.w_up = lw.w_up.RowRange(r.ffn_begin, r.ffn_end);
    for (const MatrixView* v : {&l.wq, &l.wk, &l.wv, &l.w_gate, &l.w_up}) AddView(*v, sh);
    auto wo = CopyColumns(model, lw.wo, r.q_head_begin * hd, r.q_head_end * hd, "attn_output", layer, previous, sh);
    if (!wo.ok()) return wo.status();
    l.wo = *wo;
    auto down = CopyColumns(model, lw.w_down, r.ffn_begin, r.ffn_end, "ffn_down", layer, previous, sh);
    if (!down.ok()) return down.status();
    l.w_down = *down;
    out.layers.push_back(std::move(l));
  }
  const int64_t viewed = TotalBytes(sh.viewed);
  sh.weight_bytes = viewed + sh.owned_bytes;
  if (previous != nullptr) sh.kept_bytes += viewed - TotalBytes(Uncovered(sh.viewed, previous->viewed));
  return shard;
}

}  // namespace tessera
