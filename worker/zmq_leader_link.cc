#include "worker/zmq_leader_link.h"

#include <chrono>
#include <deque>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;

// The coordinator sends a group at most its max_sequences Starts ahead, and
// the leader at most one update message per step plus heartbeats: these
// bounds only matter when the coordinator stops reading, and then they cap
// the memory ZeroMQ holds (the I/O thread keeps the rest, see IoLoop).
constexpr int kDealerHwm = 10000;

// The two ends of the in-process pipe never drop or block: the I/O thread
// drains its end at once, and the leader's end holds what the coordinator
// sent (bounded as above).
void SetPipeOptions(zmq::socket_t& s) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, 0);
  s.set(zmq::sockopt::rcvhwm, 0);
}

std::chrono::milliseconds CeilMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d + absl::Milliseconds(1) - absl::Nanoseconds(1)));
}

std::atomic<uint64_t> link_counter{0};

// zmq::poll, with a signal's interruption (MPI runtimes send some) reported
// as false instead of thrown: the caller's loop just polls again.
bool Poll(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout) {
  try {
    zmq::poll(items, n, timeout);
    return true;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
}

}  // namespace

ZmqLeaderLink::ZmqLeaderLink(const ZmqLeaderLinkOptions& options, std::unique_ptr<zmq::context_t> context)
    : options_(options), context_(std::move(context)) {}

absl::StatusOr<std::unique_ptr<ZmqLeaderLink>> ZmqLeaderLink::Connect(const ZmqLeaderLinkOptions& options) {
  if (options.heartbeat_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the heartbeat period must be positive");
  }
  std::unique_ptr<ZmqLeaderLink> link(new ZmqLeaderLink(options, std::make_unique<zmq::context_t>(1)));
  try {
    zmq::context_t& ctx = *link->context_;
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, static_cast<int>(absl::ToInt64Milliseconds(options.linger)));
    dealer.set(zmq::sockopt::sndhwm, kDealerHwm);
    dealer.set(zmq::sockopt::rcvhwm, kDealerHwm);
    dealer.connect(options.endpoint);
    const std::string name = absl::StrCat("inproc://tessera-leader-link-", link_counter.fetch_add(1));
    zmq::socket_t io_end(ctx, zmq::socket_type::pair);
    SetPipeOptions(io_end);
    io_end.bind(name);
    link->pipe_ = zmq::socket_t(ctx, zmq::socket_type::pair);
    SetPipeOptions(link->pipe_);
    link->pipe_.connect(name);
    link->io_ = std::thread(&ZmqLeaderLink::IoLoop, link.get(), std::move(dealer), std::move(io_end));
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot connect to the coordinator at '", options.endpoint, "': ", e.what()));
  }
  return link;
}

