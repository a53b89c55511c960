// Shared pieces of the cluster subcommands (generate --coordinator, submit,
// status): connecting, Ctrl-C, and turning the client library's Status into
// a message and an exit code.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/cli_auth.h"
#include "client/lib/client.h"
#include "proto/client_api.pb.h"

namespace tessera::cli {

// Installs a SIGINT handler that only sets a flag (a second Ctrl-C kills
// the process as usual); InterruptRequested() reads it.
void CatchInterrupt();
bool InterruptRequested();

// A client for `endpoint` whose Generate notices Ctrl-C (see CatchInterrupt),
// with CURVE when `auth` names keys (an error for bad ones).
absl::StatusOr<std::unique_ptr<Client>> ConnectCoordinator(const std::string& endpoint, absl::Duration reply_timeout,
                                                          int max_attempts, const AuthFlags& auth);

// Prints "error: <message>" to stderr (with a hint about keys when nothing
// answered); returns 2 for a request the coordinator or the command refused
// as invalid, 130 for Ctrl-C, else 1.
int ReportError(const absl::Status& status);

// "length", "eos", "cancelled" (what results files and status print).
std::string FinishReasonName(proto::FinishReason reason);
// The client API's error code a Status came from ("BUSY", "INVALID_ARGUMENT", ...).
std::string ErrorCodeName(const absl::Status& status);

}  // namespace tessera::cli
