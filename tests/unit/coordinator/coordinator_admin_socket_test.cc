// The admin socket over real ZeroMQ: status, drain and undrain, garbage
// frames, an oversized message, and rebalances under load with fake group
// leaders that answer Reshard (switched, rolled back, unusable).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/unit/coordinator/coordinator_fixture.h"
#include "tests/unit/coordinator/test_admin.h"

namespace tessera::testing {
namespace {

class AdminSocketTest : public CoordinatorTest {
 protected:
  std::unique_ptr<TestAdmin> Admin() { return std::make_unique<TestAdmin>(context_, coordinator_->admin()); }
  static uint64_t IdOf(const proto::ClusterStatus& s, const std::string& name) {
    for (const proto::GroupStatus& g : s.groups()) {
      if (g.name() == name) return g.id();
    }
    ADD_FAILURE() << "no group " << name;
    return 0;
  }
  static proto::GroupStatus Named(const proto::ClusterStatus& s, const std::string& name) {
    for (const proto::GroupStatus& g : s.groups()) {
      if (g.name() == name) return g;
    }
    ADD_FAILURE() << "no group " << name;
    return {};
  }
  // Every accepted request is answered or still waiting or running.
  static void ExpectLedger(const proto::ClusterStatus& s) {
    EXPECT_EQ(s.accepted(), s.completed() + s.cancelled() + s.failed() + static_cast<uint64_t>(s.queue_depth()) +
                                static_cast<uint64_t>(s.in_flight()))
        << s.DebugString();
  }
};

TEST_F(AdminSocketTest, StatusDrainAndUndrainOverTheAdminSocket) {
  StartCoordinator();
  ASSERT_FALSE(coordinator_->admin().empty());
  FakeGroup& g1 = AddGroup({.name = "g1"});
  FakeGroup& g2 = AddGroup({.name = "g2"});
  auto admin = Admin();
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 2));

  proto::ClusterStatus s = admin->Status();
  ASSERT_EQ(s.groups_size(), 2);
  for (const proto::GroupStatus& g : s.groups()) {
    EXPECT_EQ(g.plan_generation(), 1u) << g.name();
    EXPECT_EQ(g.plan().ranks_size(), 1) << g.name();  // the plan each got at registration
  }
  const uint64_t id1 = IdOf(s, "g1");
  proto::AdminReply reply = admin->Call(OnGroup(GroupOp::kDrain, id1));
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  EXPECT_EQ(reply.result().group_id(), id1);
  s = admin->Status();
  EXPECT_EQ(Named(s, "g1").state(), proto::GROUP_DRAINING);
  EXPECT_TRUE(Named(s, "g1").admin_drained());

  for (int i = 0; i < 6; ++i) client->Send(Generate("d" + std::to_string(i), "drained", 4, false, i));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(client->Await("d" + std::to_string(i)).result.has_value()) << i;
  EXPECT_TRUE(g1.starts().empty());
  EXPECT_EQ(g2.starts().size(), 6u);

  // Garbage on the admin socket is answered and changes nothing.
  admin->SendFrames({std::string(20, '\x07')});
  std::optional<proto::AdminReply> bad = admin->Receive();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->error().code(), proto::ERROR_MALFORMED);

  // A REQ peer gets its answer too (with the delimiter REQ needs).
  zmq::socket_t req(context_, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.connect(coordinator_->admin());
  req.send(zmq::buffer(AdminStatus().SerializeAsString()), zmq::send_flags::none);
  zmq::pollitem_t item{req.handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, 5000ms), 1);
  zmq::message_t m;
  ASSERT_TRUE(req.recv(m, zmq::recv_flags::none));
  proto::AdminReply from_req;
  ASSERT_TRUE(from_req.ParseFromArray(m.data(), static_cast<int>(m.size())));
  EXPECT_EQ(from_req.status().groups_size(), 2);

  reply = admin->Call(OnGroup(GroupOp::kUndrain, id1));
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  EXPECT_EQ(Named(admin->Status(), "g1").state(), proto::GROUP_READY);
  client->Send(Generate("u", "undrained", 4, false));
  ASSERT_TRUE(client->Await("u").result.has_value());
  EXPECT_EQ(g1.starts().size(), 1u);  // the emptier group again
}

