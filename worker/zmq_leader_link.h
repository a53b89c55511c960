// The leader's link to the coordinator over ZeroMQ: a DEALER socket connected
// to the coordinator's worker endpoint, owned by an I/O thread of the link's
// own. That thread sends the heartbeat on its own clock, so heartbeats keep
// flowing while the leader computes a long step, and it talks to the
// leader's thread through an inproc PAIR pair, so neither side waits on a
// timer to see the other's messages.
//
// Every message is one frame holding one serialized WorkerMessage or
// CoordinatorMessage with version PROTOCOL_VERSION_1; an incoming frame that
// does not parse, comes in several parts or carries another version is
// logged and dropped.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/leader_link.h"
#include "zmq.hpp"

namespace tessera {

struct ZmqLeaderLinkOptions {
  std::string endpoint;  // the coordinator's worker endpoint, e.g. tcp://host:5556
  absl::Duration heartbeat_period = absl::Seconds(1);
  // How long closing the link may spend delivering what is still queued
  // (the last updates, a StartupFailed), so shutdown never hangs on a
  // coordinator that is gone.
  absl::Duration linger = absl::Seconds(1);
};

class ZmqLeaderLink final : public LeaderLink {
 public:
  // Connects (ZeroMQ connects lazily: no coordinator needs to be up yet).
  // InvalidArgument for an endpoint ZeroMQ cannot use.
  static absl::StatusOr<std::unique_ptr<ZmqLeaderLink>> Connect(const ZmqLeaderLinkOptions& options);
  ~ZmqLeaderLink() override;

  // Receive and Send are for one thread (the leader's); SetHeartbeat for any.
  absl::StatusOr<std::optional<proto::CoordinatorMessage>> Receive(absl::Duration wait) override;
  absl::Status Send(const proto::WorkerMessage& message) override;
  void SetHeartbeat(const proto::Heartbeat& heartbeat) override;

  const std::string& endpoint() const { return options_.endpoint; }

 private:
  ZmqLeaderLink(const ZmqLeaderLinkOptions& options, std::unique_ptr<zmq::context_t> context);
  // The I/O thread's loop; owns the DEALER and its end of the pipe.
  void IoLoop(zmq::socket_t dealer, zmq::socket_t pipe);
  // The heartbeat to send now, serialized; empty when none is set.
  std::string HeartbeatFrame();

  const ZmqLeaderLinkOptions options_;
  std::unique_ptr<zmq::context_t> context_;
  zmq::socket_t pipe_;  // the leader thread's end
  std::thread io_;
  std::atomic<bool> broken_{false};  // the I/O thread ended on an error
  absl::Mutex mu_;
  std::optional<proto::Heartbeat> heartbeat_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera
