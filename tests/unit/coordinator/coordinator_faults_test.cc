// The coordinator over real sockets when things go wrong: vanished clients,
// broken frames, bad requests, wrong or short groups, silent groups, no
// groups, shutdown.
#include <chrono>
#include <string>
#include <vector>

#include "tests/unit/coordinator/coordinator_fixture.h"

namespace tessera::testing {
namespace {

TEST_F(CoordinatorTest, AClientThatDisconnectsMidStreamGetsItsSequenceCancelled) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "g1", .step = 5ms});
  auto probe = Client();
  ASSERT_TRUE(WaitReadyGroups(*probe, 1));
  auto client = Client();
  client->Send(Generate("gone", "bye", 400, true));
  std::optional<proto::ClientReply> r = client->Receive();
  ASSERT_TRUE(r.has_value() && r->has_chunk());
  client->Close();
  ASSERT_TRUE(WaitUntil([&] { return !g.cancels().empty(); })) << "the group never got CancelSequence";
  EXPECT_EQ(g.cancels()[0], g.starts()[0].seq());
  ASSERT_TRUE(WaitUntil([&] { return probe->Status().cancelled() == 1; }));
  EXPECT_EQ(probe->Status().in_flight(), 0);
}

TEST_F(CoordinatorTest, MalformedMessagesGetErrorsAndOthersAreStillServed) {
  StartCoordinator();
  AddGroup({.name = "g1"});
  auto bad = Client();
  auto good = Client();
  ASSERT_TRUE(WaitReadyGroups(*good, 1));

  proto::ClientRequest wrong_version = Generate("v9", "x", 2, false);
  wrong_version.set_version(9);
  proto::ClientRequest empty;
  empty.set_version(proto::PROTOCOL_VERSION_1);
  struct Case {
    const char* name;
    std::vector<std::string> frames;
    proto::ErrorCode code;
    std::string request_id;
  };
  const std::vector<Case> cases = {
      {"garbage bytes", {std::string(12, '\xff')}, proto::ERROR_MALFORMED, ""},
      {"three frames", {"a", "b", "c"}, proto::ERROR_MALFORMED, ""},
      {"wrong version", {wrong_version.SerializeAsString()}, proto::ERROR_UNSUPPORTED_VERSION, "v9"},
      {"empty oneof", {empty.SerializeAsString()}, proto::ERROR_MALFORMED, ""},
      {"empty message", {""}, proto::ERROR_MALFORMED, ""},
  };
  for (const Case& c : cases) {
    bad->SendFrames(c.frames);
    std::optional<proto::ClientReply> reply = bad->Receive();
    ASSERT_TRUE(reply.has_value()) << c.name;
    ASSERT_TRUE(reply->has_error()) << c.name << ": " << reply->DebugString();
    EXPECT_EQ(reply->error().code(), c.code) << c.name;
    EXPECT_EQ(reply->request_id(), c.request_id) << c.name;
    EXPECT_FALSE(reply->error().message().empty()) << c.name;
  }
  // A REQ client's garbage is answered too (with the delimiter REQ needs).
  auto req = Client(zmq::socket_type::req);
  req->SendFrames({std::string(12, '\xff')});
  std::optional<proto::ClientReply> reply = req->Receive();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), proto::ERROR_MALFORMED);

  good->Send(Generate("fine", "still serving", 3, false));
  ASSERT_TRUE(good->Await("fine").result.has_value());
  bad->Send(Generate("fine-too", "after the errors", 3, false));
  ASSERT_TRUE(bad->Await("fine-too").result.has_value());
}