TEST_F(AdminSocketTest, ARebalanceUnderLoadLosesNoRequestAndRepeatsNoToken) {
  StartCoordinator();
  // tp 2: tensor shares can move between the two ranks of the tiny model.
  // Room for every request on each: what g1 gives up runs on g2 at once.
  FakeGroup& g1 = AddGroup({.name = "g1", .tp = 2, .max_sequences = 32, .step = 3ms});
  FakeGroup& g2 = AddGroup({.name = "g2", .tp = 2, .max_sequences = 32, .step = 3ms});
  auto admin = Admin();
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 2));
  const uint64_t id1 = IdOf(admin->Status(), "g1");

  constexpr int kRequests = 20;
  constexpr int kTokens = 40;
  const std::string prompt = "rebalance me";
  std::vector<Outcome> outcomes(kRequests);
  for (int i = 0; i < kRequests; ++i) client->Send(Generate("r" + std::to_string(i), prompt, kTokens, true, 50 + i));
  // Some tokens have flowed on both groups before the rebalance starts.
  size_t chunks = 0;
  while (chunks < 20) {
    std::optional<proto::ClientReply> r = client->Receive();
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->has_chunk()) << r->DebugString();
    outcomes[std::stoi(r->request_id().substr(1))].chunks.push_back(r->chunk());
    ++chunks;
  }
  proto::PlanSpec spec;
  spec.add_tp_shares(3);
  spec.add_tp_shares(1);
  const size_t g2_starts_before = g2.starts().size();
  const proto::AdminReply reply = admin->Call(Rebalance(id1, spec, /*drain_timeout_ms=*/50));
  ASSERT_TRUE(reply.has_result()) << reply.DebugString();
  // Every request is somewhere in the books, mid-rebalance too.
  ExpectLedger(admin->Status());

  for (int i = 0; i < kRequests; ++i) {
    const std::string id = "r" + std::to_string(i);
    Outcome rest = client->Await(id, 20000ms);
    ASSERT_TRUE(rest.result.has_value()) << id << (rest.error ? ": " + rest.error->message() : "");
    Outcome& o = outcomes[i];
    o.chunks.insert(o.chunks.end(), rest.chunks.begin(), rest.chunks.end());
    o.result = rest.result;
    ExpectContiguous(o);
    const std::vector<int32_t> want = ExpectedTokens(50 + i, Encode(prompt).size(), kTokens, vocab());
    EXPECT_EQ(o.StreamedTokens(), want) << id;
    EXPECT_EQ(std::vector<int32_t>(o.result->tokens().begin(), o.result->tokens().end()), want) << id;
  }
  ASSERT_TRUE(WaitUntil([&] { return Named(admin->Status(), "g1").plan_generation() == 2; }));
  const proto::GroupStatus s = Named(admin->Status(), "g1");
  EXPECT_EQ(s.state(), proto::GROUP_READY);
  EXPECT_EQ(s.epoch(), 2u);
  EXPECT_TRUE(absl::StartsWith(s.last_rebalance(), "switched to")) << s.last_rebalance();
  ASSERT_EQ(g1.reshards().size(), 1u);
  EXPECT_EQ(g1.reshards()[0].epoch(), 2u);
  EXPECT_EQ(g1.reshards()[0].plan().SerializeAsString(), s.plan().SerializeAsString());
  const proto::ClusterStatus all = client->Status();
  EXPECT_EQ(all.completed(), static_cast<uint64_t>(kRequests));
  EXPECT_EQ(all.failed(), 0u);
  ExpectLedger(all);
  // The drain deadline moved work: g1 was told to stop sequences that still
  // ran, and each went on at g2 (the same request: its seed).
  const std::vector<uint64_t> cancelled = g1.cancels();
  EXPECT_FALSE(cancelled.empty());
  const std::vector<proto::StartSequence> g1_starts = g1.starts();
  const std::vector<proto::StartSequence> g2_starts = g2.starts();
  for (uint64_t seq : cancelled) {
    std::optional<uint64_t> seed;
    for (const proto::StartSequence& st : g1_starts) {
      if (st.seq() == seq) seed = st.sampling().seed();
    }
    ASSERT_TRUE(seed.has_value()) << "g1 was told to cancel seq " << seq << ", which it never ran";
    bool continued = false;
    for (size_t i = g2_starts_before; i < g2_starts.size(); ++i) continued |= g2_starts[i].sampling().seed() == *seed;
    EXPECT_TRUE(continued) << "the request of seed " << *seed << " did not continue on g2";
  }
  // g1 serves under the new plan.
  client->Send(Generate("after", prompt, 3, false, 7));
  ASSERT_TRUE(client->Await("after").result.has_value());
}

