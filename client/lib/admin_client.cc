#include "client/lib/admin_client.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/curve_socket.h"

namespace tessera {
namespace {

// One request at a time: a few queued messages are plenty, and an exiting
// admin command never waits long on a coordinator that is gone.
constexpr int kHwm = 16;
constexpr int kLingerMs = 200;

int ClampMs(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, int64_t{1} << 30));
}

}  // namespace

absl::StatusOr<std::unique_ptr<zmq::socket_t>> OpenAdminSocket(zmq::context_t& context,
                                                              const AdminClientOptions& options) {
  try {
    auto socket = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, kLingerMs);
    socket->set(zmq::sockopt::sndhwm, kHwm);
    socket->set(zmq::sockopt::rcvhwm, kHwm);
    socket->set(zmq::sockopt::sndtimeo, ClampMs(options.timeout));
    if (absl::Status st = auth::ConfigureCurveClientSocket(*socket, options.curve); !st.ok()) {
      return absl::InvalidArgumentError(st.message());
    }
    socket->connect(options.endpoint);
    return socket;
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot connect to the admin socket '", options.endpoint,
                                                   "': ", e.what(), " (expected tcp://HOST:PORT)"));
  }
}

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::Connect(const AdminClientOptions& options) {
  if (options.endpoint.empty()) return absl::InvalidArgumentError("no admin endpoint given");
  if (options.timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("the timeout must be positive");
  std::unique_ptr<AdminClient> client(new AdminClient(options));
  if (absl::Status st = client->Reopen(); !st.ok()) return st;
  return client;
}

absl::Status AdminClient::Reopen() {
  socket_.reset();
  auto socket = OpenAdminSocket(context_, options_);
  if (!socket.ok()) return socket.status();
  socket_ = *std::move(socket);
  return absl::OkStatus();
}

absl::StatusOr<proto::AdminReply> AdminClient::Call(proto::AdminRequest request) {
  const std::string where = absl::StrCat("coordinator admin socket ", options_.endpoint);
  if (socket_ == nullptr) {
    if (absl::Status st = Reopen(); !st.ok()) return st;
  }
  request.set_version(proto::PROTOCOL_VERSION_1);
  const std::string bytes = request.SerializeAsString();
  const absl::Time deadline = absl::Now() + options_.timeout;
  try {
    if (!socket_->send(zmq::buffer(bytes), zmq::send_flags::none)) {
      socket_.reset();
      return absl::DeadlineExceededError(absl::StrCat(where, ": could not send within ",
                                                      absl::FormatDuration(options_.timeout)));
    }
    std::vector<zmq::message_t> parts;
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
      const int n = zmq::poll(&item, 1, std::chrono::milliseconds(ClampMs(std::max(left, absl::ZeroDuration()))));
      if (n > 0) break;
      if (absl::Now() >= deadline) {
        socket_.reset();  // a late answer must not be read as the next call's
        return absl::DeadlineExceededError(
            absl::StrCat(where, ": no answer within ", absl::FormatDuration(options_.timeout),
                         " (is tessera-coordinator running, with --admin at that address?)"));
      }
    }
    do {
      zmq::message_t part;
      if (!socket_->recv(part, zmq::recv_flags::dontwait)) break;
      parts.push_back(std::move(part));
    } while (parts.back().more());
    // One frame; an empty delimiter before it is tolerated.
    size_t first = 0;
    while (first + 1 < parts.size() && parts[first].size() == 0) ++first;
    if (parts.empty() || parts.size() - first != 1) {
      return absl::DataLossError(absl::StrCat(where, " sent a message of ", parts.size(),
                                              " frames (the protocol has one frame per message)"));
    }
    proto::AdminReply reply;
    if (!reply.ParseFromArray(parts[first].data(), static_cast<int>(parts[first].size()))) {
      return absl::DataLossError(
          absl::StrCat(where, " sent a frame of ", parts[first].size(), " bytes that is not an AdminReply"));
    }
    if (reply.version() != proto::PROTOCOL_VERSION_1) {
      return absl::DataLossError(absl::StrCat(where, " answered in protocol version ", reply.version(),
                                              "; this client speaks ",
                                              static_cast<int>(proto::PROTOCOL_VERSION_1)));
    }
    return reply;
  } catch (const zmq::error_t& e) {
    socket_.reset();
    if (e.num() == EINTR) return absl::CancelledError(absl::StrCat(where, ": interrupted"));
    return absl::UnavailableError(absl::StrCat(where, ": ", e.what()));
  }
}

}  // namespace tessera
