// The C++ client library: talks the client API (proto/client_api.proto,
// docs/PROTOCOL.md) to a coordinator over one ZeroMQ DEALER socket.
//
// Two ways to use it:
//  - Generate(): one request, blocking, with an optional stream callback.
//    Retries (after no reply for `reply_timeout`, or a BUSY/UNAVAILABLE
//    answer) resend the same request id, so the coordinator never runs the
//    request twice; chunks the client already has (by index) are not
//    passed to the callback again.
//  - Submit() + Next(): many requests in flight on one socket (batch jobs,
//    the load generator). Next() returns replies as they arrive; the caller
//    matches them by request id. No retries on this path: the caller decides.
//
// Socket: one DEALER (linger 500 ms, send HWM 1000 and receive HWM 10000
// messages, so a dead coordinator blocks nothing forever). A silent try
// (no message for `reply_timeout`) replaces the socket, so the retry
// reaches the coordinator under a new identity and no stale reply meant for
// the old one is ever read; the old socket stays connected (unread) until
// the retry is answered, because a coordinator cancels the requests of a
// client that vanished. Replies to Submit()ted requests still on the old
// socket are lost then, so mix the two ways with care. Replies to submitted
// requests that arrive while Generate/Cancel/Status wait are kept for
// Next().
//
// A reply frame that does not parse (or is not version 1) is DataLoss from
// whichever call read it; the client stays usable. cppzmq's exceptions never
// leave the library.
//
// A Client is not thread-safe: use one per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/curve_keys.h"
#include "proto/client_api.pb.h"

namespace tessera {

struct ClientOptions {
  std::string endpoint;                                // tcp://HOST:PORT of the coordinator's client socket
  absl::Duration reply_timeout = absl::Seconds(60);    // silence this long (no chunk, no answer) is a lost try
  int max_attempts = 4;                                // tries of one Generate, the first included
  absl::Duration retry_backoff = absl::Milliseconds(200);  // doubled after each try
  // Polled by Generate at least every 50 ms while it waits (may be empty).
  // Once it returns true, Generate sends a CancelRequest for its request and
  // returns what the coordinator answers within `cancel_grace` (normally a
  // result with FINISH_CANCELLED), else Cancelled. For Ctrl-C: a signal
  // handler sets a flag, this reads it.
  std::function<bool()> interrupted;
  absl::Duration cancel_grace = absl::Seconds(2);
  // CURVE, for a coordinator started with --curve-key: its public key and
  // this client's key pair (auth/key_files.h reads them from files). Empty:
  // plain TCP. A client the coordinator does not let in gets no answer at
  // all (its tries time out), so a wrong key looks like a silent server.
  auth::CurveClientKeys curve;
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  virtual ~Client() = default;

  // Runs `request` (request_id filled in with NewRequestId() when empty) to
  // its end. `on_chunk` sees each new streamed chunk once, in order (set
  // request.stream to get them): chunk.index is the count of tokens passed
  // on before it and the texts concatenate to a prefix of the result's text
  // (the result may hold bytes no chunk carried, e.g. a UTF-8 tail). An
  // Error answer becomes a Status whose code follows ErrorToStatus; BUSY or
  // UNAVAILABLE on every try stays ResourceExhausted / Unavailable, and
  // silence on every try is DeadlineExceeded.
  virtual absl::StatusOr<proto::GenerateResult> Generate(
      proto::GenerateRequest request, const std::function<void(const proto::TokenChunk&)>& on_chunk = {}) = 0;
  // Asks the coordinator to cancel and waits up to `reply_timeout` for its
  // answer; the Generate of that id (on whichever client) ends with
  // FINISH_CANCELLED. NotFound for an unknown id.
  virtual absl::Status Cancel(const std::string& request_id) = 0;
  // Up to `max_attempts` tries of `reply_timeout` each; DeadlineExceeded
  // when none is answered.
  virtual absl::StatusOr<proto::ClusterStatus> Status() = 0;

  // Sends without waiting (request_id must be set).
  virtual absl::Status Submit(const proto::GenerateRequest& request) = 0;
  // The next reply to any submitted request, or nullopt after `timeout`
  // without one.
  virtual absl::StatusOr<std::optional<proto::ClientReply>> Next(absl::Duration timeout) = 0;
};

// 32 hex digits from a random source: unique enough across clients.
std::string NewRequestId();

// BUSY -> ResourceExhausted, UNAVAILABLE -> Unavailable, INVALID_ARGUMENT ->
// InvalidArgument, CANCELLED -> Cancelled, NOT_FOUND -> NotFound,
// MALFORMED / UNSUPPORTED_VERSION -> InvalidArgument, others -> Internal;
// the message keeps the coordinator's words.
absl::Status ErrorToStatus(const proto::Error& error);

}  // namespace tessera
