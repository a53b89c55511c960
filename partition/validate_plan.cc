// ValidatePlan: everything a worker trusts before it slices tensors by a plan
// it did not compute. Each check names the rank and the field.
#include <string>

#include "absl/strings/str_cat.h"
#include "partition/partitioner.h"
#include "partition/tensor_split.h"

namespace tessera {
namespace {

Span ToSpan(const proto::Range& r) { return Span{r.begin(), r.end()}; }

std::string Str(Span s) { return absl::StrCat("[", s.begin, ", ", s.end, ")"); }

// The ranges of a stage's tensor ranks, in tp order, must be [0, a), [a, b),
// ..., [y, n): consecutive, none reversed, the first at 0, the last at n.
absl::Status CheckTiling(const proto::ShardPlan& plan, int stage, const char* field, int64_t n,
                         const proto::Range& (proto::RankShard::*get)() const) {
  int64_t at = 0;
  for (int t = 0; t < plan.tp(); ++t) {
    const proto::RankShard& r = plan.ranks(stage * plan.tp() + t);
    const Span s = ToSpan((r.*get)());
    if (s.begin != at || s.end < s.begin) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rank ", r.rank(), " (stage ", stage, ", tp ", t, "): ", field, " ", Str(s), " should start at ", at,
          " and not be reversed: the stage's ranks must tile [0, ", n, ") in tp order"));
    }
    at = s.end;
  }
  if (at != n) {
    return absl::InvalidArgumentError(absl::StrCat("stage ", stage, ": the ", field, " ranges end at ", at,
                                                   " but must cover [0, ", n, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckLayers(const proto::ShardPlan& plan, int64_t n_layers) {
  int64_t at = 0;
  for (int s = 0; s < plan.pp(); ++s) {
    const Span layers = ToSpan(plan.ranks(s * plan.tp()).layers());
    if (layers.begin != at || layers.end <= layers.begin) {
      return absl::InvalidArgumentError(absl::StrCat("stage ", s, ": layers ", Str(layers), " should start at ",
                                                     at, " and not be empty"));
    }
    for (int t = 1; t < plan.tp(); ++t) {
      const proto::RankShard& r = plan.ranks(s * plan.tp() + t);
      if (!(ToSpan(r.layers()) == layers)) {
        return absl::InvalidArgumentError(absl::StrCat("rank ", r.rank(), " (stage ", s, ", tp ", t,
                                                       "): layers ", Str(ToSpan(r.layers())),
                                                       " differ from its stage's ", Str(layers)));
      }
    }
    at = layers.end;
  }
  if (at != n_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("the stages hold layers [0, ", at, ") but the model has ", n_layers));
  }
  return absl::OkStatus();
}

// Column cuts of wo (at query head * head_dim) and ffn_down (at FFN columns)
// must fall on block boundaries of the stage's layers.
absl::Status CheckAlignment(const proto::RankShard& r, const ModelTensors& m) {
  for (int64_t i = r.layers().begin(); i < r.layers().end(); ++i) {
    const LayerTensors& l = m.layers[static_cast<size_t>(i)];
    const int64_t wo_align = SliceAlignment(l.wo.type);
    const int64_t down_align = SliceAlignment(l.down.type);
    for (int64_t head : {r.q_heads().begin(), r.q_heads().end()}) {
      if ((head * m.config.head_dim) % wo_align != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rank ", r.rank(), ": query head ", head, " starts wo column ", head * m.config.head_dim,
            ", not a multiple of layer ", i, "'s ", std::string(DTypeName(l.wo.type)), " block of ", wo_align));
      }
    }
    for (int64_t col : {r.ffn().begin(), r.ffn().end()}) {
      if (col % down_align != 0 && col != m.config.ffn_dim) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rank ", r.rank(), ": FFN column ", col, " is not a multiple of layer ", i, "'s ",
            std::string(DTypeName(l.down.type)), " block of ", down_align));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePlan(const proto::ShardPlan& plan, const ModelTensors& m) {
  const ModelConfig& c = m.config;
  if (plan.version() != kShardPlanVersion) {
    return absl::InvalidArgumentError(absl::StrCat("shard plan version ", plan.version(),
                                                   " is not the version this build reads (", kShardPlanVersion, ")"));
  }
  if (plan.tp() < 1 || plan.pp() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("plan shape tp ", plan.tp(), " x pp ", plan.pp(), " is empty"));
  }
  if (int64_t{plan.tp()} * plan.pp() != plan.ranks_size()) {
    return absl::InvalidArgumentError(absl::StrCat("plan shape tp ", plan.tp(), " x pp ", plan.pp(), " needs ",
                                                   int64_t{plan.tp()} * plan.pp(), " ranks but lists ",
                                                   plan.ranks_size()));
  }
  if (plan.pp() > c.n_layers || static_cast<int64_t>(m.layers.size()) != c.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("plan pp ", plan.pp(), " does not fit the model's ",
                                                   c.n_layers, " layers"));
  }
  if (c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError("the model's heads are not a multiple of its KV heads");
  }
  if (plan.kv_tokens() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("plan KV budget ", plan.kv_tokens(), " is negative"));
  }
  for (int i = 0; i < plan.ranks_size(); ++i) {
    const proto::RankShard& r = plan.ranks(i);
    if (r.rank() != i || r.stage() != i / plan.tp() || r.tp_rank() != i % plan.tp()) {
      return absl::InvalidArgumentError(absl::StrCat("plan entry ", i, " says rank ", r.rank(), ", stage ",
                                                     r.stage(), ", tp ", r.tp_rank(), "; expected rank ", i,
                                                     ", stage ", i / plan.tp(), ", tp ", i % plan.tp()));
    }
  }
  if (auto st = CheckLayers(plan, c.n_layers); !st.ok()) return st;

  const int64_t group = c.n_heads / c.n_kv_heads;
  for (int s = 0; s < plan.pp(); ++s) {
    if (auto st = CheckTiling(plan, s, "query heads", c.n_heads, &proto::RankShard::q_heads); !st.ok()) return st;
    if (auto st = CheckTiling(plan, s, "FFN columns", c.ffn_dim, &proto::RankShard::ffn); !st.ok()) return st;
    const bool holds_vocab = s == 0 || s == plan.pp() - 1;
    if (holds_vocab) {
      if (auto st = CheckTiling(plan, s, "vocabulary rows", c.vocab_size, &proto::RankShard::vocab); !st.ok()) {
        return st;
      }
    }
    for (int t = 0; t < plan.tp(); ++t) {
      const proto::RankShard& r = plan.ranks(s * plan.tp() + t);
      if (!holds_vocab && ToSpan(r.vocab()).size() != 0) {
        return absl::InvalidArgumentError(absl::StrCat("rank ", r.rank(), ": stage ", s,
                                                       " neither embeds nor computes logits but holds vocabulary rows ",
                                                       Str(ToSpan(r.vocab()))));
      }
      const Span want = KvHeadsFor(ToSpan(r.q_heads()), group);
      if (!(ToSpan(r.kv_heads()) == want)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rank ", r.rank(), ": KV heads ", Str(ToSpan(r.kv_heads())), " are not the ", Str(want),
            " its query heads ", Str(ToSpan(r.q_heads())), " read (", group, " query heads per KV head)"));
      }
      if (auto st = CheckAlignment(r, m); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera
