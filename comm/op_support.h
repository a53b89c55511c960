// What every Communicator implementation shares: argument checks, the wording
// of errors (so a message from the loopback reads like one from MPI), the
// broken state after a failure, and the per-call statistics.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "comm/communicator.h"

namespace tessera::comm_internal {

// "300 ms", "1.5 s", "forever": for messages a user reads.
std::string FormatTimeout(absl::Duration d);

// Time limit for a call: Now() + timeout, InfiniteFuture for an infinite one.
absl::Time DeadlineAfter(absl::Duration timeout);

// "all-reduce on loopback tp 1/2: no answer from rank 0 within 300 ms";
// `ranks` lists the peers waited for (several for a collective), or is empty
// when the implementation cannot tell which rank is late.
absl::Status NoAnswer(const Communicator& c, std::string_view op, std::span<const int> ranks, absl::Duration timeout);

absl::Status CheckTag(const Communicator& c, std::string_view op, int tag);
absl::Status CheckPeer(const Communicator& c, std::string_view op, std::string_view role, int peer);

// Remembers the first failure that left a communicator unusable. Once set,
// every call fails fast with Unavailable naming that cause.
class BrokenState {
 public:
  bool broken() const { return !cause_.empty(); }
  // Records `status` (when it is the first failure) and returns it unchanged.
  absl::Status Break(const absl::Status& status);
  absl::Status Check(const Communicator& c, std::string_view op) const;

 private:
  std::string cause_;
};

// Counts one call into CommStats: the op and its wall time always, bytes only
// when the caller reports success through Done().
class OpScope {
 public:
  explicit OpScope(CommStats& stats) : stats_(stats), start_(std::chrono::steady_clock::now()) {}
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  ~OpScope() {
    ++stats_.ops;
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void Done(int64_t sent, int64_t received) {
    stats_.bytes_sent += sent;
    stats_.bytes_received += received;
  }

 private:
  CommStats& stats_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tessera::comm_internal
