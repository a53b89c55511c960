// tessera-bench: a load generator for a running coordinator. Sweeps
// concurrency levels, records every streamed chunk's arrival, and reports
// TTFT, TPOT, ITL, end-to-end latency, throughput and goodput per level
// (see stats.h for the definitions).
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth/key_files.h"
#include "bench/load/level_runner.h"
#include "bench/load/options.h"
#include "bench/load/report.h"
#include "bench/load/stats.h"
#include "bench/load/workload.h"
#include "client/lib/client.h"
#include "glog/logging.h"

namespace tessera::bench {
namespace {

constexpr uint64_t kWarmupSeedSalt = 0x9e3779b97f4a7c15ull;

// The coordinator's status once it has a ready group (waiting up to
// --wait-ready for one), or the message tessera-bench exits with.
absl::StatusOr<RunInfo> Probe(const BenchOptions& o) {
  ClientOptions copts;
  copts.endpoint = o.coordinator;
  copts.reply_timeout = absl::Seconds(o.connect_timeout_s);
  copts.max_attempts = 1;
  auto keys = auth::LoadClientKeys(o.server_key, o.key);
  if (!keys.ok()) return keys.status();
  copts.curve = *std::move(keys);
  auto client = Client::Connect(copts);
  if (!client.ok()) return client.status();  // names the endpoint and what is wrong with it
  const absl::Time deadline = absl::Now() + absl::Seconds(o.wait_ready_s);
  while (true) {
    auto status = (*client)->Status();
    const bool more_time = absl::Now() < deadline;
    if (!status.ok()) {
      if (more_time) {  // it may still be starting
        absl::SleepFor(absl::Milliseconds(200));
        continue;
      }
      if (absl::IsDeadlineExceeded(status.status())) {
        return absl::UnavailableError(absl::StrCat("no answer from ", o.coordinator, " within ",
                                                   o.connect_timeout_s,
                                                   " s (is tessera-coordinator running? if it uses CURVE, check "
                                                   "--server-key/--key)"));
      }
      return absl::UnavailableError(
          absl::StrCat("no answer from ", o.coordinator, ": ", std::string(status.status().message())));
    }
    RunInfo info;
    info.model = status->model();
    std::vector<std::string> states;
    for (const proto::GroupStatus& g : status->groups()) {
      info.groups_ready += g.state() == proto::GROUP_READY;
      states.push_back(absl::StrCat(g.name(), " ", proto::GroupState_Name(g.state())));
    }
    info.started_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
    if (info.groups_ready > 0 || o.wait_ready_s <= 0) return info;
    if (!more_time) {
      return absl::UnavailableError(absl::StrCat(
          "no replica group of ", o.coordinator, " became ready within ", o.wait_ready_s, " s (groups: ",
          states.empty() ? "none registered" : absl::StrJoin(states, ", "), ")"));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

int CountErrors(const std::vector<RequestRecord>& records) {
  int n = 0;
  for (const RequestRecord& r : records) n += !r.ok;
  return n;
}

int Run(const BenchOptions& o) {
  if (absl::Status st = ValidateOptions(o); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  auto info = Probe(o);
  if (!info.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(info.status().message()).c_str());
    return 1;
  }
  if (o.only_wait) {
    std::fprintf(stderr, "%s: %d group(s) ready, model %s\n", o.coordinator.c_str(), info->groups_ready,
                 info->model.c_str());
    return 0;
  }
  if (info->groups_ready == 0) {
    std::fprintf(stderr, "warning: no replica group of %s is ready; requests may fail with UNAVAILABLE\n",
                 o.coordinator.c_str());
  }
  const Slo slo{o.slo_ttft_ms, o.slo_tpot_ms};
  std::vector<LevelStats> levels;
  bool stopped = false;
  for (int concurrency : o.concurrency) {
    if (o.warmup > 0) {
      const Workload warm = MakeWorkload(o, o.warmup, o.seed ^ kWarmupSeedSalt);
      auto records = RunLevel(o, concurrency, warm, BenchClock::now());
      if (!records.ok()) {
        std::fprintf(stderr, "error: warmup at concurrency %d: %s\n", concurrency,
                     std::string(records.status().message()).c_str());
        return 1;
      }
      if (int errors = CountErrors(*records); errors > 0) {
        std::fprintf(stderr, "warning: %d of %d warmup requests failed at concurrency %d\n", errors, o.warmup,
                     concurrency);
      }
    }
    // The same seed at every level: levels differ in concurrency, not prompts.
    const Workload workload = MakeWorkload(o, RequestsPerLevel(o, concurrency), o.seed);
    auto records = RunLevel(o, concurrency, workload, BenchClock::now());
    if (!records.ok()) {
      std::fprintf(stderr, "error: concurrency %d: %s\n", concurrency,
                   std::string(records.status().message()).c_str());
      return 1;
    }
    levels.push_back(ComputeLevelStats(concurrency, *records, slo));
    const LevelStats& l = levels.back();
    std::fprintf(stderr, "concurrency %d: %d requests (%d failed) in %.2f s, %.1f output tok/s\n", concurrency,
                 l.requests, l.errors, l.wall_s, l.output_tok_s);
    if (l.errors_by_code.count("TIMEOUT") != 0) {
      std::fprintf(stderr, "stopping the sweep: %s went silent for %g s with requests in flight\n",
                   o.coordinator.c_str(), o.timeout_s);
      stopped = true;
      break;
    }
  }
  FillRatios(levels);
  PrintTable(stdout, o, *info, levels);
  std::fflush(stdout);

  int exit_code = stopped ? 1 : 0;
  if (!o.json.empty()) {
    if (absl::Status st = WriteJson(o.json, RunToJson(o, *info, levels)); !st.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
      exit_code = 1;
    } else {
      std::fprintf(stderr, "wrote %s\n", o.json.c_str());
    }
  }
  if (!o.plot.empty()) {
    absl::Status st = WritePlot(o.plot, o.label, levels);
    if (absl::IsFailedPrecondition(st)) {
      std::fprintf(stderr, "no plot: %s%s\n", std::string(st.message()).c_str(),
                   o.json.empty() ? "" : "; the JSON has every figure");
    } else if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
      exit_code = 1;
    } else {
      std::fprintf(stderr, "wrote %s\n", o.plot.c_str());
    }
  }
  int succeeded = 0;
  for (const LevelStats& l : levels) succeeded += l.succeeded;
  if (succeeded == 0) {
    std::fprintf(stderr, "error: no request succeeded (see the error counts above)\n");
    return 1;
  }
  return exit_code;
}

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  google::InitGoogleLogging(argv[0]);
  std::signal(SIGPIPE, SIG_IGN);  // a gnuplot that dies early must not kill the run

  CLI::App app{"tessera-bench: load generator for a tessera coordinator (TTFT, TPOT, ITL, throughput, goodput)"};
  tessera::bench::BenchOptions options;
  tessera::bench::RegisterOptions(app, options);
  CLI11_PARSE(app, argc, argv);
  return tessera::bench::Run(options);
}