TEST_F(CoordinatorTest, InvalidRequestsGetInvalidArgument) {
  StartCoordinator();
  // 4 KV blocks of 16: at most 64 positions, well inside the 512 context.
  AddGroup({.name = "small-kv", .kv_blocks = 4});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  std::vector<proto::ClientRequest> bad;
  bad.push_back(Generate("", "no id", 3, false));
  bad.push_back(Generate(std::string(129, 'i'), "long id", 3, false));
  bad.push_back(Generate("no-prompt", "", 3, false));
  bad.push_back(Generate("neg-max", "x", -1, false));
  bad.push_back(Generate("too-long", "x", 600, false));
  bad.push_back(Generate("kv", "x", 70, false));
  bad.push_back(Generate("bad-token", "", 3, false));
  bad.back().mutable_generate()->add_prompt_tokens(100000);
  bad.push_back(Generate("temp", "x", 3, false));
  bad.back().mutable_generate()->mutable_sampling()->set_temperature(-1.0f);
  bad.push_back(Generate("top-p", "x", 3, false));
  bad.back().mutable_generate()->mutable_sampling()->set_top_p(2.0f);
  for (const proto::ClientRequest& r : bad) {
    client->Send(r);
    std::optional<proto::ClientReply> reply = client->Receive();
    ASSERT_TRUE(reply.has_value()) << r.generate().request_id();
    ASSERT_TRUE(reply->has_error()) << r.generate().request_id();
    EXPECT_EQ(reply->error().code(), proto::ERROR_INVALID_ARGUMENT) << r.generate().request_id();
  }
  client->Send(Generate("fits", "x", 40, false));
  ASSERT_TRUE(client->Await("fits").result.has_value());
  EXPECT_EQ(groups_[0]->starts().size(), 1u);
}

TEST_F(CoordinatorTest, AGroupWithAnotherModelIsRejected) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "imposter", .fingerprint = "0123456789abcdef"}, /*expect_ready=*/false);
  ASSERT_TRUE(g.rejected().has_value());
  const std::string msg = g.rejected()->message();
  EXPECT_NE(msg.find("0123456789abcdef"), std::string::npos) << msg;
  EXPECT_NE(msg.find(ModelFingerprint(Reference())), std::string::npos) << msg;
  EXPECT_NE(msg.find("imposter"), std::string::npos) << msg;
  auto client = Client();
  EXPECT_EQ(client->Status().groups_size(), 0);
}

TEST_F(CoordinatorTest, AGroupThatCannotHoldThePlanIsRejectedWithThePartitionersReason) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "tiny-mem", .tp = 2, .memory_bytes = 1000}, /*expect_ready=*/false);
  ASSERT_TRUE(g.rejected().has_value());
  EXPECT_NE(g.rejected()->message().find("rank"), std::string::npos) << g.rejected()->message();
}

TEST_F(CoordinatorTest, ASilentGroupIsDeclaredDeadAndItsRequestsFinishElsewhereOnce) {
  CoordinatorOptions options;
  options.heartbeat_timeout = absl::Milliseconds(300);
  StartCoordinator(options);
  FakeGroup& a = AddGroup({.name = "a", .step = 10ms});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  const std::vector<std::string> ids = {"d0", "d1", "d2"};
  for (size_t i = 0; i < ids.size(); ++i) client->Send(Generate(ids[i], "dead or alive", 40, true, 100 + i));
  // Every request has a few tokens on a.
  std::vector<Outcome> outcomes(ids.size());
  auto streamed = [&](size_t i) { return outcomes[i].StreamedTokens().size(); };
  while (streamed(0) < 3 || streamed(1) < 3 || streamed(2) < 3) {
    std::optional<proto::ClientReply> r = client->Receive();
    ASSERT_TRUE(r.has_value());
    for (size_t i = 0; i < ids.size(); ++i) {
      if (r->request_id() == ids[i] && r->has_chunk()) outcomes[i].chunks.push_back(r->chunk());
    }
  }
  // a falls silent before b exists: a must not finish the requests itself
  // while b starts (slow under a sanitizer on a loaded machine).
  a.SetSilent(true);
  FakeGroup& b = AddGroup({.name = "b", .step = 2ms});
  for (size_t i = 0; i < ids.size(); ++i) {
    Outcome rest = client->Await(ids[i]);
    ASSERT_TRUE(rest.result.has_value()) << ids[i];
    Outcome& o = outcomes[i];
    o.chunks.insert(o.chunks.end(), rest.chunks.begin(), rest.chunks.end());
    o.result = rest.result;
    // Each token exactly once, in order, and what one uninterrupted run gives.
    ExpectContiguous(o);
    const std::vector<int32_t> want = ExpectedTokens(100 + i, Encode("dead or alive").size(), 40, vocab());
    EXPECT_EQ(o.StreamedTokens(), want) << ids[i];
    EXPECT_EQ(std::vector<int32_t>(o.result->tokens().begin(), o.result->tokens().end()), want) << ids[i];
    EXPECT_EQ(o.result->text(), DecodeAll(tok(), want));
    EXPECT_EQ(o.result->group(), "b");
  }
  // b got continuations: the prompt plus what a had produced.
  ASSERT_EQ(b.starts().size(), ids.size());
  for (const proto::StartSequence& s : b.starts()) {
    const size_t prompt = Encode("dead or alive").size();
    EXPECT_GT(static_cast<size_t>(s.tokens_size()), prompt + 2);
    EXPECT_EQ(static_cast<size_t>(s.tokens_size()) - prompt + static_cast<size_t>(s.max_new_tokens()), 40u);
  }
  const proto::ClusterStatus s = client->Status();
  ASSERT_EQ(s.groups_size(), 2);
  EXPECT_EQ(s.groups(0).name(), "a");
  EXPECT_EQ(s.groups(0).state(), proto::GROUP_DEAD);
  EXPECT_EQ(s.groups(0).epoch(), 2u);
  EXPECT_EQ(s.groups(1).state(), proto::GROUP_READY);
  EXPECT_EQ(s.completed(), 3u);
}

