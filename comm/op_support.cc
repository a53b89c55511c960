#include "comm/op_support.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tessera::comm_internal {

std::string FormatTimeout(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "forever";
  if (d < absl::Seconds(1)) return absl::StrFormat("%g ms", absl::ToDoubleMilliseconds(d));
  return absl::StrFormat("%g s", absl::ToDoubleSeconds(d));
}

absl::Time DeadlineAfter(absl::Duration timeout) {
  // absl saturates: Now() + InfiniteDuration() is InfiniteFuture().
  return absl::Now() + timeout;
}

absl::Status NoAnswer(const Communicator& c, std::string_view op, std::span<const int> ranks, absl::Duration timeout) {
  std::string who;
  if (ranks.empty()) {
    who = "not every rank joined";
  } else if (ranks.size() == 1) {
    who = absl::StrCat("no answer from rank ", ranks[0]);
  } else {
    who = absl::StrCat("no answer from ranks ", absl::StrJoin(ranks, ", "));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(std::string(op), " on ", c.name(), ": ", who, " within ", FormatTimeout(timeout)));
}

absl::Status CheckTag(const Communicator& c, std::string_view op, int tag) {
  if (tag >= 0 && tag <= kMaxTag) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(op), " on ", c.name(), ": tag ", tag, " is outside [0, ", kMaxTag, "]"));
}

absl::Status CheckPeer(const Communicator& c, std::string_view op, std::string_view role, int peer) {
  if (peer >= 0 && peer < c.size()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(std::string(op), " on ", c.name(), ": ", std::string(role), " ", peer,
                                                 " is not a rank of this group of ", c.size()));
}

absl::Status BrokenState::Break(const absl::Status& status) {
  if (cause_.empty() && !status.ok()) cause_ = std::string(status.message());
  return status;
}

absl::Status BrokenState::Check(const Communicator& c, std::string_view op) const {
  if (cause_.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(std::string(op), " on ", c.name(),
                                             ": the communicator is broken by an earlier failure (", cause_,
                                             "); tear the group down and build a new one"));
}

}  // namespace tessera::comm_internal
