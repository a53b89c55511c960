// A client of the coordinator's admin socket (proto/admin_service.proto,
// docs/PROTOCOL.md "Admin API"): one request, one reply, a timeout.
//
//   auto admin = AdminClient::Connect({.endpoint = "tcp://host:5557"});
//   proto::AdminRequest r;
//   r.mutable_drain()->set_group_id(2);
//   absl::StatusOr<proto::AdminReply> reply = (*admin)->Call(r);
//
// An AdminError is a reply like any other (the caller decides what a refusal
// means); only transport trouble is a Status. Not thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/curve_keys.h"
#include "proto/admin_service.pb.h"
#include "zmq.hpp"

namespace tessera {

struct AdminClientOptions {
  std::string endpoint;                        // tcp://HOST:PORT of the coordinator's --admin socket
  absl::Duration timeout = absl::Seconds(5);   // for one answer
  auth::CurveClientKeys curve;                 // the admin key pair and the coordinator's key; empty: plain TCP
};

class AdminClient {
 public:
  // InvalidArgument for an empty or unparsable endpoint, a timeout <= 0 or
  // unusable keys. Connecting does not wait for the coordinator.
  static absl::StatusOr<std::unique_ptr<AdminClient>> Connect(const AdminClientOptions& options);

  // Sends `request` (its version set to 1) and returns the answer.
  // DeadlineExceeded when none comes within the timeout: the socket is then
  // replaced, so a late answer is never taken for the next call's. DataLoss
  // for an answer that is not an AdminReply of version 1.
  absl::StatusOr<proto::AdminReply> Call(proto::AdminRequest request);

  const std::string& endpoint() const { return options_.endpoint; }

 private:
  explicit AdminClient(AdminClientOptions options) : options_(std::move(options)), context_(1) {}
  absl::Status Reopen();

  AdminClientOptions options_;
  zmq::context_t context_;
  std::unique_ptr<zmq::socket_t> socket_;
};

// The admin socket itself: a DEALER with bounded linger and queues, CURVE
// when `options.curve` is set, connected to `options.endpoint`. The one
// place its options are chosen.
absl::StatusOr<std::unique_ptr<zmq::socket_t>> OpenAdminSocket(zmq::context_t& context,
                                                              const AdminClientOptions& options);

}  // namespace tessera
