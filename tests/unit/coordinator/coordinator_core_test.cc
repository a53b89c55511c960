// CoordinatorCore without sockets: every message it sends is recorded, and
// time is whatever the test says, so routing books and continuations are
// checked against hand-computed values.
#include "coordinator/coordinator_core.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/coordinator/core_fixture.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;
using testing::Reference;

using testing::CoreTestBase;
using testing::Sent;

class CoreTest : public CoreTestBase {
 protected:
  CoreTest() : CoreTestBase(Options()) {}

  static CoordinatorOptions Options() {
    CoordinatorOptions o;
    o.queue_limit = 2;
    o.heartbeat_timeout = absl::Seconds(1);
    o.queue_timeout = absl::Seconds(5);
    return o;
  }
};

TEST_F(CoreTest, OutstandingWorkIsPromptNotComputedPlusTokensToGenerate) {
  const uint64_t a = AddGroup("A", 4);
  const uint64_t b = AddGroup("B", 4);
  FromClient("c", Request("r1", {1, 300, 301}, 10), t0_);
  ASSERT_EQ(Starts("A").size(), 1u);  // tie at 0: lower id
  const uint64_t seq1 = Starts("A")[0].seq();
  EXPECT_EQ(Outstanding(a), 3 + 10);
  Update("A", a, 1, seq1, {400}, false, t0_);
  EXPECT_EQ(Outstanding(a), 0 + 9);  // the first token means the prompt is computed
  Update("A", a, 1, seq1, {401, 402}, false, t0_);
  EXPECT_EQ(Outstanding(a), 7);

  FromClient("c", Request("r2", {1, 2, 3, 4, 5}, 4), t0_);  // B: 0 < 7
  ASSERT_EQ(Starts("B").size(), 1u);
  EXPECT_EQ(Outstanding(b), 5 + 4);
  FromClient("c", Request("r3", {1}, 1), t0_);  // A: 7 < 9
  ASSERT_EQ(Starts("A").size(), 2u);
  EXPECT_EQ(Outstanding(a), 7 + 1 + 1);

  Update("A", a, 1, seq1, {403, 404, 405, 406, 407, 408, 409}, true, t0_);
  EXPECT_EQ(Outstanding(a), 2);
  // r1's stream: chunks at 0, 1 and 3, then the result with all ten tokens.
  std::vector<int32_t> indices;
  const proto::GenerateResult* result = nullptr;
  for (const Sent& s : outbox_.clients) {
    if (s.reply.request_id() != "r1") continue;
    if (s.reply.has_chunk()) indices.push_back(s.reply.chunk().index());
    if (s.reply.has_result()) result = &s.reply.result();
  }
  EXPECT_EQ(indices, (std::vector<int32_t>{0, 1, 3}));
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(result->tokens_size(), 10);
  EXPECT_EQ(result->group(), "A");
  EXPECT_EQ(core_.Status(t0_).groups(0).running(), 1);
}

