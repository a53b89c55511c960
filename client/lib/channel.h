// One DEALER socket to a coordinator's client socket, speaking whole
// ClientRequest / ClientReply frames. Internal to the client library: it
// turns cppzmq's exceptions into Status and garbage frames into DataLoss.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/curve_keys.h"
#include "proto/client_api.pb.h"
#include "zmq.hpp"

namespace tessera::client_internal {

class Channel {
 public:
  // Connects (without waiting for the peer: messages queue until it is
  // there), with CURVE when `curve` is set. InvalidArgument for an endpoint
  // ZeroMQ cannot parse or unusable keys.
  static absl::StatusOr<std::unique_ptr<Channel>> Open(zmq::context_t& context, const std::string& endpoint,
                                                       absl::Duration send_timeout,
                                                       const auth::CurveClientKeys& curve);

  // Unavailable when the send queue stays full for the send timeout.
  absl::Status Send(const proto::ClientRequest& request);
  // The next reply, or nullopt after `timeout` (also when a signal
  // interrupted the wait, so the caller can look at its flags). DataLoss
  // for a frame that is not a ClientReply of PROTOCOL_VERSION_1.
  absl::StatusOr<std::optional<proto::ClientReply>> Receive(absl::Duration timeout);

 private:
  Channel(zmq::socket_t socket, std::string endpoint) : socket_(std::move(socket)), endpoint_(std::move(endpoint)) {}

  zmq::socket_t socket_;
  std::string endpoint_;
};

}  // namespace tessera::client_internal
