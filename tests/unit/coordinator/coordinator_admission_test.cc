// CoordinatorCore (no sockets): which requests run, which are answered from
// the record, which are refused, and when a group counts as dead.
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/coordinator/core_fixture.h"
#include "tests/unit/coordinator/counting_tokenizer.h"

namespace tessera::testing {
namespace {

CoordinatorOptions Patient() {
  CoordinatorOptions o;
  o.heartbeat_timeout = absl::Seconds(100);
  o.queue_timeout = absl::Seconds(5);
  return o;
}

proto::ClientRequest CancelOf(const std::string& id) {
  proto::ClientRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  r.mutable_cancel()->set_request_id(id);
  return r;
}

std::vector<int32_t> Ids(const google::protobuf::RepeatedField<int32_t>& f) { return {f.begin(), f.end()}; }

class AdmissionTest : public CoreTestBase {
 protected:
  AdmissionTest() : CoreTestBase(Patient()) {}
};

TEST_F(AdmissionTest, AQueuedRequestNoReadyGroupCanHoldIsRefusedAndTheRestRun) {
  // Accepted while no group is ready (the KV cache is not checked then).
  FromClient("c", Request("big", {1}, 300), t0_);  // 300 positions
  FromClient("c", Request("small1", {1}, 4), t0_);
  FromClient("c", Request("small2", {1}, 4), t0_);
  AddGroupAt("A", 8, /*kv_blocks=*/4, t0_ + 10ms);  // 64 positions
  const std::vector<proto::StartSequence> on_a = Starts("A");
  ASSERT_EQ(on_a.size(), 2u) << "the requests behind the head never reached the idle group";
  EXPECT_EQ(on_a[0].max_new_tokens(), 4);
  EXPECT_EQ(on_a[1].max_new_tokens(), 4);
  const proto::ClientReply* big = Last("big");
  ASSERT_NE(big, nullptr);
  ASSERT_TRUE(big->has_error());
  EXPECT_EQ(big->error().code(), proto::ERROR_INVALID_ARGUMENT);
  EXPECT_NE(big->error().message().find("300 KV positions"), std::string::npos) << big->error().message();
  EXPECT_NE(big->error().message().find("the largest holds 64"), std::string::npos) << big->error().message();
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 0);
  // Not recorded: once a group that can hold it is ready, the same id runs.
  AddGroupAt("B", 8, /*kv_blocks=*/100, t0_ + 20ms);
  FromClient("c", Request("big", {1}, 300), t0_ + 30ms);
  ASSERT_EQ(Starts("B").size(), 1u);
  EXPECT_EQ(Starts("B")[0].max_new_tokens(), 300);
}

TEST_F(AdmissionTest, AHeadThatFitsAReadyGroupWaitsForRoomThere) {
  const uint64_t a = AddGroup("A", /*max_sequences=*/1, /*kv_blocks=*/4);
  FromClient("c", Request("r1", {1}, 40), t0_);
  FromClient("c", Request("r2", {1}, 40), t0_);  // fits A's cache; A is busy
  ASSERT_EQ(Starts("A").size(), 1u);
  EXPECT_EQ(Last("r2"), nullptr);
  Update("A", a, 1, Starts("A")[0].seq(), {400}, true, t0_ + 10ms);
  ASSERT_EQ(Starts("A").size(), 2u);
}

TEST_F(AdmissionTest, KvFitCountsPromptPlusMaxTokensMinusOneLikeTheGroupsScheduler) {
  AddGroup("A", 8, /*kv_blocks=*/1);  // 16 positions
  // 2 + 15 - 1 = 16 positions: the last token's KV is never written.
  FromClient("c", Request("fits", {1, 300}, 15), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  EXPECT_EQ(Last("fits"), nullptr);
  FromClient("c", Request("over", {1, 300}, 16), t0_);  // 17 positions: 2 blocks
  ASSERT_NE(Last("over"), nullptr);
  EXPECT_EQ(Last("over")->error().code(), proto::ERROR_INVALID_ARGUMENT);
  EXPECT_NE(Last("over")->error().message().find("needs 2 KV blocks"), std::string::npos)
      << Last("over")->error().message();
}

TEST_F(AdmissionTest, ACancelNobodyAskedForIsNotRecordedSoTheRetryRunsAgain) {
  const uint64_t a = AddGroup("A", 8);
  FromClient("c1", Request("r", {1, 300}, 20), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq = Starts("A")[0].seq();
  outbox_.gone.insert("c1");  // the connection dropped
  Update("A", a, 1, seq, {400}, false, t0_ + 10ms);  // its chunk cannot be sent: cancelled
  ASSERT_TRUE(outbox_.groups.back().message.has_cancel());
  EXPECT_EQ(outbox_.groups.back().message.cancel().seq(), seq);
  Update("A", a, 1, seq, {}, true, t0_ + 20ms, proto::FINISH_CANCELLED);
  EXPECT_EQ(core_.Status(t0_).in_flight(), 0);
  EXPECT_EQ(core_.Status(t0_).cancelled(), 1u);

  // The client comes back (a new identity) and retries: it runs again, from
  // the prompt, for every token.
  FromClient("c2", Request("r", {1, 300}, 20), t0_ + 60s);
  const proto::ClientReply* last = Last("r");
  EXPECT_TRUE(last == nullptr || !last->has_result()) << "answered " << last->DebugString();
  ASSERT_EQ(Starts("A").size(), 2u);
  const proto::StartSequence again = Starts("A")[1];
  EXPECT_EQ(Ids(again.tokens()), (std::vector<int32_t>{1, 300}));
  EXPECT_EQ(again.max_new_tokens(), 20);

  // A cancel a client asks for is final: recorded, and the retry gets it.
  Update("A", a, 1, again.seq(), {400}, false, t0_ + 61s);
  FromClient("c2", CancelOf("r"), t0_ + 61s);
  ASSERT_TRUE(outbox_.groups.back().message.has_cancel());
  Update("A", a, 1, again.seq(), {}, true, t0_ + 62s, proto::FINISH_CANCELLED);
  FromClient("c3", Request("r", {1, 300}, 20, /*stream=*/false), t0_ + 63s);
  last = Last("r");
  ASSERT_TRUE(last != nullptr && last->has_result());
  EXPECT_TRUE(last->result().from_record());
  EXPECT_EQ(last->result().finish_reason(), proto::FINISH_CANCELLED);
  EXPECT_EQ(Ids(last->result().tokens()), (std::vector<int32_t>{400}));
  EXPECT_EQ(Starts("A").size(), 2u);
}

TEST_F(AdmissionTest, ARepeatedIdMustNameTheSameRequest) {
  const uint64_t a = AddGroup("A", 8);
  FromClient("c", Request("p-1", {1, 300}, 2, false), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  Update("A", a, 1, Starts("A")[0].seq(), {400, 401}, true, t0_);
  ASSERT_TRUE(Last("p-1") != nullptr && Last("p-1")->has_result());

  struct Case {
    const char* name;
    void (*edit)(proto::GenerateRequest&);
  };
  const Case different[] = {
      {"prompt", [](proto::GenerateRequest& g) { g.add_prompt_tokens(5); }},
      {"max_tokens", [](proto::GenerateRequest& g) { g.set_max_tokens(3); }},
      {"temperature", [](proto::GenerateRequest& g) { g.mutable_sampling()->set_temperature(0.5f); }},
      {"top_k", [](proto::GenerateRequest& g) { g.mutable_sampling()->set_top_k(3); }},
      {"top_p", [](proto::GenerateRequest& g) { g.mutable_sampling()->set_top_p(0.5f); }},
      {"seed", [](proto::GenerateRequest& g) { g.mutable_sampling()->set_seed(9); }},
      {"ignore_eos", [](proto::GenerateRequest& g) { g.set_ignore_eos(true); }},
  };
  for (const Case& c : different) {
    proto::ClientRequest r = Request("p-1", {1, 300}, 2, false);
    c.edit(*r.mutable_generate());
    FromClient("other", r, t0_ + 1s);
    const proto::ClientReply* last = Last("p-1");
    ASSERT_TRUE(last != nullptr && last->has_error()) << c.name;
    EXPECT_EQ(last->error().code(), proto::ERROR_INVALID_ARGUMENT) << c.name;
    EXPECT_NE(last->error().message().find("request id 'p-1' was already used for a different request"),
              std::string::npos)
        << c.name << ": " << last->error().message();
  }
  // The same request, streamed this time, and with top_p 0 (= 1): the record.
  proto::ClientRequest same = Request("p-1", {1, 300}, 2, true);
  same.mutable_generate()->mutable_sampling()->set_top_p(0.0f);
  FromClient("d", same, t0_ + 2s);
  const proto::ClientReply* last = Last("p-1");
  ASSERT_TRUE(last != nullptr && last->has_result());
  EXPECT_TRUE(last->result().from_record());
  EXPECT_EQ(Ids(last->result().tokens()), (std::vector<int32_t>{400, 401}));
  EXPECT_EQ(Starts("A").size(), 1u);
}

TEST_F(AdmissionTest, ARunningRequestIsNotTakenOverByADifferentRequestOfItsId) {
  const uint64_t a = AddGroup("A", 8);
  // Text and the ids it encodes to are the same request; max_tokens 0 is
  // the default (64).
  const std::vector<int32_t> ids = Reference().tokenizer->Encode("hello world", Reference().tokenizer->add_bos());
  proto::ClientRequest text = Request("live", {}, 0);
  text.mutable_generate()->set_prompt("hello world");
  FromClient("c", text, t0_);
  ASSERT_EQ(Starts("A").size(), 1u);
  const uint64_t seq = Starts("A")[0].seq();

  FromClient("x", Request("live", {1, 301}, 64), t0_ + 1s);
  ASSERT_NE(Last("live"), nullptr);
  EXPECT_EQ(Last("live")->error().code(), proto::ERROR_INVALID_ARGUMENT);
  Update("A", a, 1, seq, {400}, false, t0_ + 2s);
  ASSERT_TRUE(Last("live")->has_chunk());
  EXPECT_EQ(outbox_.clients.back().to, "c") << "the stream moved to the other request's sender";

  FromClient("y", Request("live", ids, 64), t0_ + 3s);  // the same request: the stream moves
  EXPECT_EQ(outbox_.clients.back().to, "y");
  ASSERT_TRUE(Last("live")->has_chunk());
  EXPECT_EQ(Last("live")->chunk().index(), 0);
  EXPECT_EQ(Starts("A").size(), 1u);
}

TEST_F(AdmissionTest, AReadyBeyondTheBoundsIsRefused) {
  struct Case {
    const char* leader;
    int64_t kv_blocks;
    int32_t block_size;
    bool ok;
  };
  const Case cases[] = {
      {"overflowing", std::numeric_limits<int64_t>::max(), std::numeric_limits<int32_t>::max(), false},
      {"too-many-blocks", kMaxReadyKvBlocks + 1, 16, false},
      {"too-big-blocks", 16, kMaxReadyBlockSize + 1, false},
      {"at-the-bounds", kMaxReadyKvBlocks, kMaxReadyBlockSize, true},
  };
  for (const Case& c : cases) {
    const uint64_t id = Register(c.leader, t0_);
    Ready(c.leader, id, c.kv_blocks, c.block_size, 8, t0_);
    const proto::ClusterStatus s = core_.Status(t0_);
    ASSERT_EQ(s.groups(s.groups_size() - 1).id(), id);
    EXPECT_EQ(s.groups(s.groups_size() - 1).state(), c.ok ? proto::GROUP_READY : proto::GROUP_DEAD) << c.leader;
    EXPECT_EQ(outbox_.groups.back().to, c.leader);
    EXPECT_EQ(outbox_.groups.back().message.has_shutdown(), !c.ok) << c.leader;
  }
  // The group at the bounds serves, and requests are checked against it.
  FromClient("c", Request("r", {1, 300}, 100), t0_);
  EXPECT_EQ(Starts("at-the-bounds").size(), 1u);
}

class HeartbeatTest : public CoreTestBase {
 protected:
  static CoordinatorOptions Options() {
    CoordinatorOptions o;
    o.heartbeat_timeout = absl::Seconds(1);
    return o;
  }
  HeartbeatTest() : CoreTestBase(Options()) {}
};

TEST_F(HeartbeatTest, AGroupIsJudgedBySilenceUntilItsSocketWasLastRead) {
  AddGroup("A", 4);  // heard at t0
  // The loop was busy for 5 s; it last found the groups' socket empty 0.9 s
  // after t0: what A sent since is unread, so A is not silent.
  core_.Tick(t0_ + 5s, /*heard_until=*/t0_ + 900ms);
  EXPECT_EQ(core_.Status(t0_).groups(0).state(), proto::GROUP_READY);
  // Read now: a heartbeat came.
  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  hb.mutable_heartbeat();
  FromWorker("A", hb, t0_ + 5001ms);
  core_.Tick(t0_ + 5002ms, t0_ + 5002ms);
  EXPECT_EQ(core_.Status(t0_).groups(0).state(), proto::GROUP_READY);
  // Silent for a second up to a read that found nothing: dead.
  core_.Tick(t0_ + 7s, t0_ + 6001ms);
  EXPECT_EQ(core_.Status(t0_).groups(0).state(), proto::GROUP_DEAD);
}

class BusyTest : public CoreTestBase {
 protected:
  static CoordinatorOptions Options() {
    CoordinatorOptions o;
    o.queue_limit = 1;
    return o;
  }
  BusyTest() : CoreTestBase(Options(), CountingModel()) {}
};

TEST_F(BusyTest, AFullQueueAnswersBusyBeforeTokenizing) {
  const uint64_t a = AddGroup("A", /*max_sequences=*/1);
  FromClient("c", Request("r1", {1, 300}, 4), t0_);  // runs
  FromClient("c", Request("r2", {1, 300}, 4), t0_);  // waits: the queue is full
  const int before = Counter().encodes;
  proto::ClientRequest text = Request("r3", {}, 4);
  text.mutable_generate()->set_prompt(std::string(2000, 'a'));
  FromClient("c", text, t0_);
  ASSERT_NE(Last("r3"), nullptr);
  EXPECT_EQ(Last("r3")->error().code(), proto::ERROR_BUSY);
  EXPECT_EQ(Counter().encodes, before) << "a request that cannot be queued was tokenized";
  // Room again (r1 done, r2 started): the next one is tokenized and runs.
  Update("A", a, 1, Starts("A")[0].seq(), {400}, true, t0_ + 1s);
  text.mutable_generate()->set_request_id("r4");
  text.mutable_generate()->set_prompt("a b c");
  FromClient("c", text, t0_ + 1s);
  EXPECT_EQ(Counter().encodes, before + 1);
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 1);
}

}  // namespace
}  // namespace tessera::testing
