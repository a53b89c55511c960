// Runs one level's workload against the coordinator: `options.connections`
// client sockets, each on its own thread with its share of the concurrency,
// stream on, every chunk's arrival recorded.
#pragma once

#include <chrono>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/load/options.h"
#include "bench/load/request_record.h"
#include "bench/load/workload.h"

namespace tessera::bench {

using BenchClock = std::chrono::steady_clock;

// One record per workload request, in workload order. Times are seconds
// since `origin`. Closed loop: at most `concurrency` in flight, the next sent
// as one ends. Open loop (workload.arrivals): each is sent when due, still at
// most `concurrency` in flight. A socket that fails ends the run with its
// status.
absl::StatusOr<std::vector<RequestRecord>> RunLevel(const BenchOptions& options, int concurrency,
                                                    const Workload& workload, BenchClock::time_point origin);

}  // namespace tessera::bench
