// DiffPlans and MovedBytes: what a change of plan asks of each rank. A rank
// holds, per (layer, tensor), one range of rows or columns (or the whole of
// a replicated vector); what it must load anew is, tensor by tensor, its
// range under the new plan less the part it already held.
#include <algorithm>
#include <compare>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "partition/human_units.h"
#include "partition/plan_spec.h"
#include "partition/tensor_split.h"

namespace tessera {
namespace {

constexpr int64_t kF32Bytes = 4;

// Row-sliced (wq, wk, wv, gate, up, embedding and output rows), column-sliced
// (wo, down) and f32 vectors (biases with the heads; norms and rope
// frequencies whole).
enum class Piece { kWq, kWk, kWv, kWo, kGate, kUp, kDown, kBiasQ, kBiasK, kBiasV, kAttnNorm, kFfnNorm,
                   kEmbedding, kOutput, kOutputNorm, kRope };

struct Key {
  int64_t layer;  // -1 for the tensors outside the layers
  Piece piece;
  auto operator<=>(const Key&) const = default;
};

using Holdings = std::map<Key, Span>;

Holdings HoldingsOf(const ModelTensors& m, const proto::ShardPlan& plan, int rank) {
  Holdings h;
  if (rank < 0 || rank >= plan.ranks_size()) return h;
  const proto::RankShard& r = plan.ranks(rank);
  const ModelConfig& c = m.config;
  auto add = [&](int64_t layer, Piece piece, Span s) {
    if (s.size() > 0) h.emplace(Key{layer, piece}, s);
  };
  const Span q{r.q_heads().begin() * c.head_dim, r.q_heads().end() * c.head_dim};
  const Span kv{r.kv_heads().begin() * c.head_dim, r.kv_heads().end() * c.head_dim};
  const Span ffn{r.ffn().begin(), r.ffn().end()};
  const Span dim{0, c.dim};
  // A plan from elsewhere may name layers the model lacks; those weigh nothing.
  const int64_t end = std::min<int64_t>(r.layers().end(), static_cast<int64_t>(m.layers.size()));
  for (int64_t i = std::max<int64_t>(0, r.layers().begin()); i < end; ++i) {
    add(i, Piece::kWq, q);
    add(i, Piece::kWk, kv);
    add(i, Piece::kWv, kv);
    add(i, Piece::kWo, q);
    add(i, Piece::kGate, ffn);
    add(i, Piece::kUp, ffn);
    add(i, Piece::kDown, ffn);
    if (c.qkv_bias) {
      add(i, Piece::kBiasQ, q);
      add(i, Piece::kBiasK, kv);
      add(i, Piece::kBiasV, kv);
    }
    add(i, Piece::kAttnNorm, dim);
    add(i, Piece::kFfnNorm, dim);
  }
  const Span vocab{r.vocab().begin(), r.vocab().end()};
  if (r.stage() == 0) add(-1, Piece::kEmbedding, vocab);
  if (r.stage() == plan.pp() - 1) {
    // A tied output is the embedding's rows: a stage that embeds too holds them once.
    add(-1, c.tied_output ? Piece::kEmbedding : Piece::kOutput, vocab);
    add(-1, Piece::kOutputNorm, dim);
  }
  add(-1, Piece::kRope, Span{0, m.rope_freqs});
  return h;
}

// Bytes of `count` rows, columns or elements of a piece.
int64_t PieceBytes(const ModelTensors& m, Key k, int64_t count) {
  if (count <= 0) return 0;
  const auto rows = [&](const MatrixShape& t) { return SliceBytes(t.type, count, t.cols); };
  const auto cols = [&](const MatrixShape& t) { return SliceBytes(t.type, t.rows, count); };
  const LayerTensors* l = k.layer >= 0 ? &m.layers[static_cast<size_t>(k.layer)] : nullptr;
  switch (k.piece) {
    case Piece::kWq: return rows(l->wq);
    case Piece::kWk: return rows(l->wk);
    case Piece::kWv: return rows(l->wv);
    case Piece::kWo: return cols(l->wo);
    case Piece::kGate: return rows(l->gate);
    case Piece::kUp: return rows(l->up);
    case Piece::kDown: return cols(l->down);
    case Piece::kEmbedding: return rows(m.token_embd);
    case Piece::kOutput: return rows(m.output);
    case Piece::kBiasQ:
    case Piece::kBiasK:
    case Piece::kBiasV:
    case Piece::kAttnNorm:
    case Piece::kFfnNorm:
    case Piece::kOutputNorm:
    case Piece::kRope: return count * kF32Bytes;
  }
  return 0;
}

std::string RangeText(const proto::Range& r) { return absl::StrCat("[", r.begin(), ",", r.end(), ")"); }

bool SameRange(const proto::Range& a, const proto::Range& b) { return a.begin() == b.begin() && a.end() == b.end(); }

// "layers [0,3) -> [0,4), ffn [0,704) -> [0,1056)": the ranges that differ.
std::vector<std::string> RangeChanges(const proto::RankShard& from, const proto::RankShard& to) {
  struct Field {
    const char* name;
    const proto::Range& (proto::RankShard::*get)() const;
  };
  static constexpr Field kFields[] = {{"layers", &proto::RankShard::layers},
                                      {"q heads", &proto::RankShard::q_heads},
                                      {"kv heads", &proto::RankShard::kv_heads},
                                      {"ffn", &proto::RankShard::ffn},
                                      {"vocab", &proto::RankShard::vocab}};
  std::vector<std::string> out;
  for (const Field& f : kFields) {
    const proto::Range& a = (from.*f.get)();
    const proto::Range& b = (to.*f.get)();
    if (!SameRange(a, b)) out.push_back(absl::StrCat(f.name, " ", RangeText(a), " -> ", RangeText(b)));
  }
  return out;
}

std::string ToLoad(int64_t bytes) {
  return bytes > 0 ? absl::StrCat("+", HumanBytes(bytes), " to load") : "nothing to load";
}

std::string Diff(const ModelTensors* model, const proto::ShardPlan& from, const proto::ShardPlan& to) {
  std::vector<std::string> lines;
  if (from.tp() != to.tp() || from.pp() != to.pp()) {
    lines.push_back(absl::StrCat("shape tp ", from.tp(), " x pp ", from.pp(), " -> tp ", to.tp(), " x pp ", to.pp()));
  }
  if (from.kv_tokens() != to.kv_tokens()) {
    lines.push_back(absl::StrCat("KV budget ", from.kv_tokens(), " -> ", to.kv_tokens(), " positions"));
  }
  int64_t total = 0;
  for (int i = 0; i < std::max(from.ranks_size(), to.ranks_size()); ++i) {
    if (i >= to.ranks_size()) {
      lines.push_back(absl::StrCat("rank ", i, ": not in the new plan"));
      continue;
    }
    const proto::RankShard& b = to.ranks(i);
    std::string line = absl::StrCat("rank ", i, " (stage ", b.stage(), ", tp ", b.tp_rank(), "): ");
    if (i >= from.ranks_size()) {
      absl::StrAppend(&line, "new");
    } else {
      const std::vector<std::string> changes = RangeChanges(from.ranks(i), b);
      if (changes.empty() && from.ranks(i).stage() == b.stage()) continue;
      absl::StrAppend(&line, changes.empty() ? "same ranges in another stage" : absl::StrJoin(changes, ", "));
    }
    if (model != nullptr) {
      const int64_t moved = MovedBytesOfRank(*model, from, to, i);
      total += moved;
      absl::StrAppend(&line, ", ", ToLoad(moved));
    }
    lines.push_back(std::move(line));
  }
  if (lines.empty()) return "no change";
  if (model != nullptr) lines.push_back(absl::StrCat("in all: ", ToLoad(total), " (", total, " bytes)"));
  return absl::StrJoin(lines, "\n");
}

}  // namespace

int64_t MovedBytesOfRank(const ModelTensors& model, const proto::ShardPlan& from, const proto::ShardPlan& to,
                         int rank) {
  const Holdings before = HoldingsOf(model, from, rank);
  int64_t bytes = 0;
  for (const auto& [key, now] : HoldingsOf(model, to, rank)) {
    int64_t kept = 0;
    if (auto it = before.find(key); it != before.end()) {
      kept = std::max<int64_t>(0, std::min(now.end, it->second.end) - std::max(now.begin, it->second.begin));
    }
    bytes += PieceBytes(model, key, now.size()) - PieceBytes(model, key, kept);
  }
  return bytes;
}

int64_t MovedBytes(const ModelTensors& model, const proto::ShardPlan& from, const proto::ShardPlan& to) {
  int64_t bytes = 0;
  for (int i = 0; i < to.ranks_size(); ++i) bytes += MovedBytesOfRank(model, from, to, i);
  return bytes;
}

std::string DiffPlans(const proto::ShardPlan& from, const proto::ShardPlan& to) { return Diff(nullptr, from, to); }

std::string DiffPlans(const ModelTensors& model, const proto::ShardPlan& from, const proto::ShardPlan& to) {
  return Diff(&model, from, to);
}

}  // namespace tessera