ZmqLeaderLink::~ZmqLeaderLink() {
  if (io_.joinable()) {
    try {
      // An empty frame tells the I/O thread to finish.
      pipe_.send(zmq::message_t(), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      LOG(WARNING) << "closing the coordinator link: " << e.what();
    }
    io_.join();
  }
  pipe_.close();
  context_->close();
}

std::string ZmqLeaderLink::HeartbeatFrame() {
  proto::WorkerMessage m;
  {
    absl::MutexLock lock(&mu_);
    if (!heartbeat_.has_value()) return "";
    *m.mutable_heartbeat() = *heartbeat_;
  }
  m.set_version(proto::PROTOCOL_VERSION_1);
  return m.SerializeAsString();
}

void ZmqLeaderLink::SetHeartbeat(const proto::Heartbeat& heartbeat) {
  absl::MutexLock lock(&mu_);
  heartbeat_ = heartbeat;
}

void ZmqLeaderLink::IoLoop(zmq::socket_t dealer, zmq::socket_t pipe) {
  const auto period = std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(options_.heartbeat_period));
  // Messages the DEALER would not take yet (its peer is slow or not there):
  // kept in order here, so the leader's thread never blocks on the network.
  std::deque<zmq::message_t> outbox;
  auto next_beat = Clock::now();
  bool stopping = false;
  try {
    while (!stopping) {
      zmq::pollitem_t items[] = {
          {pipe.handle(), 0, ZMQ_POLLIN, 0},
          {dealer.handle(), 0, static_cast<short>(ZMQ_POLLIN | (outbox.empty() ? 0 : ZMQ_POLLOUT)), 0}};
      const auto now = Clock::now();
      const auto wait = next_beat > now ? std::chrono::ceil<std::chrono::milliseconds>(next_beat - now)
                                        : std::chrono::milliseconds(0);
      if (!Poll(items, 2, wait)) continue;

      if (items[0].revents & ZMQ_POLLIN) {
        while (true) {
          zmq::message_t m;
          if (!pipe.recv(m, zmq::recv_flags::dontwait)) break;
          if (m.size() == 0) {
            stopping = true;
            break;
          }
          outbox.push_back(std::move(m));
        }
      }
      if (items[1].revents & ZMQ_POLLIN) {
        while (true) {
          zmq::message_t m;
          if (!dealer.recv(m, zmq::recv_flags::dontwait)) break;
          if (m.more()) {
            int parts = 1;
            for (bool more = true; more; ++parts) {
              zmq::message_t rest;
              (void)dealer.recv(rest);  // the rest of a message is already here
              more = rest.more();
            }
            LOG(WARNING) << "dropped a " << parts << "-frame message from the coordinator (one frame expected)";
            continue;
          }
          proto::CoordinatorMessage cm;
          if (!cm.ParseFromArray(m.data(), static_cast<int>(m.size()))) {
            LOG(WARNING) << "dropped a " << m.size() << "-byte frame from the coordinator that does not parse";
            continue;
          }
          if (cm.version() != proto::PROTOCOL_VERSION_1) {
            LOG(WARNING) << "dropped a coordinator message of protocol version " << cm.version()
                         << " (this worker speaks " << proto::PROTOCOL_VERSION_1 << ")";
            continue;
          }
          pipe.send(m, zmq::send_flags::none);
        }
      }
      if (Clock::now() >= next_beat) {
        // Behind a backlog the queued messages already say the group lives.
        if (outbox.empty()) {
          std::string beat = HeartbeatFrame();
          if (!beat.empty()) outbox.emplace_back(beat.data(), beat.size());
        }
        next_beat = Clock::now() + period;
      }
      while (!outbox.empty() && dealer.send(outbox.front(), zmq::send_flags::dontwait)) outbox.pop_front();
    }
    if (!outbox.empty()) {
      LOG(WARNING) << outbox.size() << " messages for the coordinator at " << options_.endpoint
                   << " were not sent before the link closed";
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != ETERM) {
      LOG(ERROR) << "the link to the coordinator at " << options_.endpoint << " failed: " << e.what();
      broken_ = true;
      try {
        // Wakes a Receive that is waiting.
        pipe.send(zmq::message_t(), zmq::send_flags::dontwait);
      } catch (const zmq::error_t&) {
      }
    }
  }
  dealer.close();  // waits up to the linger for what ZeroMQ still holds
  pipe.close();
}

absl::StatusOr<std::optional<proto::CoordinatorMessage>> ZmqLeaderLink::Receive(absl::Duration wait) {
  auto gone = [&] {
    return absl::UnavailableError(absl::StrCat("the link to the coordinator at ", options_.endpoint, " failed"));
  };
  if (broken_) return gone();
  try {
    zmq::pollitem_t item{pipe_.handle(), 0, ZMQ_POLLIN, 0};
    if (!Poll(&item, 1, CeilMillis(wait)) || !(item.revents & ZMQ_POLLIN)) return std::nullopt;
    zmq::message_t m;
    if (!pipe_.recv(m, zmq::recv_flags::dontwait)) return std::nullopt;
    if (m.size() == 0) return gone();
    proto::CoordinatorMessage cm;
    // Checked by the I/O thread already.
    if (!cm.ParseFromArray(m.data(), static_cast<int>(m.size()))) {
      return absl::InternalError("a checked coordinator message no longer parses");
    }
    return cm;
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("the link to the coordinator at ", options_.endpoint, ": ", e.what()));
  }
}

absl::Status ZmqLeaderLink::Send(const proto::WorkerMessage& message) {
  if (broken_) {
    return absl::UnavailableError(absl::StrCat("the link to the coordinator at ", options_.endpoint, " failed"));
  }
  std::string bytes;
  if (message.version() == proto::PROTOCOL_VERSION_1) {
    bytes = message.SerializeAsString();
  } else {
    proto::WorkerMessage copy = message;
    copy.set_version(proto::PROTOCOL_VERSION_1);
    bytes = copy.SerializeAsString();
  }
  try {
    pipe_.send(zmq::buffer(bytes), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("the link to the coordinator at ", options_.endpoint, ": ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace tessera