TEST_F(AdminSocketTest, ARolledBackRebalanceSaysSoAndTheGroupServesOn) {
  StartCoordinator();
  AddGroup({.name = "g1", .tp = 2, .reshard_error = "rank 1: cannot map layer 0"});
  auto admin = Admin();
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  const uint64_t id = IdOf(admin->Status(), "g1");
  proto::PlanSpec spec;
  spec.add_tp_shares(1);
  spec.add_tp_shares(3);
  ASSERT_TRUE(admin->Call(Rebalance(id, spec)).has_result());
  ASSERT_TRUE(WaitUntil([&] {
    return absl::StartsWith(Named(admin->Status(), "g1").last_rebalance(), "rolled back");
  }));
  const proto::GroupStatus s = Named(admin->Status(), "g1");
  EXPECT_EQ(s.last_rebalance(), "rolled back: rank 1: cannot map layer 0");
  EXPECT_EQ(s.plan_generation(), 1u);
  EXPECT_EQ(s.state(), proto::GROUP_READY);
  client->Send(Generate("x", "still here", 3, false));
  ASSERT_TRUE(client->Await("x").result.has_value());
}

TEST_F(AdminSocketTest, AResharedThatCannotServeKillsTheGroupAndItsRequestsRunElsewhere) {
  StartCoordinator();
  FakeGroup& g1 = AddGroup({.name = "g1", .tp = 2, .step = 3ms, .reshard_kv_blocks = 0});
  FakeGroup& g2 = AddGroup({.name = "g2", .tp = 2, .step = 3ms});
  auto admin = Admin();
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 2));
  const uint64_t id1 = IdOf(admin->Status(), "g1");

  constexpr int kRequests = 8;
  constexpr int kTokens = 40;
  const std::string prompt = "kv zero";
  for (int i = 0; i < kRequests; ++i) client->Send(Generate("k" + std::to_string(i), prompt, kTokens, true, 70 + i));
  ASSERT_TRUE(WaitUntil([&] { return !g1.starts().empty() && !g2.starts().empty(); }));
  proto::PlanSpec spec;
  spec.add_tp_shares(1);
  spec.add_tp_shares(2);
  ASSERT_TRUE(admin->Call(Rebalance(id1, spec, /*drain_timeout_ms=*/20)).has_result());
  ASSERT_TRUE(WaitUntil([&] { return Named(admin->Status(), "g1").state() == proto::GROUP_DEAD; }));
  EXPECT_TRUE(WaitUntil([&] { return g1.got_shutdown(); }));
  const proto::GroupStatus dead = Named(admin->Status(), "g1");
  EXPECT_TRUE(absl::StrContains(dead.last_rebalance(), "Resharded with 0 KV blocks")) << dead.last_rebalance();
  for (int i = 0; i < kRequests; ++i) {
    const std::string id = "k" + std::to_string(i);
    Outcome o = client->Await(id, 20000ms);
    ASSERT_TRUE(o.result.has_value()) << id << (o.error ? ": " + o.error->message() : "");
    ExpectContiguous(o);
    const std::vector<int32_t> want = ExpectedTokens(70 + i, Encode(prompt).size(), kTokens, vocab());
    EXPECT_EQ(o.StreamedTokens(), want) << id;
  }
  const proto::ClusterStatus all = admin->Status();
  EXPECT_EQ(all.completed(), static_cast<uint64_t>(kRequests));
  ExpectLedger(all);
}

TEST_F(AdminSocketTest, AnAdminMessageOverOneMebibyteIsDroppedAndOtherPeersAreServed) {
  StartCoordinator();
  AddGroup({.name = "g1"});
  auto big = Admin();
  auto other = Admin();
  auto client = Client();
  ASSERT_TRUE(WaitReadyGroups(*client, 1));
  big->SendFrames({std::string((size_t{1} << 20) + 1, '\x01')});
  EXPECT_EQ(other->Status().groups_size(), 1);
  client->Send(Generate("c1", "still served", 4, false));
  ASSERT_TRUE(client->Await("c1").result.has_value());
  // ZeroMQ closed the sender's connection unanswered ...
  EXPECT_FALSE(big->Receive(300ms).has_value());
  // ... and its next request, on a new connection, is served.
  EXPECT_EQ(big->Status().groups_size(), 1);
}

}  // namespace
}  // namespace tessera::testing
