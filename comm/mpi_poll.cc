#include "comm/mpi_poll.h"

#include <sched.h>

#include <algorithm>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tessera::mpi_internal {

Poller::Poller(const PollPolicy& policy, absl::Time deadline)
    : policy_(policy), start_(absl::Now()), deadline_(deadline) {}

bool Poller::Continue() {
  ++polls_;
  // Reading the clock costs about as much as an idle MPI_Test; while spinning
  // read it only every 64th poll.
  if (policy_.spin > absl::ZeroDuration() && (polls_ & 63) != 0) return true;
  const absl::Time now = absl::Now();
  if (now >= deadline_) return false;
  const absl::Duration waited = now - start_;
  if (waited < policy_.spin) return true;
  if (waited < policy_.spin + policy_.yield) {
    sched_yield();
    return true;
  }
  absl::SleepFor(std::min(policy_.sleep, deadline_ - now));
  return true;
}

absl::Status MpiError(int rc, std::string_view where, std::string_view call) {
  if (rc == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  return absl::UnavailableError(absl::StrCat(std::string(where), ": ", std::string(call), " failed: ",
                                             len > 0 ? std::string(text, len) : absl::StrCat("error ", rc)));
}

absl::StatusOr<bool> WaitAll(std::span<MPI_Request> reqs, absl::Time deadline, const PollPolicy& policy) {
  Poller poller(policy, deadline);
  while (true) {
    // One MPI_Testall drives MPI's progress engine once for all requests.
    int done = 0;
    const int rc = MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return MpiError(rc, "wait", "MPI_Testall");
    if (done) return true;
    if (!poller.Continue()) return false;
  }
}

}  // namespace tessera::mpi_internal
