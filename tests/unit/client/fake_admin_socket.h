// A bare ROUTER standing in for the coordinator's admin socket, read and
// answered by the test itself.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "proto/admin_service.pb.h"
#include "zmq.hpp"

namespace tessera::testing {

// On a free loopback port.
class FakeAdminSocket {
 public:
  FakeAdminSocket() : socket_(context_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  struct Received {
    std::string identity;
    proto::AdminRequest request;
  };
  std::optional<Received> Receive(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    zmq::message_t identity, payload;
    EXPECT_TRUE(socket_.recv(identity, zmq::recv_flags::none));
    EXPECT_TRUE(socket_.recv(payload, zmq::recv_flags::none));
    Received r{identity.to_string(), {}};
    EXPECT_TRUE(r.request.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
    return r;
  }
  void SendRaw(const std::string& identity, const std::string& bytes) {
    socket_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
  void Reply(const std::string& identity, proto::AdminReply reply) {
    reply.set_version(proto::PROTOCOL_VERSION_1);
    SendRaw(identity, reply.SerializeAsString());
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string endpoint_;
};

}  // namespace tessera::testing
