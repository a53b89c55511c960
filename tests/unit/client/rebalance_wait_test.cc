// WaitForRebalance (what `tessera admin rebalance --wait` exits on) against
// a fake admin socket that answers status requests from a script: the end
// is read from rebalances_finished and plan_generation, never from the
// last_rebalance text alone.
#include "client/lib/rebalance_wait.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/client/fake_admin_socket.h"

namespace tessera {
namespace {

using testing::FakeAdminSocket;

constexpr uint64_t kGroup = 2;

proto::GroupStatus Group(uint64_t finished, uint64_t generation, const std::string& last,
                         proto::GroupState state = proto::GROUP_READY) {
  proto::GroupStatus g;
  g.set_id(kGroup);
  g.set_state(state);
  g.set_rebalances_finished(finished);
  g.set_plan_generation(generation);
  g.set_last_rebalance(last);
  return g;
}

// Each status request gets the next reply of the script (a group, or none
// listed); the requests it answered are counted.
class ScriptedStatus {
 public:
  explicit ScriptedStatus(std::vector<std::optional<proto::GroupStatus>> script) : script_(std::move(script)) {
    thread_ = std::thread([this] {
      for (const std::optional<proto::GroupStatus>& g : script_) {
        auto r = fake_.Receive();
        if (!r.has_value()) return;
        EXPECT_TRUE(r->request.has_status());
        proto::AdminReply reply;
        proto::ClusterStatus* s = reply.mutable_status();
        proto::GroupStatus* other = s->add_groups();  // another group, never the one waited for
        other->set_id(kGroup + 1);
        other->set_rebalances_finished(7);
        other->set_plan_generation(9);
        if (g) *s->add_groups() = *g;
        fake_.Reply(r->identity, reply);
        ++answered_;
      }
    });
  }
  ~ScriptedStatus() { Join(); }
  const std::string& endpoint() const { return fake_.endpoint(); }
  // The requests answered, once the script ran out (or went unasked for 5 s).
  int Join() {
    if (thread_.joinable()) thread_.join();
    return answered_;
  }

 private:
  FakeAdminSocket fake_;
  std::vector<std::optional<proto::GroupStatus>> script_;
  std::thread thread_;
  int answered_ = 0;  // by the thread until Join
};

std::unique_ptr<AdminClient> Connect(const std::string& endpoint) {
  AdminClientOptions options;
  options.endpoint = endpoint;
  options.timeout = absl::Seconds(10);
  auto client = AdminClient::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

RebalanceWaitOptions Fast() {
  RebalanceWaitOptions o;
  o.timeout = absl::Seconds(30);
  o.poll = absl::Milliseconds(1);
  return o;
}

const proto::GroupStatus kInProgress = Group(3, 1, "in progress: loading layers [0,1) [1,4) (0.1 s so far)");

TEST(RebalanceWaitTest, ARollbackThatRepeatsThePreviousMessageIsARollback) {
  // The last rebalance also rolled back, with the same words: only the
  // count tells this one ended.
  const proto::GroupStatus before = Group(3, 1, "rolled back: rank 1: out of memory");
  ScriptedStatus server({kInProgress, kInProgress, Group(4, 1, "rolled back: rank 1: out of memory")});
  auto admin = Connect(server.endpoint());
  absl::StatusOr<RebalanceWaitResult> r = WaitForRebalance(*admin, before, Fast());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->end, RebalanceEnd::kRolledBack);
  EXPECT_EQ(r->group.last_rebalance(), "rolled back: rank 1: out of memory");
  EXPECT_EQ(server.Join(), 3);
}

TEST(RebalanceWaitTest, ANewPlanGenerationIsASwitch) {
  const proto::GroupStatus before = Group(3, 1, "rolled back: rank 1: out of memory");
  ScriptedStatus server({kInProgress, Group(4, 2, "switched to layers [0,1) [1,4) in 1.5 s")});
  auto admin = Connect(server.endpoint());
  absl::StatusOr<RebalanceWaitResult> r = WaitForRebalance(*admin, before, Fast());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->end, RebalanceEnd::kSwitched);
  EXPECT_EQ(r->group.plan_generation(), 2u);
}

TEST(RebalanceWaitTest, NothingUnderWayAndNothingFinishedIsNotStarted) {
  // The request changed nothing ("already serves this plan"): no change in
  // progress, the count where it was.
  const proto::GroupStatus before = Group(3, 2, "switched to layers [0,1) [1,4) in 1.5 s");
  ScriptedStatus server({before});
  auto admin = Connect(server.endpoint());
  absl::StatusOr<RebalanceWaitResult> r = WaitForRebalance(*admin, before, Fast());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->end, RebalanceEnd::kNotStarted);
}

TEST(RebalanceWaitTest, ADeadOrRemovedGroupEndsTheWait) {
  const proto::GroupStatus before = Group(3, 1, "");
  {
    ScriptedStatus server({kInProgress, Group(4, 1, "abandoned: the group died (x)", proto::GROUP_DEAD)});
    auto admin = Connect(server.endpoint());
    absl::StatusOr<RebalanceWaitResult> r = WaitForRebalance(*admin, before, Fast());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->end, RebalanceEnd::kGroupDied);
  }
  {
    ScriptedStatus server({kInProgress, std::nullopt});
    auto admin = Connect(server.endpoint());
    absl::StatusOr<RebalanceWaitResult> r = WaitForRebalance(*admin, before, Fast());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->end, RebalanceEnd::kGroupGone);
  }
}

TEST(RebalanceWaitTest, StillInProgressAtTheTimeoutSaysSo) {
  const proto::GroupStatus before = Group(3, 1, "");
  ScriptedStatus server({kInProgress});
  auto admin = Connect(server.endpoint());
  RebalanceWaitOptions o = Fast();
  o.timeout = absl::ZeroDuration();  // one look, then the deadline has passed
  absl::StatusOr<RebalanceWaitResult> r = WaitForRebalance(*admin, before, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->end, RebalanceEnd::kStillRunning);
}

TEST(RebalanceWaitTest, ARefusedStatusIsAnError) {
  FakeAdminSocket fake;
  std::thread server([&] {
    auto r = fake.Receive();
    ASSERT_TRUE(r.has_value());
    proto::AdminReply refused;
    refused.mutable_error()->set_code(proto::ERROR_UNAVAILABLE);
    refused.mutable_error()->set_message("the coordinator is shutting down");
    fake.Reply(r->identity, refused);
  });
  auto admin = Connect(fake.endpoint());
  absl::StatusOr<RebalanceWaitResult> r = WaitForRebalance(*admin, Group(0, 1, ""), Fast());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("shutting down"), std::string::npos) << r.status();
  server.join();
}

}  // namespace
}  // namespace tessera
