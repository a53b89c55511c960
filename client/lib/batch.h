// Runs many generate requests through one Client with a bounded number in
// flight (Submit/Next), retrying BUSY and UNAVAILABLE answers with backoff
// under the same request id. The engine of `tessera submit`; usable by any
// batch tool.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/lib/client.h"
#include "proto/client_api.pb.h"

namespace tessera {

struct BatchOptions {
  int concurrency = 16;                                  // requests sent and not ended, retries waiting included
  int max_attempts = 30;                                 // tries of one request that got BUSY / UNAVAILABLE
  absl::Duration retry_backoff = absl::Milliseconds(200);  // doubled per try of a request ...
  absl::Duration max_backoff = absl::Seconds(5);         // ... up to this
  // No message at all for this long while requests are out resends every
  // one of them (same ids: the coordinator runs none twice); after
  // `max_silences` such resends in a row they fail.
  absl::Duration reply_timeout = absl::Seconds(60);
  int max_silences = 3;
  // Polled between waits: once true, nothing new is sent, requests out are
  // cancelled (their results, normally FINISH_CANCELLED, still arrive) and
  // those never sent end Cancelled.
  std::function<bool()> interrupted;
};

struct BatchOutcome {
  absl::StatusOr<proto::GenerateResult> result = absl::UnknownError("not run");
  int attempts = 0;                                 // sends of this request, resends included
  absl::Duration latency = absl::ZeroDuration();    // first send to its end
};

struct BatchStats {
  int64_t total = 0;
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t busy_retries = 0;    // BUSY / UNAVAILABLE answers that were retried
  int64_t resends = 0;         // requests sent again after silence
  int64_t garbage_frames = 0;  // replies that did not parse (skipped)
  int64_t streamed_tokens = 0;  // tokens seen in chunks and results so far
  int64_t output_tokens = 0;   // completion tokens of finished requests
};

// Runs every request of `requests` (each with a request id, all ids
// distinct) to its end. `on_done(i, outcome)` is called once per request,
// in the order they end; `on_tick(stats)` after every end and at least
// every 100 ms. Not OK only when the socket itself failed: then every
// request not yet ended has ended with that status.
absl::Status RunBatch(Client& client, const std::vector<proto::GenerateRequest>& requests,
                      const BatchOptions& options,
                      const std::function<void(size_t index, BatchOutcome outcome)>& on_done,
                      const std::function<void(const BatchStats& stats)>& on_tick = {});

}  // namespace tessera
