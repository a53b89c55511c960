// tessera-bench's outputs: the table on stdout, the JSON file with every
// statistic and the options, and the gnuplot PNG.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/load/options.h"
#include "bench/load/stats.h"
#include "nlohmann/json.hpp"

namespace tessera::bench {

// What the coordinator said about itself before the run.
struct RunInfo {
  std::string model;
  int groups_ready = 0;
  std::string started_at;  // UTC, RFC 3339
};

// One row per level: conc, req, err, out tok/s, ratio to the first level,
// TTFT/TPOT/ITL/e2e p50 and p99 (ms), goodput (req/s).
void PrintTable(std::FILE* out, const BenchOptions& options, const RunInfo& info,
                const std::vector<LevelStats>& levels);

nlohmann::json OptionsToJson(const BenchOptions& options);
nlohmann::json LevelToJson(const LevelStats& level);
nlohmann::json RunToJson(const BenchOptions& options, const RunInfo& info, const std::vector<LevelStats>& levels);
absl::Status WriteJson(const std::string& path, const nlohmann::json& json);

// The gnuplot script of the PNG at `png_path`: output tok/s against
// concurrency (top), TTFT p50 (left axis) and TPOT p50 (right axis) against
// concurrency (bottom).
std::string PlotScript(const std::string& png_path, const std::string& label, const std::vector<LevelStats>& levels);
// Runs gnuplot on PlotScript. FailedPrecondition when no `gnuplot` is on
// PATH; Internal when it fails.
absl::Status WritePlot(const std::string& png_path, const std::string& label, const std::vector<LevelStats>& levels);

}  // namespace tessera::bench
