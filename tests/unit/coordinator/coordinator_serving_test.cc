// The coordinator over real sockets with fake groups: streaming, routing,
// repeated ids, overload, cancellation, status.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/unit/coordinator/coordinator_fixture.h"

namespace tessera::testing {
namespace {

TEST_F(CoordinatorTest, StreamsChunksThenTheResult) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "g1"});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));

  client->Send(Generate("r1", "The quick brown fox", 12, /*stream=*/true, /*seed=*/7));
  const Outcome o = client->Await("r1");
  ASSERT_TRUE(o.result.has_value()) << (o.error ? o.error->message() : "no answer");
  const std::vector<int32_t> prompt = Encode("The quick brown fox");
  const std::vector<int32_t> want = ExpectedTokens(7, prompt.size(), 12, vocab());

  // The group prefilled exactly what `tessera generate` would have.
  const std::vector<proto::StartSequence> starts = g.starts();
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(std::vector<int32_t>(starts[0].tokens().begin(), starts[0].tokens().end()), prompt);
  EXPECT_EQ(starts[0].max_new_tokens(), 12);
  EXPECT_TRUE(starts[0].stop_at_eos());

  ExpectContiguous(o);
  EXPECT_EQ(o.StreamedTokens(), want);
  EXPECT_EQ(std::vector<int32_t>(o.result->tokens().begin(), o.result->tokens().end()), want);
  std::string streamed;
  for (const auto& c : o.chunks) streamed += c.text();
  EXPECT_EQ(o.result->text(), DecodeAll(tok(), want));
  EXPECT_EQ(o.result->text().substr(0, streamed.size()), streamed);
  EXPECT_EQ(o.result->finish_reason(), proto::FINISH_LENGTH);
  EXPECT_EQ(o.result->usage().prompt_tokens(), static_cast<int>(prompt.size()));
  EXPECT_EQ(o.result->usage().completion_tokens(), 12);
  EXPECT_EQ(o.result->group(), "g1");
  EXPECT_FALSE(o.result->from_record());
  const proto::Timings& t = o.result->timings();
  EXPECT_GE(t.queue_ms(), 0.0);
  EXPECT_GE(t.ttft_ms(), t.queue_ms());
  EXPECT_GE(t.total_ms(), t.ttft_ms());
  EXPECT_GT(t.tpot_ms(), 0.0);
}

TEST_F(CoordinatorTest, ReqSocketGetsItsAnswerAndTokenPromptsWork) {
  StartCoordinator();
  AddGroup({.name = "g1"});
  auto req = Client(zmq::socket_type::req);
  auto probe = Client();
  ASSERT_TRUE(WaitReadyGroups(*probe, 1));
  proto::ClientRequest r = Generate("q1", "", 5, /*stream=*/false, 3);
  r.mutable_generate()->add_prompt_tokens(1);
  r.mutable_generate()->add_prompt_tokens(400);
  req->Send(r);
  std::optional<proto::ClientReply> reply = req->Receive();  // REQ drops replies without the delimiter
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->has_result()) << reply->DebugString();
  EXPECT_EQ(reply->request_id(), "q1");
  EXPECT_EQ(std::vector<int32_t>(reply->result().tokens().begin(), reply->result().tokens().end()),
            ExpectedTokens(3, 2, 5, vocab()));
}

TEST_F(CoordinatorTest, RoutesToTheGroupWithLeastOutstandingWork) {
  StartCoordinator();
  AddGroup({.name = "a", .step = 20ms});  // registers first: id 1
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  AddGroup({.name = "b", .step = 20ms});
  ASSERT_TRUE(WaitReadyGroups(*client, 2));
  // Outstanding = prompt tokens not yet computed + tokens left to generate.
  // r1: tie at 0 -> lower id (a: 2 + 60). r2: b (0). r3: b (12) < a (~62).
  // r4: b (24) < a. Each step takes 20 ms, so little changes meanwhile.
  const std::vector<std::pair<std::string, int>> requests = {{"r1", 60}, {"r2", 10}, {"r3", 10}, {"r4", 20}};
  for (const auto& [id, n] : requests) {
    proto::ClientRequest r = Generate(id, "", n, false);
    r.mutable_generate()->add_prompt_tokens(1);
    r.mutable_generate()->add_prompt_tokens(300);
    client->Send(r);
  }
  const std::vector<std::string> want = {"a", "b", "b", "b"};
  for (size_t i = 0; i < requests.size(); ++i) {
    const Outcome o = client->Await(requests[i].first);
    ASSERT_TRUE(o.result.has_value()) << requests[i].first;
    EXPECT_EQ(o.result->group(), want[i]) << requests[i].first;
  }
  EXPECT_EQ(groups_[0]->starts().size(), 1u);
  EXPECT_EQ(groups_[1]->starts().size(), 3u);
}

