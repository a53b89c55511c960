#include "client/cli_cluster.h"

#include <atomic>
#include <csignal>
#include <iostream>

namespace tessera::cli {
namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

}  // namespace

void CatchInterrupt() {
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // no SA_RESTART: a blocked wait wakes up and looks at the flag
  sigaction(SIGINT, &action, nullptr);
}

bool InterruptRequested() { return g_interrupted.load(); }

absl::StatusOr<std::unique_ptr<Client>> ConnectCoordinator(const std::string& endpoint, absl::Duration reply_timeout,
                                                          int max_attempts, const AuthFlags& auth) {
  auto keys = ResolveAuthFlags(auth);
  if (!keys.ok()) return keys.status();
  ClientOptions options;
  options.endpoint = endpoint;
  options.reply_timeout = reply_timeout;
  options.max_attempts = max_attempts;
  options.interrupted = InterruptRequested;
  options.curve = *std::move(keys);
  return Client::Connect(options);
}

int ReportError(const absl::Status& status) {
  std::cerr << "error: " << status.message() << (absl::IsDeadlineExceeded(status) ? kNoAnswerHint : "") << "\n";
  if (InterruptRequested() || absl::IsCancelled(status)) return 130;
  return absl::IsInvalidArgument(status) ? 2 : 1;
}

std::string FinishReasonName(proto::FinishReason reason) {
  switch (reason) {
    case proto::FINISH_LENGTH:
      return "length";
    case proto::FINISH_EOS:
      return "eos";
    case proto::FINISH_CANCELLED:
      return "cancelled";
    default:
      return "unspecified";
  }
}

std::string ErrorCodeName(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return "BUSY";
    case absl::StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kCancelled:
      return "CANCELLED";
    case absl::StatusCode::kNotFound:
      return "NOT_FOUND";
    case absl::StatusCode::kDeadlineExceeded:
      return "NO_ANSWER";
    default:
      return "INTERNAL";
  }
}

}  // namespace tessera::cli
