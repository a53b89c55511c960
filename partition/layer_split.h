// The pipeline search: cut layers [0, n) into pp consecutive non-empty ranges
// by dynamic programming over the cut points. Internal to partition/.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace tessera {

// value(stage, a, b): the cost of `stage` holding layers [a, b).
// allowed(stage, a, b): whether that is permitted at all.
using StageValue = std::function<double(int, int64_t, int64_t)>;
using StageAllowed = std::function<bool(int, int64_t, int64_t)>;

enum class Combine { kMax, kSum };

struct LayerSplit {
  bool found = false;
  double value = 0;             // max or sum over stages of value()
  std::vector<int64_t> bounds;  // pp + 1 cut points: stage s holds [bounds[s], bounds[s + 1])
};

// The split minimising the max (or sum) of the stage values over allowed
// ranges. Ties keep the first found (earlier cuts first): deterministic.
// O(pp * n^2) evaluations.
LayerSplit BestLayerSplit(int pp, int64_t n_layers, Combine combine, const StageValue& value,
                          const StageAllowed& allowed);

}  // namespace tessera
