// The client library against a scripted fake coordinator.
#include "client/lib/client.h"

#include <atomic>
#include <string>
#include <vector>

#include "fake_coordinator.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using testing::ChunkReply;
using testing::ErrorReply;
using testing::FakeCoordinator;
using testing::ResultReply;

ClientOptions FastOptions(const FakeCoordinator& fake) {
  ClientOptions options;
  options.endpoint = fake.endpoint();
  options.reply_timeout = absl::Seconds(10);  // no test waits this long unless it fails
  options.max_attempts = 3;
  options.retry_backoff = absl::Milliseconds(1);
  return options;
}

std::unique_ptr<Client> MustConnect(const ClientOptions& options) {
  auto client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

proto::GenerateRequest Request(const std::string& id, const std::string& prompt = "Hello") {
  proto::GenerateRequest request;
  request.set_request_id(id);
  request.set_prompt(prompt);
  request.set_max_tokens(8);
  request.set_stream(true);
  return request;
}

struct Seen {
  int index;
  std::vector<int> tokens;
  std::string text;
  bool operator==(const Seen&) const = default;
};

std::function<void(const proto::TokenChunk&)> Collect(std::vector<Seen>& seen) {
  return [&seen](const proto::TokenChunk& c) {
    seen.push_back({c.index(), std::vector<int>(c.tokens().begin(), c.tokens().end()), c.text()});
  };
}

TEST(ClientTest, GenerateDeliversChunksInOrderThenTheResult) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->request.version(), 1u);
    ASSERT_TRUE(r->request.has_generate());
    const proto::GenerateRequest& g = r->request.generate();
    EXPECT_EQ(g.request_id(), "req-1");
    EXPECT_EQ(g.prompt(), "Hello");
    EXPECT_EQ(g.sampling().seed(), 42u);
    f.Reply(r->identity, ChunkReply("req-1", 0, {5, 6}, "ab"));
    f.Reply(r->identity, ChunkReply("req-1", 2, {7}, "c"));
    f.Reply(r->identity, ResultReply("req-1", {5, 6, 7}, "abc"));
  });
  auto client = MustConnect(FastOptions(fake));
  proto::GenerateRequest request = Request("req-1");
  request.mutable_sampling()->set_seed(42);
  std::vector<Seen> seen;
  auto result = client->Generate(request, Collect(seen));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(seen, (std::vector<Seen>{{0, {5, 6}, "ab"}, {2, {7}, "c"}}));
  EXPECT_EQ(result->text(), "abc");
  EXPECT_EQ(result->tokens_size(), 3);
}

TEST(ClientTest, RepeatedChunksAreNotDeliveredTwice) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    f.Reply(r->identity, ChunkReply("x", 0, {1, 2}, "ab"));
    f.Reply(r->identity, ChunkReply("x", 0, {1, 2}, "ab"));         // an exact repeat
    f.Reply(r->identity, ChunkReply("x", 0, {1, 2, 3}, "abc"));     // a catch-up resend from index 0
    f.Reply(r->identity, ChunkReply("x", 3, {4}, "d"));
    f.Reply(r->identity, ResultReply("x", {1, 2, 3, 4}, "abcd"));
  });
  auto client = MustConnect(FastOptions(fake));
  std::vector<Seen> seen;
  auto result = client->Generate(Request("x"), Collect(seen));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(seen, (std::vector<Seen>{{0, {1, 2}, "ab"}, {2, {3}, "c"}, {3, {4}, "d"}}));
}

TEST(ClientTest, SilenceRetriesTheSameIdFromANewIdentity) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto first = f.Receive();
    auto second = f.Receive();  // the first try is never answered
    ASSERT_TRUE(first.has_value() && second.has_value());
    EXPECT_EQ(first->request.generate().request_id(), "same");
    EXPECT_EQ(second->request.generate().request_id(), "same");
    EXPECT_NE(first->identity, second->identity);
    // The lost try's socket is still connected (a coordinator that saw it
    // vanish would cancel the request before the retry arrives), but
    // nothing sent to it reaches the caller.
    EXPECT_TRUE(f.Reply(first->identity, ResultReply("same", {9}, "stale")));
    EXPECT_TRUE(f.Reply(second->identity, ResultReply("same", {1}, "fresh")));
  });
  ClientOptions options = FastOptions(fake);
  options.reply_timeout = absl::Milliseconds(500);  // long enough that a loaded machine answers the second try in time
  auto client = MustConnect(options);
  auto result = client->Generate(Request("same"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text(), "fresh");
}

TEST(ClientTest, SilenceOnEveryTryIsDeadlineExceeded) {
  FakeCoordinator fake;  // never answers
  ClientOptions options = FastOptions(fake);
  options.reply_timeout = absl::Milliseconds(100);
  options.max_attempts = 2;
  auto client = MustConnect(options);
  auto result = client->Generate(Request("lost"));
  EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
  EXPECT_NE(result.status().message().find("no answer after 2 tries"), std::string::npos) << result.status();
  EXPECT_NE(result.status().message().find(fake.endpoint()), std::string::npos) << result.status();
}