TEST_F(CoordinatorTest, ARepeatedFinishedIdIsAnsweredFromTheRecord) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "g1"});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  client->Send(Generate("same", "hello there", 6, true, 5));
  const Outcome first = client->Await("same");
  ASSERT_TRUE(first.result.has_value());

  client->Send(Generate("same", "hello there", 6, true, 5));
  const Outcome again = client->Await("same");
  ASSERT_TRUE(again.result.has_value());
  EXPECT_TRUE(again.result->from_record());
  ASSERT_EQ(again.chunks.size(), 1u);  // one chunk with every token, at index 0
  EXPECT_EQ(again.chunks[0].index(), 0);
  EXPECT_EQ(again.StreamedTokens(), std::vector<int32_t>(first.result->tokens().begin(), first.result->tokens().end()));
  EXPECT_EQ(again.result->text(), first.result->text());

  auto other = Client();
  other->Send(Generate("same", "hello there", 6, false, 5));
  const Outcome third = other->Await("same");
  ASSERT_TRUE(third.result.has_value());
  EXPECT_TRUE(third.chunks.empty());
  EXPECT_TRUE(third.result->from_record());
  EXPECT_EQ(g.starts().size(), 1u);  // ran once
}

TEST_F(CoordinatorTest, ARepeatedRunningIdMovesTheStreamToTheNewestSender) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "g1", .step = 15ms});
  auto first = Client();
  auto second = Client();
  ASSERT_TRUE(WaitReadyGroups(*first, 1));
  first->Send(Generate("moving", "one two", 40, true, 9));
  // Let a few tokens reach the first client.
  size_t seen = 0;
  while (seen < 3) {
    std::optional<proto::ClientReply> r = first->Receive();
    ASSERT_TRUE(r.has_value() && r->has_chunk());
    seen += static_cast<size_t>(r->chunk().tokens_size());
  }
  // The group holds the sequence until the repeat is in (its catch-up chunk
  // arrived): however slow the machine, the repeat meets a running request.
  g.SetPaused(true);
  second->Send(Generate("moving", "one two", 40, true, 9));
  const std::optional<proto::ClientReply> catch_up = second->Receive();
  ASSERT_TRUE(catch_up.has_value() && catch_up->has_chunk());
  g.SetPaused(false);
  Outcome o = second->Await("moving");
  o.chunks.insert(o.chunks.begin(), catch_up->chunk());
  ASSERT_TRUE(o.result.has_value());
  ASSERT_FALSE(o.chunks.empty());
  EXPECT_EQ(o.chunks[0].index(), 0);
  EXPECT_GE(o.chunks[0].tokens_size(), 3);  // everything so far, at once
  ExpectContiguous(o);
  const std::vector<int32_t> want = ExpectedTokens(9, Encode("one two").size(), 40, vocab());
  EXPECT_EQ(o.StreamedTokens(), want);
  EXPECT_EQ(std::vector<int32_t>(o.result->tokens().begin(), o.result->tokens().end()), want);
  EXPECT_EQ(g.starts().size(), 1u);
  // The first client never gets the result.
  for (std::optional<proto::ClientReply> r = first->Receive(50ms); r; r = first->Receive(50ms)) {
    EXPECT_FALSE(r->has_result());
  }
}

TEST_F(CoordinatorTest, OverloadAnswersBusyAndNeverDropsARequest) {
  CoordinatorOptions options;
  options.queue_limit = 4;
  StartCoordinator(options);
  FakeGroup& g = AddGroup({.name = "slow", .max_sequences = 2, .step = 3ms});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  constexpr int kRequests = 60;
  for (int i = 0; i < kRequests; ++i) client->Send(Generate(absl::StrCat("o", i), "load", 4, false, i));
  // Answered after all of them: what the coordinator holds stays bounded.
  const proto::ClusterStatus during = client->Status();
  EXPECT_LE(during.queue_depth(), 4);
  EXPECT_LE(during.in_flight(), 2);
  int completed = 0, busy = 0, other = 0;
  for (int i = 0; i < kRequests; ++i) {
    const Outcome o = client->Await(absl::StrCat("o", i));
    if (o.result) {
      ++completed;
      EXPECT_EQ(o.result->tokens_size(), 4);
    } else if (o.error && o.error->code() == proto::ERROR_BUSY) {
      ++busy;
    } else {
      ++other;
    }
  }
  EXPECT_EQ(completed + busy, kRequests);
  EXPECT_EQ(other, 0);
  EXPECT_GE(completed, 6);  // 2 running + 4 queued at least
  EXPECT_GT(busy, 0);
  EXPECT_LE(g.max_running(), 2);  // never more than the group's max_sequences
  const proto::ClusterStatus s = client->Status();
  EXPECT_EQ(s.rejected_busy(), static_cast<uint64_t>(busy));
  EXPECT_EQ(s.completed(), static_cast<uint64_t>(completed));
  EXPECT_EQ(s.accepted(), static_cast<uint64_t>(completed));
  EXPECT_EQ(s.queue_depth(), 0);
  EXPECT_EQ(s.in_flight(), 0);
  EXPECT_EQ(s.queue_limit(), 4);
}