TEST_F(CoordinatorTest, WithoutAGroupARequestGetsUnavailableAfterTheQueueTimeout) {
  CoordinatorOptions options;
  options.queue_timeout = absl::Milliseconds(200);
  StartCoordinator(options);
  auto client = Client();
  const auto t0 = std::chrono::steady_clock::now();
  client->Send(Generate("lonely", "anyone?", 3, false));
  const Outcome o = client->Await("lonely");
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code(), proto::ERROR_UNAVAILABLE);
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 3000ms);
  // UNAVAILABLE is not recorded: the retry with the same id runs.
  AddGroup({.name = "late"});
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  client->Send(Generate("lonely", "anyone?", 3, false));
  const Outcome retry = client->Await("lonely");
  ASSERT_TRUE(retry.result.has_value());
  EXPECT_FALSE(retry.result->from_record());
}

TEST_F(CoordinatorTest, StopAnswersWaitingRequestsAndShutsGroupsDown) {
  StartCoordinator();
  FakeGroup& g = AddGroup({.name = "g1", .max_sequences = 1, .step = 20ms});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  client->Send(Generate("run", "x", 300, false));
  client->Send(Generate("wait", "y", 3, false));
  ASSERT_TRUE(WaitUntil([&] { return client->Status().queue_depth() == 1; }));
  coordinator_->Stop();
  for (const char* id : {"run", "wait"}) {
    const Outcome o = client->Await(id);
    ASSERT_TRUE(o.error.has_value()) << id;
    EXPECT_EQ(o.error->code(), proto::ERROR_UNAVAILABLE) << id;
    EXPECT_NE(o.error->message().find("shutting down"), std::string::npos);
  }
  EXPECT_TRUE(WaitUntil([&] { return g.got_shutdown(); }));
}

TEST_F(CoordinatorTest, AnUnknownLeaderIsToldToShutDownAndARegisteringAgainReplacesTheGroup) {
  StartCoordinator();
  zmq::socket_t leader(context_, zmq::socket_type::dealer);
  leader.set(zmq::sockopt::linger, 0);
  leader.connect(coordinator_->workers());
  auto send = [&](const proto::WorkerMessage& m) {
    std::string bytes = m.SerializeAsString();
    leader.send(zmq::buffer(bytes), zmq::send_flags::none);
  };
  auto receive = [&]() -> std::optional<proto::CoordinatorMessage> {
    zmq::pollitem_t item{leader.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, 5000ms) == 0) return std::nullopt;
    zmq::message_t m;
    EXPECT_TRUE(leader.recv(m, zmq::recv_flags::none));
    proto::CoordinatorMessage out;
    EXPECT_TRUE(out.ParseFromArray(m.data(), static_cast<int>(m.size())));
    return out;
  };
  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  hb.mutable_heartbeat()->set_group_id(7);
  hb.mutable_heartbeat()->set_epoch(1);
  send(hb);
  std::optional<proto::CoordinatorMessage> m = receive();
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->has_shutdown()) << m->DebugString();

  const proto::WorkerMessage reg = Registration("twice");
  send(reg);
  m = receive();
  ASSERT_TRUE(m.has_value() && m->has_plan()) << (m ? m->DebugString() : "nothing");
  EXPECT_EQ(m->plan().group_id(), 1u);
  EXPECT_EQ(m->plan().plan().tp(), 1);
  send(reg);
  m = receive();
  ASSERT_TRUE(m.has_value() && m->has_plan());
  EXPECT_EQ(m->plan().group_id(), 2u);
  auto client = Client();
  const proto::ClusterStatus s = client->Status();
  ASSERT_EQ(s.groups_size(), 2);
  EXPECT_EQ(s.groups(0).state(), proto::GROUP_DEAD);
  EXPECT_EQ(s.groups(1).state(), proto::GROUP_PLANNING);
}

}  // namespace
}  // namespace tessera::testing

