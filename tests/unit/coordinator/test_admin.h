// Admin requests for the coordinator's tests, and a raw admin client: a
// DEALER on the admin socket, one request and one reply at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proto/admin_service.pb.h"
#include "tests/unit/coordinator/test_cluster.h"
#include "zmq.hpp"

namespace tessera::testing {

inline proto::PlanSpec Bounds(std::vector<int64_t> bounds) {
  proto::PlanSpec spec;
  for (int64_t b : bounds) spec.add_layer_bounds(b);
  return spec;
}

inline proto::AdminRequest AdminStatus() {
  proto::AdminRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  r.mutable_status();
  return r;
}

inline proto::AdminRequest Rebalance(uint64_t group, const proto::PlanSpec& spec, int64_t drain_timeout_ms = 0) {
  proto::AdminRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  r.mutable_rebalance()->set_group_id(group);
  *r.mutable_rebalance()->mutable_spec() = spec;
  r.mutable_rebalance()->set_drain_timeout_ms(drain_timeout_ms);
  return r;
}

inline proto::AdminRequest PlanPreview(uint64_t group, const proto::PlanSpec& spec, bool diff = false) {
  proto::AdminRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  proto::PlanRequest* p = diff ? r.mutable_plan_diff() : r.mutable_plan_preview();
  p->set_group_id(group);
  *p->mutable_spec() = spec;
  return r;
}

enum class GroupOp { kDrain, kUndrain, kRemove };
inline proto::AdminRequest OnGroup(GroupOp op, uint64_t group) {
  proto::AdminRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  switch (op) {
    case GroupOp::kDrain:
      r.mutable_drain()->set_group_id(group);
      break;
    case GroupOp::kUndrain:
      r.mutable_undrain()->set_group_id(group);
      break;
    case GroupOp::kRemove:
      r.mutable_remove()->set_group_id(group);
      break;
  }
  return r;
}

// Stage s's layer range in a plan, as [begin, end) pairs in stage order.
inline std::vector<std::pair<int64_t, int64_t>> StageLayers(const proto::ShardPlan& plan) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const proto::RankShard& r : plan.ranks()) {
    if (r.tp_rank() == 0) out.emplace_back(r.layers().begin(), r.layers().end());
  }
  return out;
}

class TestAdmin {
 public:
  TestAdmin(zmq::context_t& context, const std::string& endpoint) : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }

  void SendFrames(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  std::optional<proto::AdminReply> Receive(Millis timeout = 5000ms) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    zmq::message_t m;
    EXPECT_TRUE(socket_.recv(m, zmq::recv_flags::none));
    EXPECT_FALSE(m.more()) << "one frame per admin reply";
    proto::AdminReply reply;
    EXPECT_TRUE(reply.ParseFromArray(m.data(), static_cast<int>(m.size())));
    return reply;
  }
  // Sends `request` (version 1) and returns the answer; a test failure and
  // an empty reply when none comes.
  proto::AdminReply Call(proto::AdminRequest request) {
    request.set_version(proto::PROTOCOL_VERSION_1);
    SendFrames({request.SerializeAsString()});
    std::optional<proto::AdminReply> reply = Receive();
    EXPECT_TRUE(reply.has_value()) << "no admin answer";
    return reply.value_or(proto::AdminReply());
  }
  proto::ClusterStatus Status() {
    proto::AdminRequest r;
    r.mutable_status();
    return Call(r).status();
  }

 private:
  zmq::socket_t socket_;
};

}  // namespace tessera::testing
