#include "client/lib/channel.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/curve_socket.h"

namespace tessera::client_internal {
namespace {

// Bounded on purpose: a client that lost its coordinator queues at most this
// many requests, and a reader that falls behind holds at most this many
// replies; beyond that ZeroMQ pushes back instead of growing without bound.
constexpr int kSendHwm = 1000;
constexpr int kReceiveHwm = 10000;
// Long enough for a Cancel sent at Ctrl-C to leave, short enough that an
// exiting client never hangs on a dead coordinator.
constexpr int kLingerMs = 500;

int ClampMs(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return static_cast<int>(std::clamp<int64_t>(ms, 0, int64_t{1} << 30));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Channel>> Channel::Open(zmq::context_t& context, const std::string& endpoint,
                                                       absl::Duration send_timeout,
                                                       const auth::CurveClientKeys& curve) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, kLingerMs);
    socket.set(zmq::sockopt::sndhwm, kSendHwm);
    socket.set(zmq::sockopt::rcvhwm, kReceiveHwm);
    socket.set(zmq::sockopt::sndtimeo, ClampMs(send_timeout));
    if (auto st = auth::ConfigureCurveClientSocket(socket, curve); !st.ok()) {
      return absl::InvalidArgumentError(st.message());
    }
    socket.connect(endpoint);
    return std::unique_ptr<Channel>(new Channel(std::move(socket), endpoint));
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot connect to coordinator '", endpoint, "': ", e.what(),
                     " (expected tcp://HOST:PORT)"));
  }
}

absl::Status Channel::Send(const proto::ClientRequest& request) {
  const std::string bytes = request.SerializeAsString();
  try {
    if (!socket_.send(zmq::buffer(bytes), zmq::send_flags::none)) {
      return absl::UnavailableError(
          absl::StrCat("coordinator ", endpoint_, ": send queue full (", kSendHwm,
                       " messages unsent; is tessera-coordinator running?)"));
    }
    return absl::OkStatus();
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(absl::StrCat("coordinator ", endpoint_, ": send failed: ", e.what()));
  }
}

absl::StatusOr<std::optional<proto::ClientReply>> Channel::Receive(absl::Duration timeout) {
  try {
    zmq_pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    const int rc = zmq_poll(&item, 1, ClampMs(timeout));
    if (rc < 0) {
      if (zmq_errno() == EINTR) return std::nullopt;
      return absl::UnavailableError(absl::StrCat("coordinator ", endpoint_, ": poll failed: ", zmq_strerror(zmq_errno())));
    }
    if (rc == 0 || !(item.revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> parts;
    do {
      zmq::message_t part;
      if (!socket_.recv(part, zmq::recv_flags::dontwait)) return std::nullopt;
      parts.push_back(std::move(part));
    } while (parts.back().more());
    // One frame per message; an empty delimiter before it (a coordinator
    // answering a REQ-style envelope) is tolerated.
    size_t first = 0;
    while (first + 1 < parts.size() && parts[first].size() == 0) ++first;
    if (parts.size() - first != 1) {
      return absl::DataLossError(absl::StrCat("coordinator ", endpoint_, " sent a message of ", parts.size(),
                                              " frames (the protocol has one frame per message)"));
    }
    proto::ClientReply reply;
    if (!reply.ParseFromArray(parts[first].data(), static_cast<int>(parts[first].size()))) {
      return absl::DataLossError(absl::StrCat("coordinator ", endpoint_, " sent a frame of ", parts[first].size(),
                                              " bytes that is not a ClientReply"));
    }
    if (reply.version() != proto::PROTOCOL_VERSION_1) {
      return absl::DataLossError(absl::StrCat("coordinator ", endpoint_, " answered in protocol version ",
                                              reply.version(), "; this client speaks ",
                                              static_cast<int>(proto::PROTOCOL_VERSION_1)));
    }
    return std::optional<proto::ClientReply>(std::move(reply));
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return std::nullopt;
    return absl::UnavailableError(absl::StrCat("coordinator ", endpoint_, ": receive failed: ", e.what()));
  }
}

}  // namespace tessera::client_internal