namespace tessera::testing {
namespace {

TEST_F(CoordinatorTest, AClientThatComesBackBeforeTheCancelLandsGetsTheRestOnce) {
  StartCoordinator();
  // The group holds the cancel's acknowledgement until the test releases it.
  FakeGroup& g = AddGroup({.name = "g1", .step = 5ms, .cancel_ack_delay = 60000ms});
  auto probe = Client();
  ASSERT_TRUE(WaitReadyGroups(*probe, 1));
  auto first = Client();
  first->Send(Generate("back", "come back", 60, true, 11));
  size_t seen = 0;
  while (seen < 3) {
    std::optional<proto::ClientReply> r = first->Receive();
    ASSERT_TRUE(r.has_value() && r->has_chunk());
    seen += static_cast<size_t>(r->chunk().tokens_size());
  }
  first->Close();
  ASSERT_TRUE(WaitUntil([&] { return !g.cancels().empty(); }));
  // The retry (same id, new socket) arrives while the group still holds the
  // cancelled sequence: the request goes on as a continuation. Its catch-up
  // chunk shows the coordinator took the retry; then the group lets go.
  auto second = Client();
  second->Send(Generate("back", "come back", 60, true, 11));
  const std::optional<proto::ClientReply> catch_up = second->Receive();
  ASSERT_TRUE(catch_up.has_value() && catch_up->has_chunk());
  EXPECT_EQ(catch_up->chunk().index(), 0);
  EXPECT_GE(catch_up->chunk().tokens_size(), 3);
  g.AckCancels();
  Outcome o = second->Await("back");
  o.chunks.insert(o.chunks.begin(), catch_up->chunk());
  ASSERT_TRUE(o.result.has_value());
  EXPECT_EQ(o.result->finish_reason(), proto::FINISH_LENGTH);
  ExpectContiguous(o);
  const size_t prompt = Encode("come back").size();
  const std::vector<int32_t> want = ExpectedTokens(11, prompt, 60, vocab());
  EXPECT_EQ(o.StreamedTokens(), want);
  EXPECT_EQ(std::vector<int32_t>(o.result->tokens().begin(), o.result->tokens().end()), want);
  const std::vector<proto::StartSequence> starts = g.starts();
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_GE(static_cast<size_t>(starts[1].tokens_size()), prompt + 3);
  EXPECT_EQ(static_cast<size_t>(starts[1].tokens_size()) - prompt + static_cast<size_t>(starts[1].max_new_tokens()),
            60u);
  const proto::ClusterStatus s = probe->Status();
  EXPECT_EQ(s.cancelled(), 0u);
  EXPECT_EQ(s.completed(), 1u);
}

TEST_F(CoordinatorTest, AHugeTextPromptIsRefusedUntokenizedAndGroupsStayAlive) {
  CoordinatorOptions options;
  options.heartbeat_timeout = absl::Milliseconds(1000);
  StartCoordinator(options);
  FakeGroup& g = AddGroup({.name = "healthy", .heartbeat = 50ms});
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  // Just under the 16 MiB message limit; tokenizing it took the event loop
  // seconds, long enough for the group's heartbeats to look missed.
  std::string prompt;
  while (prompt.size() < (15u << 20)) prompt += "hello world ";
  client->Send(Generate("huge", prompt, 4, false));
  const Outcome o = client->Await("huge", 60000ms);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code(), proto::ERROR_INVALID_ARGUMENT);
  EXPECT_NE(o.error->message().find("bytes; no token of this model"), std::string::npos) << o.error->message();
  const proto::ClusterStatus s = client->Status();
  ASSERT_EQ(s.groups_size(), 1);
  EXPECT_EQ(s.groups(0).state(), proto::GROUP_READY);
  EXPECT_FALSE(g.got_shutdown());
  client->Send(Generate("after", "still serving", 3, false));
  EXPECT_TRUE(client->Await("after").result.has_value());
}

}  // namespace
}  // namespace tessera::testing
