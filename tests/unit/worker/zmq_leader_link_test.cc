// ZmqLeaderLink against a ROUTER socket standing in for the coordinator:
// messages both ways in single frames with the protocol version, heartbeats
// from the link's own thread once set, broken or foreign frames dropped
// without disturbing the next one, and a close that does not hang when no
// coordinator ever answered.
#include "worker/zmq_leader_link.h"

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "zmq.hpp"

namespace tessera {
namespace {

class FakeCoordinatorSocket {
 public:
  FakeCoordinatorSocket() : router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& peer() const { return peer_; }

  // The next message from the link, within `timeout`; remembers its sender.
  std::optional<proto::WorkerMessage> Receive(std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    std::vector<zmq::message_t> frames;
    do {
      frames.emplace_back();
      EXPECT_TRUE(router_.recv(frames.back()));
    } while (frames.back().more());
    EXPECT_EQ(frames.size(), 2u) << "identity + one payload frame";
    peer_ = frames[0].to_string();
    proto::WorkerMessage m;
    EXPECT_TRUE(m.ParseFromArray(frames.back().data(), static_cast<int>(frames.back().size())));
    return m;
  }
  void SendFrames(const std::vector<std::string>& payload) {
    router_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    for (size_t i = 0; i < payload.size(); ++i) {
      router_.send(zmq::buffer(payload[i]), i + 1 < payload.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  void Send(proto::CoordinatorMessage m, uint32_t version = proto::PROTOCOL_VERSION_1) {
    m.set_version(version);
    SendFrames({m.SerializeAsString()});
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t router_;
  std::string endpoint_, peer_;
};

proto::WorkerMessage Registration() {
  proto::WorkerMessage m;
  m.mutable_registration()->set_name("host:42");
  return m;
}

TEST(ZmqLeaderLinkTest, MessagesBothWaysAndHeartbeatsOnItsOwnClock) {
  FakeCoordinatorSocket coordinator;
  ZmqLeaderLinkOptions o;
  o.endpoint = coordinator.endpoint();
  o.heartbeat_period = absl::Milliseconds(20);
  auto link = ZmqLeaderLink::Connect(o);
  ASSERT_TRUE(link.ok()) << link.status();

  ASSERT_TRUE((*link)->Send(Registration()).ok());
  auto got = coordinator.Receive(std::chrono::seconds(10));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->version(), static_cast<uint32_t>(proto::PROTOCOL_VERSION_1));
  ASSERT_TRUE(got->has_registration());
  EXPECT_EQ(got->registration().name(), "host:42");
  // No heartbeat before the first SetHeartbeat (five periods of quiet).
  EXPECT_FALSE(coordinator.Receive(std::chrono::milliseconds(100)).has_value());

  proto::CoordinatorMessage plan;
  plan.mutable_plan()->set_group_id(7);
  coordinator.Send(plan);
  auto in = (*link)->Receive(absl::Seconds(10));
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_TRUE(in->has_value());
  EXPECT_EQ((**in).plan().group_id(), 7u);

  // This thread now leaves the link alone; the heartbeats keep coming.
  proto::Heartbeat h;
  h.set_group_id(7);
  h.set_running(3);
  (*link)->SetHeartbeat(h);
  for (int i = 0; i < 3; ++i) {
    auto beat = coordinator.Receive(std::chrono::seconds(10));
    ASSERT_TRUE(beat.has_value()) << "heartbeat " << i;
    ASSERT_TRUE(beat->has_heartbeat());
    EXPECT_EQ(beat->heartbeat().group_id(), 7u);
    EXPECT_EQ(beat->heartbeat().running(), 3);
  }
}

TEST(ZmqLeaderLinkTest, DropsFramesItCannotUseAndKeepsServing) {
  FakeCoordinatorSocket coordinator;
  ZmqLeaderLinkOptions o;
  o.endpoint = coordinator.endpoint();
  auto link = ZmqLeaderLink::Connect(o);
  ASSERT_TRUE(link.ok()) << link.status();
  ASSERT_TRUE((*link)->Send(Registration()).ok());
  ASSERT_TRUE(coordinator.Receive(std::chrono::seconds(10)).has_value());

  proto::CoordinatorMessage start;
  start.mutable_start()->set_seq(1);
  coordinator.SendFrames({"\xff\xff\xff not a protobuf"});
  coordinator.Send(start, /*version=*/2);
  coordinator.SendFrames({"", start.SerializeAsString()});  // two frames
  coordinator.Send(start, /*version=*/0);
  proto::CoordinatorMessage cancel;
  cancel.mutable_cancel()->set_seq(9);
  coordinator.Send(cancel);

  auto in = (*link)->Receive(absl::Seconds(10));
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_TRUE(in->has_value());
  ASSERT_TRUE((**in).has_cancel()) << "every earlier frame should have been dropped";
  EXPECT_EQ((**in).cancel().seq(), 9u);
  auto none = (*link)->Receive(absl::ZeroDuration());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(ZmqLeaderLinkTest, ClosesPromptlyWithNoCoordinator) {
  // Bind and close a socket to find a port nobody listens on.
  std::string endpoint;
  {
    FakeCoordinatorSocket gone;
    endpoint = gone.endpoint();
  }
  ZmqLeaderLinkOptions o;
  o.endpoint = endpoint;
  o.linger = absl::Milliseconds(50);
  const auto start = std::chrono::steady_clock::now();
  {
    auto link = ZmqLeaderLink::Connect(o);
    ASSERT_TRUE(link.ok()) << link.status();
    ASSERT_TRUE((*link)->Send(Registration()).ok());
    proto::Heartbeat h;
    (*link)->SetHeartbeat(h);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ZmqLeaderLinkTest, RefusesAnEndpointZeroMqCannotUse) {
  ZmqLeaderLinkOptions o;
  o.endpoint = "not-an-endpoint";
  auto link = ZmqLeaderLink::Connect(o);
  EXPECT_EQ(link.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(link.status().message().find("not-an-endpoint"), std::string::npos) << link.status();
}

}  // namespace
}  // namespace tessera
