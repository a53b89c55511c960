#include "fake_coordinator.h"

#include <cerrno>
#include <utility>

#include "gtest/gtest.h"

namespace tessera::testing {

FakeCoordinator::FakeCoordinator() : socket_(context_, zmq::socket_type::router) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::router_mandatory, true);
  socket_.bind("tcp://127.0.0.1:*");
  endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
}

FakeCoordinator::~FakeCoordinator() { Join(); }

void FakeCoordinator::Run(std::function<void(FakeCoordinator&)> script) {
  thread_ = std::thread([this, script = std::move(script)] { script(*this); });
}

void FakeCoordinator::Join() {
  if (thread_.joinable()) thread_.join();
}

std::optional<FakeCoordinator::Received> FakeCoordinator::Receive(absl::Duration timeout) {
  zmq_pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, static_cast<long>(absl::ToInt64Milliseconds(timeout))) <= 0) {
    ADD_FAILURE() << "fake coordinator: no request within " << timeout;
    return std::nullopt;
  }
  zmq::message_t identity;
  zmq::message_t payload;
  (void)socket_.recv(identity);
  (void)socket_.recv(payload);
  EXPECT_FALSE(payload.more()) << "a client message must be one frame";
  Received received;
  received.identity = identity.to_string();
  if (!received.request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    ADD_FAILURE() << "fake coordinator: a frame that is not a ClientRequest";
    return std::nullopt;
  }
  return received;
}

bool FakeCoordinator::AnythingWithin(absl::Duration timeout) {
  zmq_pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, static_cast<long>(absl::ToInt64Milliseconds(timeout))) <= 0) return false;
  zmq::message_t part;
  do {
    (void)socket_.recv(part);
  } while (part.more());
  return true;
}

bool FakeCoordinator::Reply(const std::string& identity, proto::ClientReply reply) {
  reply.set_version(proto::PROTOCOL_VERSION_1);
  return SendRaw(identity, reply.SerializeAsString());
}

bool FakeCoordinator::SendRaw(const std::string& identity, const std::string& bytes) {
  try {
    socket_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
    return true;
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return false;
    throw;
  }
}

proto::ClientReply ChunkReply(const std::string& id, int index, std::vector<int> tokens, const std::string& text) {
  proto::ClientReply reply;
  reply.set_request_id(id);
  proto::TokenChunk* chunk = reply.mutable_chunk();
  chunk->set_index(index);
  for (int t : tokens) chunk->add_tokens(t);
  chunk->set_text(text);
  return reply;
}

proto::ClientReply ResultReply(const std::string& id, std::vector<int> tokens, const std::string& text,
                               proto::FinishReason finish) {
  proto::ClientReply reply;
  reply.set_request_id(id);
  proto::GenerateResult* result = reply.mutable_result();
  for (int t : tokens) result->add_tokens(t);
  result->set_text(text);
  result->set_finish_reason(finish);
  result->mutable_usage()->set_completion_tokens(static_cast<int>(tokens.size()));
  return reply;
}

proto::ClientReply ErrorReply(const std::string& id, proto::ErrorCode code, const std::string& message) {
  proto::ClientReply reply;
  reply.set_request_id(id);
  reply.mutable_error()->set_code(code);
  reply.mutable_error()->set_message(message);
  return reply;
}

}  // namespace tessera::testing