TEST_F(CoreTest, ADeadGroupsSequencesContinueElsewhereInAcceptanceOrder) {
  const uint64_t a = AddGroup("A", 4);
  FromClient("c", Request("r1", {1, 300}, 8), t0_);
  FromClient("c", Request("r2", {1, 301}, 8), t0_);
  const std::vector<proto::StartSequence> on_a = Starts("A");
  ASSERT_EQ(on_a.size(), 2u);
  Update("A", a, 1, on_a[0].seq(), {400, 401, 402}, false, t0_ + 100ms);
  Update("A", a, 1, on_a[1].seq(), {410}, false, t0_ + 100ms);
  AddGroup("B", 4);  // ready at t0: must not die with A below
  // B keeps talking; A falls silent past the 1 s heartbeat timeout.
  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  hb.mutable_heartbeat();
  FromWorker("B", hb, t0_ + 900ms);
  core_.Tick(t0_ + 1100ms);
  const proto::ClusterStatus s = core_.Status(t0_ + 1100ms);
  EXPECT_EQ(s.groups(0).state(), proto::GROUP_DEAD);
  EXPECT_EQ(s.groups(0).epoch(), 2u);
  const std::vector<proto::StartSequence> on_b = Starts("B");
  ASSERT_EQ(on_b.size(), 2u);
  // Continuations: prompt + tokens received; the rest to generate.
  EXPECT_EQ(std::vector<int32_t>(on_b[0].tokens().begin(), on_b[0].tokens().end()),
            (std::vector<int32_t>{1, 300, 400, 401, 402}));
  EXPECT_EQ(on_b[0].max_new_tokens(), 5);
  EXPECT_EQ(std::vector<int32_t>(on_b[1].tokens().begin(), on_b[1].tokens().end()),
            (std::vector<int32_t>{1, 301, 410}));
  EXPECT_EQ(on_b[1].max_new_tokens(), 7);
  EXPECT_NE(on_b[0].seq(), on_a[0].seq());  // a new run, a new seq
  // A late answer of the dead epoch changes nothing: A is unknown now and
  // is told to shut down.
  const size_t client_messages = outbox_.clients.size();
  Update("A", a, 1, on_a[0].seq(), {403}, false, t0_ + 1200ms);
  EXPECT_EQ(outbox_.clients.size(), client_messages);
  ASSERT_TRUE(outbox_.groups.back().message.has_shutdown());
  EXPECT_EQ(outbox_.groups.back().to, "A");
}

TEST_F(CoreTest, QueueBoundAndBusyWithoutRoom) {
  AddGroup("A", 1);
  FromClient("c", Request("r1", {1}, 4), t0_);  // runs
  FromClient("c", Request("r2", {1}, 4), t0_);  // queued
  FromClient("c", Request("r3", {1}, 4), t0_);  // queued
  FromClient("c", Request("r4", {1}, 4), t0_);  // BUSY
  ASSERT_FALSE(outbox_.clients.empty());
  const proto::ClientReply& last = outbox_.clients.back().reply;
  EXPECT_EQ(last.request_id(), "r4");
  EXPECT_EQ(last.error().code(), proto::ERROR_BUSY);
  const proto::ClusterStatus s = core_.Status(t0_);
  EXPECT_EQ(s.queue_depth(), 2);
  EXPECT_EQ(s.in_flight(), 1);
  EXPECT_EQ(s.accepted(), 3u);
  EXPECT_EQ(s.rejected_busy(), 1u);
  // At 5 s the queued ones time out (UNAVAILABLE, retryable); the running
  // one, on a group that keeps its heartbeats, does not.
  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  hb.mutable_heartbeat();
  FromWorker("A", hb, t0_ + 4500ms);
  core_.Tick(t0_ + 4999ms);
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 2);
  core_.Tick(t0_ + 5s);
  std::vector<std::string> unavailable;
  for (const Sent& m : outbox_.clients) {
    if (m.reply.error().code() == proto::ERROR_UNAVAILABLE) unavailable.push_back(m.reply.request_id());
  }
  EXPECT_EQ(unavailable, (std::vector<std::string>{"r2", "r3"}));
  EXPECT_EQ(core_.Status(t0_).queue_depth(), 0);
  EXPECT_EQ(core_.Status(t0_).in_flight(), 1);
}

TEST_F(CoreTest, AStartThatCannotBeDeliveredKillsTheGroupAndTheRequestWaits) {
  AddGroup("A", 2);
  outbox_.gone.insert("A");
  FromClient("c", Request("r1", {1, 2}, 4), t0_);
  const proto::ClusterStatus s = core_.Status(t0_);
  EXPECT_EQ(s.groups(0).state(), proto::GROUP_DEAD);
  EXPECT_EQ(s.queue_depth(), 1);  // back in the queue, for the next group
  AddGroup("B", 2);
  ASSERT_EQ(Starts("B").size(), 1u);
  EXPECT_EQ(Starts("B")[0].max_new_tokens(), 4);
}

