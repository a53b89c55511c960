// AdminClient against a bare ROUTER standing in for the coordinator's admin
// socket: one request, one reply; silence, late answers and garbage.
#include "client/lib/admin_client.h"

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/client/fake_admin_socket.h"

namespace tessera {
namespace {

using testing::FakeAdminSocket;

std::unique_ptr<AdminClient> MustConnect(const std::string& endpoint, absl::Duration timeout) {
  AdminClientOptions options;
  options.endpoint = endpoint;
  options.timeout = timeout;
  auto client = AdminClient::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

proto::AdminRequest Drain(uint64_t group) {
  proto::AdminRequest r;
  r.mutable_drain()->set_group_id(group);
  return r;
}

proto::AdminReply Result(const std::string& message) {
  proto::AdminReply reply;
  reply.mutable_result()->set_message(message);
  return reply;
}

TEST(AdminClientTest, OneRequestOneReplyAndErrorsAreReplies) {
  FakeAdminSocket fake;
  auto admin = MustConnect(fake.endpoint(), absl::Seconds(10));
  std::thread server([&] {
    auto r = fake.Receive();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->request.version(), static_cast<uint32_t>(proto::PROTOCOL_VERSION_1));
    ASSERT_TRUE(r->request.has_drain());
    EXPECT_EQ(r->request.drain().group_id(), 3u);
    fake.Reply(r->identity, Result("group 3 drained"));
    r = fake.Receive();
    ASSERT_TRUE(r.has_value());
    proto::AdminReply refused;
    refused.mutable_error()->set_code(proto::ERROR_NOT_FOUND);
    refused.mutable_error()->set_message("no group 4");
    fake.Reply(r->identity, refused);
  });
  absl::StatusOr<proto::AdminReply> reply = admin->Call(Drain(3));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->result().message(), "group 3 drained");
  reply = admin->Call(Drain(4));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->error().code(), proto::ERROR_NOT_FOUND);
  server.join();
}

TEST(AdminClientTest, SilenceIsDeadlineExceededAndALateAnswerIsNeverTakenForTheNextCall) {
  FakeAdminSocket fake;
  auto admin = MustConnect(fake.endpoint(), absl::Milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<proto::AdminReply> reply = admin->Call(Drain(1));
  EXPECT_TRUE(absl::IsDeadlineExceeded(reply.status())) << reply.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The first request arrived; its answer comes too late, after the second
  // request was sent on a new socket.
  auto first = fake.Receive();
  ASSERT_TRUE(first.has_value());
  std::thread server([&] {
    auto second = fake.Receive();
    ASSERT_TRUE(second.has_value());
    EXPECT_NE(second->identity, first->identity);
    fake.Reply(first->identity, Result("late"));  // to a socket that is gone
    fake.Reply(second->identity, Result("second"));
  });
  reply = admin->Call(Drain(2));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->result().message(), "second");
  server.join();
}

TEST(AdminClientTest, GarbageIsDataLossAndTheClientStaysUsable) {
  FakeAdminSocket fake;
  auto admin = MustConnect(fake.endpoint(), absl::Seconds(10));
  std::thread server([&] {
    auto r = fake.Receive();
    ASSERT_TRUE(r.has_value());
    fake.SendRaw(r->identity, std::string(9, '\xff'));
    r = fake.Receive();
    ASSERT_TRUE(r.has_value());
    proto::AdminReply v2 = Result("v2");
    v2.set_version(2);
    fake.SendRaw(r->identity, v2.SerializeAsString());
    r = fake.Receive();
    ASSERT_TRUE(r.has_value());
    fake.Reply(r->identity, Result("fine"));
  });
  EXPECT_TRUE(absl::IsDataLoss(admin->Call(Drain(1)).status()));
  EXPECT_TRUE(absl::IsDataLoss(admin->Call(Drain(1)).status()));
  absl::StatusOr<proto::AdminReply> reply = admin->Call(Drain(1));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->result().message(), "fine");
  server.join();
}

TEST(AdminClientTest, BadOptionsAreInvalidArgument) {
  AdminClientOptions options;
  EXPECT_TRUE(absl::IsInvalidArgument(AdminClient::Connect(options).status()));
  options.endpoint = "localhost:5557";
  EXPECT_TRUE(absl::IsInvalidArgument(AdminClient::Connect(options).status()));
  options.endpoint = "tcp://127.0.0.1:5557";
  options.timeout = absl::ZeroDuration();
  EXPECT_TRUE(absl::IsInvalidArgument(AdminClient::Connect(options).status()));
}

}  // namespace
}  // namespace tessera