TEST_F(CoordinatorTest, CancelsQueuedAndRunningRequests) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "one", .max_sequences = 1, .step = 10ms});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  client->Send(Generate("running", "a b c", 200, true, 4));
  client->Send(Generate("queued", "d e f", 5, true, 4));
  // Wait for the running one's first tokens, so both are where we think.
  std::optional<proto::ClientReply> r = client->Receive();
  ASSERT_TRUE(r.has_value() && r->has_chunk() && r->request_id() == "running");

  client->Send(Cancel("queued"));
  std::optional<proto::ClientReply> ack = client->Receive();
  while (ack && ack->request_id() == "running") ack = client->Receive();  // skip chunks
  ASSERT_TRUE(ack.has_value());
  EXPECT_TRUE(ack->has_cancelled()) << ack->DebugString();
  Outcome q = client->Await("queued");
  ASSERT_TRUE(q.result.has_value());
  EXPECT_EQ(q.result->finish_reason(), proto::FINISH_CANCELLED);
  EXPECT_EQ(q.result->tokens_size(), 0);
  EXPECT_EQ(g.starts().size(), 1u);  // the queued one never reached the group

  client->Send(Cancel("running"));
  Outcome run = client->Await("running");
  ASSERT_TRUE(run.result.has_value());
  EXPECT_EQ(run.result->finish_reason(), proto::FINISH_CANCELLED);
  ASSERT_EQ(g.cancels().size(), 1u);
  EXPECT_EQ(g.cancels()[0], g.starts()[0].seq());
  const std::vector<int32_t> got(run.result->tokens().begin(), run.result->tokens().end());
  ASSERT_GE(got.size(), 1u);
  ASSERT_LT(got.size(), 200u);
  EXPECT_EQ(got, ExpectedTokens(4, Encode("a b c").size(), static_cast<int>(got.size()), vocab()));

  client->Send(Cancel("never-seen"));
  Outcome nf = client->Await("never-seen");
  ASSERT_TRUE(nf.error.has_value());
  EXPECT_EQ(nf.error->code(), proto::ERROR_NOT_FOUND);
  const proto::ClusterStatus s = client->Status();
  EXPECT_EQ(s.cancelled(), 2u);
  EXPECT_EQ(s.groups(0).running(), 0);
  EXPECT_EQ(s.groups(0).outstanding_tokens(), 0);
}

TEST_F(CoordinatorTest, StatusDescribesTheCluster) {
  StartCoordinator();
  AddGroup({.name = "g1", .tp = 2, .pp = 1, .max_sequences = 5});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  client->Send(Generate("s1", "status please", 3, false));
  ASSERT_TRUE(client->Await("s1").result.has_value());
  const proto::ClusterStatus s = client->Status();
  EXPECT_EQ(s.model(), Reference().config.name.empty() ? "unnamed" : Reference().config.name);
  ASSERT_EQ(s.groups_size(), 1);
  const proto::GroupStatus& g = s.groups(0);
  EXPECT_EQ(g.name(), "g1");
  EXPECT_EQ(g.state(), proto::GROUP_READY);
  EXPECT_EQ(g.epoch(), 1u);
  EXPECT_EQ(g.tp(), 2);
  EXPECT_EQ(g.pp(), 1);
  EXPECT_EQ(g.max_sequences(), 5);
  EXPECT_EQ(g.completed(), 1u);
  EXPECT_GT(g.kv_blocks_total(), 0);
  EXPECT_LT(g.heartbeat_age_s(), 5.0);
  EXPECT_EQ(s.accepted(), 1u);
  EXPECT_EQ(s.completed(), 1u);
  EXPECT_EQ(s.failed(), 0u);
  EXPECT_GT(s.uptime_s(), 0.0);
}

}  // namespace
}  // namespace tessera::testing
