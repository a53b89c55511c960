// RunBatch against a scripted fake coordinator.
#include "client/lib/batch.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fake_coordinator.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using testing::ChunkReply;
using testing::ErrorReply;
using testing::FakeCoordinator;
using testing::ResultReply;

std::vector<proto::GenerateRequest> Requests(int n) {
  std::vector<proto::GenerateRequest> requests(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    requests[i].set_request_id(absl::StrCat("r", i));
    requests[i].set_prompt(absl::StrCat("p", i));
    requests[i].set_stream(true);
  }
  return requests;
}

std::unique_ptr<Client> Connect(const FakeCoordinator& fake) {
  ClientOptions options;
  options.endpoint = fake.endpoint();
  auto client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

TEST(BatchTest, KeepsTheWindowFullRetriesBusyAndEndsEveryRequestOnce) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    std::vector<testing::FakeCoordinator::Received> pending;
    std::map<std::string, int> seen;
    int answered = 0;
    int received = 0;
    while (answered < 5) {
      while (pending.size() < 2 && received < 6) {  // 5 requests and one retry
        ++received;
        auto r = f.Receive();
        ASSERT_TRUE(r.has_value());
        ++seen[r->request.generate().request_id()];
        pending.push_back(*r);
      }
      EXPECT_FALSE(f.AnythingWithin(absl::Milliseconds(30))) << "more than 2 requests out";
      const auto r = pending.front();
      pending.erase(pending.begin());
      const std::string id = r.request.generate().request_id();
      if (id == "r1" && seen[id] == 1) {
        f.Reply(r.identity, ErrorReply(id, proto::ERROR_BUSY, "queue full"));
        continue;
      }
      if (id == "r3") {
        f.Reply(r.identity, ErrorReply(id, proto::ERROR_INVALID_ARGUMENT, "prompt too long"));
      } else {
        f.Reply(r.identity, ChunkReply(id, 0, {1, 2}, "ab"));
        f.Reply(r.identity, ResultReply(id, {1, 2}, "ab:" + id));
      }
      ++answered;
    }
    EXPECT_EQ(seen["r1"], 2);
  });
  auto client = Connect(fake);
  BatchOptions options;
  options.concurrency = 2;
  options.retry_backoff = absl::Milliseconds(1);
  std::map<size_t, BatchOutcome> outcomes;
  BatchStats last;
  const absl::Status status = RunBatch(
      *client, Requests(5), options,
      [&](size_t i, BatchOutcome o) { EXPECT_TRUE(outcomes.emplace(i, std::move(o)).second) << "ended twice: " << i; },
      [&](const BatchStats& s) { last = s; });
  fake.Join();
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(outcomes.size(), 5u);
  for (size_t i : {0u, 1u, 2u, 4u}) {
    ASSERT_TRUE(outcomes[i].result.ok()) << i << ": " << outcomes[i].result.status();
    EXPECT_EQ(outcomes[i].result->text(), absl::StrCat("ab:r", i));
  }
  EXPECT_EQ(outcomes[1].attempts, 2);
  EXPECT_TRUE(absl::IsInvalidArgument(outcomes[3].result.status()));
  EXPECT_EQ(last.ok, 4);
  EXPECT_EQ(last.failed, 1);
  EXPECT_EQ(last.busy_retries, 1);
  EXPECT_EQ(last.output_tokens, 8);
}

TEST(BatchTest, SilenceResendsTheSameIdAndBusyForeverFails) {
  FakeCoordinator fake;
  fake.Run([](FakeCoordinator& f) {
    auto first = f.Receive();  // r0, left unanswered
    ASSERT_TRUE(first.has_value());
    auto again = f.Receive();
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->request.generate().request_id(), "r0");
    f.SendRaw(again->identity, "not a reply");  // skipped, the batch goes on
    f.Reply(again->identity, ResultReply("r0", {7}, "x"));
    f.Reply(again->identity, ResultReply("r0", {7}, "x"));  // the first try's answer too: ignored
    for (int i = 0; i < 2; ++i) {
      auto busy = f.Receive();
      ASSERT_TRUE(busy.has_value());
      EXPECT_EQ(busy->request.generate().request_id(), "r1");
      f.Reply(busy->identity, ErrorReply("r1", proto::ERROR_BUSY, "queue full"));
    }
  });
  auto client = Connect(fake);
  BatchOptions options;
  options.concurrency = 1;
  options.reply_timeout = absl::Milliseconds(500);  // long enough that a loaded machine answers in time
  options.max_attempts = 2;
  options.retry_backoff = absl::Milliseconds(1);
  std::map<size_t, BatchOutcome> outcomes;
  BatchStats last;
  const absl::Status status = RunBatch(
      *client, Requests(2), options, [&](size_t i, BatchOutcome o) { outcomes.emplace(i, std::move(o)); },
      [&](const BatchStats& s) { last = s; });
  fake.Join();
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_TRUE(outcomes[0].result.ok()) << outcomes[0].result.status();
  EXPECT_EQ(outcomes[0].attempts, 2);
  EXPECT_TRUE(absl::IsResourceExhausted(outcomes[1].result.status())) << outcomes[1].result.status();
  EXPECT_NE(outcomes[1].result.status().message().find("busy after 2 tries"), std::string::npos);
  EXPECT_EQ(last.resends, 1);
  EXPECT_EQ(last.garbage_frames, 1);
  EXPECT_EQ(last.ok, 1);
  EXPECT_EQ(last.failed, 1);
}

}  // namespace
}  // namespace tessera
