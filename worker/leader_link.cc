#include "worker/leader_link.h"

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace tessera {

absl::StatusOr<proto::PlanAssignment> RegisterGroup(LeaderLink& link, const proto::Register& registration,
                                                    absl::Duration timeout) {
  proto::WorkerMessage m;
  m.set_version(proto::PROTOCOL_VERSION_1);
  *m.mutable_registration() = registration;
  if (absl::Status s = link.Send(m); !s.ok()) return s;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("no plan from the coordinator within ",
                                                      absl::FormatDuration(timeout),
                                                      " (is tessera-coordinator running, with --workers there?)"));
    }
    auto got = link.Receive(left);
    if (!got.ok()) return got.status();
    if (!got->has_value()) continue;
    const proto::CoordinatorMessage& c = **got;
    switch (c.kind_case()) {
      case proto::CoordinatorMessage::kPlan:
        return c.plan();
      case proto::CoordinatorMessage::kRejected:
        return absl::FailedPreconditionError(
            absl::StrCat("the coordinator rejected this group: ", c.rejected().message()));
      case proto::CoordinatorMessage::kShutdown:
        return absl::CancelledError(absl::StrCat("the coordinator shut down: ", c.shutdown().reason()));
      default:
        LOG(WARNING) << "ignoring a coordinator message (kind " << c.kind_case() << ") that came before the plan";
        break;
    }
  }
}

}  // namespace tessera