TEST(ClientTest, BusyThenSuccessRetriesWithTheSameId) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto first = f.Receive();
    ASSERT_TRUE(first.has_value());
    f.Reply(first->identity, ErrorReply("b", proto::ERROR_BUSY, "queue full (64 waiting)"));
    auto second = f.Receive();
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second->request.generate().request_id(), "b");
    f.Reply(second->identity, ResultReply("b", {3}, "ok"));
  });
  auto client = MustConnect(FastOptions(fake));
  auto result = client->Generate(Request("b"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text(), "ok");
}

TEST(ClientTest, BusyOnEveryTryIsResourceExhaustedAfterMaxAttempts) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    for (int i = 0; i < 3; ++i) {
      auto r = f.Receive();
      ASSERT_TRUE(r.has_value());
      f.Reply(r->identity, ErrorReply("b", proto::ERROR_BUSY, "queue full"));
    }
    EXPECT_FALSE(f.AnythingWithin(absl::Milliseconds(300))) << "a fourth try";
  });
  auto client = MustConnect(FastOptions(fake));  // max_attempts 3
  auto result = client->Generate(Request("b"));
  fake.Join();
  EXPECT_TRUE(absl::IsResourceExhausted(result.status())) << result.status();
  EXPECT_NE(result.status().message().find("busy after 3 tries: queue full"), std::string::npos) << result.status();
}

TEST(ClientTest, NonRetriableErrorEndsTheRequestAtOnce) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    f.Reply(r->identity, ErrorReply("v", proto::ERROR_INVALID_ARGUMENT, "the prompt is empty"));
    EXPECT_FALSE(f.AnythingWithin(absl::Milliseconds(200))) << "retried a request that cannot succeed";
  });
  auto client = MustConnect(FastOptions(fake));
  auto result = client->Generate(Request("v"));
  fake.Join();
  EXPECT_TRUE(absl::IsInvalidArgument(result.status())) << result.status();
  EXPECT_EQ(result.status().message(), "the prompt is empty");
}

TEST(ClientTest, ErrorCodesMapToStatusCodes) {
  struct Case {
    proto::ErrorCode code;
    absl::StatusCode expected;
  };
  const Case cases[] = {
      {proto::ERROR_BUSY, absl::StatusCode::kResourceExhausted},
      {proto::ERROR_UNAVAILABLE, absl::StatusCode::kUnavailable},
      {proto::ERROR_INVALID_ARGUMENT, absl::StatusCode::kInvalidArgument},
      {proto::ERROR_CANCELLED, absl::StatusCode::kCancelled},
      {proto::ERROR_NOT_FOUND, absl::StatusCode::kNotFound},
      {proto::ERROR_MALFORMED, absl::StatusCode::kInvalidArgument},
      {proto::ERROR_UNSUPPORTED_VERSION, absl::StatusCode::kInvalidArgument},
      {proto::ERROR_INTERNAL, absl::StatusCode::kInternal},
      {proto::ERROR_UNSPECIFIED, absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    proto::Error error;
    error.set_code(c.code);
    error.set_message("words of the coordinator");
    const absl::Status status = ErrorToStatus(error);
    EXPECT_EQ(status.code(), c.expected) << proto::ErrorCode_Name(c.code);
    EXPECT_EQ(status.message(), "words of the coordinator");
  }
  proto::Error bare;
  bare.set_code(proto::ERROR_BUSY);
  EXPECT_EQ(ErrorToStatus(bare).message(), "ERROR_BUSY");  // never an empty message
}

TEST(ClientTest, CancelIsAnsweredByCancelReply) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->request.has_cancel());
    EXPECT_EQ(r->request.cancel().request_id(), "c1");
    proto::ClientReply reply;
    reply.set_request_id("c1");
    reply.mutable_cancelled();
    f.Reply(r->identity, reply);
  });
  auto client = MustConnect(FastOptions(fake));
  EXPECT_TRUE(client->Cancel("c1").ok());
}

TEST(ClientTest, CancelOfAnUnknownIdIsNotFound) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    f.Reply(r->identity, ErrorReply("nope", proto::ERROR_NOT_FOUND, "no request nope"));
  });
  auto client = MustConnect(FastOptions(fake));
  const absl::Status status = client->Cancel("nope");
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
}

TEST(ClientTest, StatusReturnsTheClusterStatus) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->request.has_status());
    proto::ClientReply reply;
    proto::ClusterStatus* status = reply.mutable_status();
    status->set_model("tiny");
    status->set_queue_limit(64);
    status->add_groups()->set_name("host:1");
    f.Reply(r->identity, reply);
  });
  auto client = MustConnect(FastOptions(fake));
  auto status = client->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->model(), "tiny");
  EXPECT_EQ(status->queue_limit(), 64);
  ASSERT_EQ(status->groups_size(), 1);
  EXPECT_EQ(status->groups(0).name(), "host:1");
}

