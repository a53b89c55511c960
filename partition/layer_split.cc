#include "partition/layer_split.h"

#include <algorithm>
#include <limits>

namespace tessera {

LayerSplit BestLayerSplit(int pp, int64_t n_layers, Combine combine, const StageValue& value,
                          const StageAllowed& allowed) {
  constexpr double kNone = std::numeric_limits<double>::infinity();
  const auto n = static_cast<size_t>(n_layers);
  const auto stages = static_cast<size_t>(pp);
  // best[s][b]: the best value of stages 0..s holding layers [0, b);
  // from[s][b]: where stage s begins in that best split.
  std::vector<std::vector<double>> best(stages, std::vector<double>(n + 1, kNone));
  std::vector<std::vector<int64_t>> from(stages, std::vector<int64_t>(n + 1, -1));
  for (size_t s = 0; s < stages; ++s) {
    const auto stage = static_cast<int>(s);
    // Every stage before this one and after it needs a layer.
    for (int64_t b = stage + 1; b <= n_layers - (pp - 1 - stage); ++b) {
      const int64_t a_lo = s == 0 ? 0 : stage;
      const int64_t a_hi = s == 0 ? 0 : b - 1;
      for (int64_t a = a_lo; a <= a_hi; ++a) {
        const double before = s == 0 ? 0.0 : best[s - 1][static_cast<size_t>(a)];
        if (before == kNone || !allowed(stage, a, b)) continue;
        const double v = value(stage, a, b);
        const double total = combine == Combine::kMax ? std::max(before, v) : before + v;
        if (total < best[s][static_cast<size_t>(b)]) {
          best[s][static_cast<size_t>(b)] = total;
          from[s][static_cast<size_t>(b)] = a;
        }
      }
    }
  }
  LayerSplit out;
  if (stages == 0 || best[stages - 1][n] == kNone) return out;
  out.found = true;
  out.value = best[stages - 1][n];
  out.bounds.assign(stages + 1, 0);
  out.bounds[stages] = n_layers;
  for (size_t s = stages; s-- > 0;) out.bounds[s] = from[s][static_cast<size_t>(out.bounds[s + 1])];
  return out;
}

}  // namespace tessera