TEST_F(CoreTest, HowASequenceEndsDecidesTheAnswer) {
  const uint64_t a = AddGroup("A", 8);
  const int32_t eos = Reference().tokenizer->eos_id();
  struct Case {
    const char* name;
    std::vector<int32_t> tokens;  // sent with done
    proto::FinishReason finish;
    proto::ErrorCode error;
    std::vector<int32_t> want_tokens;
    proto::FinishReason want_finish;  // when no error is expected
    proto::ErrorCode want_error;
  };
  const std::vector<Case> cases = {
      {"eos reported by the group", {400, 401}, proto::FINISH_EOS, proto::ERROR_UNSPECIFIED, {400, 401},
       proto::FINISH_EOS, proto::ERROR_UNSPECIFIED},
      {"eos token sent anyway", {400, eos, 402}, proto::FINISH_EOS, proto::ERROR_UNSPECIFIED, {400},
       proto::FINISH_EOS, proto::ERROR_UNSPECIFIED},
      {"length", {400, 401, 402, 403}, proto::FINISH_LENGTH, proto::ERROR_UNSPECIFIED, {400, 401, 402, 403},
       proto::FINISH_LENGTH, proto::ERROR_UNSPECIFIED},
      {"more than asked", {400, 401, 402, 403, 404, 405}, proto::FINISH_LENGTH, proto::ERROR_UNSPECIFIED,
       {400, 401, 402, 403}, proto::FINISH_LENGTH, proto::ERROR_UNSPECIFIED},
      {"group refused", {}, proto::FINISH_UNSPECIFIED, proto::ERROR_INVALID_ARGUMENT, {}, proto::FINISH_UNSPECIFIED,
       proto::ERROR_INVALID_ARGUMENT},
      {"token outside the vocabulary", {400, 9999}, proto::FINISH_LENGTH, proto::ERROR_UNSPECIFIED, {400},
       proto::FINISH_UNSPECIFIED, proto::ERROR_INTERNAL},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string id = absl::StrCat("end", n++);
    FromClient("c", Request(id, {1, 300}, 4), t0_);
    const uint64_t seq = Starts("A").back().seq();
    proto::WorkerMessage m;
    m.set_version(proto::PROTOCOL_VERSION_1);
    m.mutable_updates()->set_group_id(a);
    m.mutable_updates()->set_epoch(1);
    proto::SequenceUpdate* u = m.mutable_updates()->add_updates();
    u->set_seq(seq);
    for (int32_t t : c.tokens) u->add_tokens(t);
    // The vocabulary case leaves the sequence running on the group.
    u->set_done(c.want_error != proto::ERROR_INTERNAL);
    u->set_finish(c.finish);
    u->set_error_code(c.error);
    u->set_error("refused");
    FromWorker("A", m, t0_);
    const proto::ClientReply& last = outbox_.clients.back().reply;
    ASSERT_EQ(last.request_id(), id) << c.name;
    if (c.want_error != proto::ERROR_UNSPECIFIED) {
      ASSERT_TRUE(last.has_error()) << c.name;
      EXPECT_EQ(last.error().code(), c.want_error) << c.name;
    } else {
      ASSERT_TRUE(last.has_result()) << c.name;
      EXPECT_EQ(std::vector<int32_t>(last.result().tokens().begin(), last.result().tokens().end()), c.want_tokens)
          << c.name;
      EXPECT_EQ(last.result().finish_reason(), c.want_finish) << c.name;
      EXPECT_EQ(last.result().text(), testing::DecodeAll(*Reference().tokenizer, c.want_tokens)) << c.name;
    }
  }
  // The bad sequence was cancelled on its group, and nothing is left running.
  ASSERT_TRUE(outbox_.groups.back().message.has_cancel());
  EXPECT_EQ(outbox_.groups.back().message.cancel().seq(), Starts("A").back().seq());
  EXPECT_EQ(core_.Status(t0_).in_flight(), 0);
  EXPECT_EQ(core_.Status(t0_).groups(0).running(), 0);
}

}  // namespace
}  // namespace tessera
