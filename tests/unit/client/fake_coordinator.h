// A scripted stand-in for tessera-coordinator's client socket: a ROUTER on
// a free loopback port, driven by a test-supplied script on its own thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "proto/client_api.pb.h"
#include "zmq.hpp"

namespace tessera::testing {

class FakeCoordinator {
 public:
  struct Received {
    std::string identity;  // the client socket's routing id, as the ROUTER saw it
    proto::ClientRequest request;
  };

  FakeCoordinator();
  ~FakeCoordinator();  // joins the script

  const std::string& endpoint() const { return endpoint_; }

  // Runs `script` on a thread of its own; Join() waits for it.
  void Run(std::function<void(FakeCoordinator&)> script);
  void Join();

  // The next request; a test failure and nullopt after `timeout`, or when
  // the frame is not a ClientRequest.
  std::optional<Received> Receive(absl::Duration timeout = absl::Seconds(10));
  // True when some request arrives within `timeout` (it is consumed).
  bool AnythingWithin(absl::Duration timeout);
  // Sends `reply` (version set to 1) to the client with that identity;
  // false when no such client is connected (ROUTER_MANDATORY, as the real
  // coordinator sets it).
  bool Reply(const std::string& identity, proto::ClientReply reply);
  bool SendRaw(const std::string& identity, const std::string& bytes);

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string endpoint_;
  std::thread thread_;
};

// Reply builders.
proto::ClientReply ChunkReply(const std::string& id, int index, std::vector<int> tokens, const std::string& text);
proto::ClientReply ResultReply(const std::string& id, std::vector<int> tokens, const std::string& text,
                               proto::FinishReason finish = proto::FINISH_LENGTH);
proto::ClientReply ErrorReply(const std::string& id, proto::ErrorCode code, const std::string& message);

}  // namespace tessera::testing
