// Raw ZeroMQ clients of the coordinator for its tests (DEALER or REQ), and
// request builders.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "proto/client_api.pb.h"
#include "tests/unit/coordinator/test_cluster.h"
#include "zmq.hpp"

namespace tessera::testing {

inline proto::ClientRequest Generate(const std::string& id, const std::string& prompt, int max_tokens, bool stream,
                                     uint64_t seed = 1) {
  proto::ClientRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  proto::GenerateRequest* g = r.mutable_generate();
  g->set_request_id(id);
  g->set_prompt(prompt);
  g->set_max_tokens(max_tokens);
  g->set_stream(stream);
  g->mutable_sampling()->set_seed(seed);
  return r;
}

inline proto::ClientRequest Cancel(const std::string& id) {
  proto::ClientRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  r.mutable_cancel()->set_request_id(id);
  return r;
}

// Everything a generate request got back.
struct Outcome {
  std::vector<proto::TokenChunk> chunks;
  std::optional<proto::GenerateResult> result;
  std::optional<proto::Error> error;
  bool done() const { return result.has_value() || error.has_value(); }
  // Tokens assembled from chunks the way a client does: by index, each once.
  std::vector<int32_t> StreamedTokens() const {
    std::vector<int32_t> out;
    for (const auto& c : chunks) {
      for (int i = 0; i < c.tokens_size(); ++i) {
        if (static_cast<size_t>(c.index()) + i == out.size()) out.push_back(c.tokens(i));
      }
    }
    return out;
  }
};

// A raw client: DEALER (one payload frame) or REQ.
class TestClient {
 public:
  TestClient(zmq::context_t& context, const std::string& endpoint,
             zmq::socket_type type = zmq::socket_type::dealer)
      : socket_(context, type) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }

  void Send(const proto::ClientRequest& request) {
    std::string bytes = request.SerializeAsString();
    socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
  void SendFrames(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // The next reply (the payload frame of whatever arrived), or nullopt.
  std::optional<proto::ClientReply> Receive(Millis timeout = 5000ms) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    std::vector<zmq::message_t> frames;
    for (;;) {
      zmq::message_t m;
      EXPECT_TRUE(socket_.recv(m, zmq::recv_flags::none));
      const bool more = m.more();
      frames.push_back(std::move(m));
      if (!more) break;
    }
    last_frames_ = frames.size();
    proto::ClientReply reply;
    EXPECT_TRUE(reply.ParseFromArray(frames.back().data(), static_cast<int>(frames.back().size())));
    return reply;
  }
  // Replies for `id` until its result or error (others are kept for later).
  Outcome Await(const std::string& id, Millis timeout = 10000ms) {
    Outcome out;
    const auto end = std::chrono::steady_clock::now() + timeout;
    auto take = [&](const proto::ClientReply& r) {
      if (r.has_chunk()) out.chunks.push_back(r.chunk());
      if (r.has_result()) out.result = r.result();
      if (r.has_error()) out.error = r.error();
    };
    for (auto it = stash_.begin(); it != stash_.end() && !out.done();) {
      if (it->request_id() == id) {
        take(*it);
        it = stash_.erase(it);
      } else {
        ++it;
      }
    }
    while (!out.done()) {
      const auto left = std::chrono::duration_cast<Millis>(end - std::chrono::steady_clock::now());
      if (left <= 0ms) break;
      std::optional<proto::ClientReply> r = Receive(left);
      if (!r) break;
      if (r->request_id() == id) {
        take(*r);
      } else {
        stash_.push_back(*r);
      }
    }
    return out;
  }
  proto::ClusterStatus Status() {
    proto::ClientRequest r;
    r.set_version(proto::PROTOCOL_VERSION_1);
    r.mutable_status();
    Send(r);
    for (;;) {
      std::optional<proto::ClientReply> reply = Receive();
      EXPECT_TRUE(reply.has_value()) << "no status answer";
      if (!reply) return {};
      if (reply->has_status()) return reply->status();
      stash_.push_back(*reply);
    }
  }
  size_t last_frames() const { return last_frames_; }
  void Close() { socket_.close(); }

 private:
  zmq::socket_t socket_;
  std::vector<proto::ClientReply> stash_;
  size_t last_frames_ = 0;
};

inline int ReadyGroups(const proto::ClusterStatus& s) {
  int n = 0;
  for (const auto& g : s.groups()) n += g.state() == proto::GROUP_READY;
  return n;
}

// Waits until the coordinator lists `n` ready groups.
inline bool WaitReadyGroups(TestClient& client, int n, Millis timeout = 5000ms) {
  return WaitUntil([&] { return ReadyGroups(client.Status()) == n; }, timeout);
}

}  // namespace tessera::testing