TEST(ClientTest, SubmitAndNextCarrySeveralRequestsAtOnce) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    std::string identity;
    for (const char* id : {"a", "b", "c"}) {
      auto r = f.Receive();
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->request.generate().request_id(), id);  // one socket keeps the order
      identity = r->identity;
    }
    f.Reply(identity, ChunkReply("b", 0, {1}, "x"));
    f.Reply(identity, ResultReply("c", {2}, "y"));
    f.Reply(identity, ResultReply("a", {3}, "z"));
    f.Reply(identity, ErrorReply("b", proto::ERROR_INTERNAL, "group died"));
  });
  auto client = MustConnect(FastOptions(fake));
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(client->Submit(Request(id)).ok());
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    auto reply = client->Next(absl::Seconds(10));
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_TRUE(reply->has_value());
    order.push_back((*reply)->request_id() + ":" + std::to_string((*reply)->kind_case()));
  }
  const std::string chunk = std::to_string(proto::ClientReply::kChunk);
  const std::string result = std::to_string(proto::ClientReply::kResult);
  const std::string error = std::to_string(proto::ClientReply::kError);
  EXPECT_EQ(order, (std::vector<std::string>{"b:" + chunk, "c:" + result, "a:" + result, "b:" + error}));
  auto none = client->Next(absl::Milliseconds(20));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(ClientTest, RepliesToSubmittedRequestsWaitForNextWhileStatusRuns) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto submitted = f.Receive();
    auto status = f.Receive();
    ASSERT_TRUE(submitted.has_value() && status.has_value());
    f.Reply(submitted->identity, ResultReply("s", {4}, "done"));
    proto::ClientReply reply;
    reply.mutable_status()->set_model("m");
    f.Reply(status->identity, reply);
  });
  auto client = MustConnect(FastOptions(fake));
  ASSERT_TRUE(client->Submit(Request("s")).ok());
  auto status = client->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->model(), "m");
  auto reply = client->Next(absl::Milliseconds(1));  // already here
  ASSERT_TRUE(reply.ok() && reply->has_value());
  EXPECT_EQ((*reply)->request_id(), "s");
  EXPECT_EQ((*reply)->result().text(), "done");
}

TEST(ClientTest, GarbageReplyIsAnErrorAndTheClientGoesOn) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    f.SendRaw(r->identity, std::string("\xff\xff\xff\x01garbage", 11));
    auto next = f.Receive();
    ASSERT_TRUE(next.has_value());
    f.SendRaw(next->identity, std::string("\x08\x07", 2));  // a ClientReply of version 7
    f.Reply(next->identity, ResultReply("g2", {1}, "fine"));
  });
  auto client = MustConnect(FastOptions(fake));
  auto broken = client->Generate(Request("g1"));
  EXPECT_TRUE(absl::IsDataLoss(broken.status())) << broken.status();
  ASSERT_TRUE(client->Submit(Request("g2")).ok());
  auto wrong_version = client->Next(absl::Seconds(10));
  EXPECT_TRUE(absl::IsDataLoss(wrong_version.status())) << wrong_version.status();
  EXPECT_NE(wrong_version.status().message().find("version 7"), std::string::npos) << wrong_version.status();
  auto fine = client->Next(absl::Seconds(10));
  ASSERT_TRUE(fine.ok() && fine->has_value()) << fine.status();
  EXPECT_EQ((*fine)->result().text(), "fine");
}

TEST(ClientTest, InterruptSendsCancelAndReturnsTheCancelledResult) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto r = f.Receive();
    ASSERT_TRUE(r.has_value());
    f.Reply(r->identity, ChunkReply("i", 0, {1}, "a"));
    auto cancel = f.Receive();
    ASSERT_TRUE(cancel.has_value());
    ASSERT_TRUE(cancel->request.has_cancel());
    EXPECT_EQ(cancel->request.cancel().request_id(), "i");
    proto::ClientReply ack;
    ack.set_request_id("i");
    ack.mutable_cancelled();
    f.Reply(cancel->identity, ack);
    f.Reply(cancel->identity, ResultReply("i", {1}, "a", proto::FINISH_CANCELLED));
  });
  std::atomic<bool> stop{false};
  ClientOptions options = FastOptions(fake);
  options.interrupted = [&stop] { return stop.load(); };
  auto client = MustConnect(options);
  auto result = client->Generate(Request("i"), [&stop](const proto::TokenChunk&) { stop = true; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->finish_reason(), proto::FINISH_CANCELLED);
}

TEST(ClientTest, ConnectRefusesAnEndpointZeroMqCannotParse) {
  ClientOptions options;
  options.endpoint = "localhost:5555";
  auto client = Client::Connect(options);
  EXPECT_TRUE(absl::IsInvalidArgument(client.status())) << client.status();
  EXPECT_NE(client.status().message().find("tcp://HOST:PORT"), std::string::npos);
}

TEST(ClientTest, NewRequestIdIsThirtyTwoHexDigitsAndFresh) {
  const std::string a = NewRequestId();
  const std::string b = NewRequestId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tessera
