// CoordinatorCore without sockets, for its tests: every message it sends is
// recorded, and time is whatever the test says.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/coordinator_core.h"
#include "gtest/gtest.h"
#include "model/model_fingerprint.h"
#include "tests/unit/coordinator/test_cluster.h"

namespace tessera::testing {

struct Sent {
  std::string to;
  proto::ClientReply reply;           // to a client
  proto::CoordinatorMessage message;  // to a group
  proto::AdminReply admin;            // to an admin
};

class RecordingOutbox : public Outbox {
 public:
  SendOutcome ToClient(std::string_view identity, bool, const proto::ClientReply& reply) override {
    if (gone.count(std::string(identity))) return SendOutcome::kUnreachable;
    clients.push_back({std::string(identity), reply, {}, {}});
    return SendOutcome::kSent;
  }
  SendOutcome ToGroup(std::string_view identity, const proto::CoordinatorMessage& message) override {
    if (gone.count(std::string(identity))) return SendOutcome::kUnreachable;
    groups.push_back({std::string(identity), {}, message, {}});
    return SendOutcome::kSent;
  }
  SendOutcome ToAdmin(std::string_view identity, bool, const proto::AdminReply& reply) override {
    if (gone.count(std::string(identity))) return SendOutcome::kUnreachable;
    admins.push_back({std::string(identity), {}, {}, reply});
    return SendOutcome::kSent;
  }
  std::vector<Sent> clients;
  std::vector<Sent> groups;
  std::vector<Sent> admins;
  std::set<std::string> gone;  // identities whose sends fail (unreachable)
};

class CoreTestBase : public ::testing::Test {
 protected:
  explicit CoreTestBase(const CoordinatorOptions& options, const Model& model = Reference())
      : core_(options, model, outbox_, t0_) {}

  void FromWorker(const std::string& leader, const proto::WorkerMessage& m, SteadyTime now) {
    const std::string bytes = m.SerializeAsString();
    const std::string_view frames[] = {leader, bytes};
    core_.OnWorkerMessage(frames, now);
  }
  void FromClient(const std::string& client, const proto::ClientRequest& r, SteadyTime now) {
    const std::string bytes = r.SerializeAsString();
    const std::string_view frames[] = {client, bytes};
    core_.OnClientMessage(frames, now);
  }

  // Registers a leader; returns its group id (0 if it got no plan).
  uint64_t Register(const std::string& leader, SteadyTime now) {
    const proto::WorkerMessage reg = Registration(leader);
    FromWorker(leader, reg, now);
    if (outbox_.groups.empty() || !outbox_.groups.back().message.has_plan()) {
      ADD_FAILURE() << leader << " got no plan";
      return 0;
    }
    return outbox_.groups.back().message.plan().group_id();
  }
  void Ready(const std::string& leader, uint64_t id, int64_t kv_blocks, int32_t block_size, int32_t max_sequences,
             SteadyTime now) {
    proto::WorkerMessage ready;
    ready.set_version(proto::PROTOCOL_VERSION_1);
    ready.mutable_ready()->set_group_id(id);
    ready.mutable_ready()->set_epoch(1);
    ready.mutable_ready()->set_kv_blocks(kv_blocks);
    ready.mutable_ready()->set_block_size(block_size);
    ready.mutable_ready()->set_max_sequences(max_sequences);
    FromWorker(leader, ready, now);
  }
  // Registers and readies a leader; returns its group id.
  uint64_t AddGroup(const std::string& leader, int32_t max_sequences, int64_t kv_blocks = 100) {
    return AddGroupAt(leader, max_sequences, kv_blocks, t0_);
  }
  uint64_t AddGroupAt(const std::string& leader, int32_t max_sequences, int64_t kv_blocks, SteadyTime now) {
    const uint64_t id = Register(leader, now);
    Ready(leader, id, kv_blocks, 16, max_sequences, now);
    return id;
  }

  proto::ClientRequest Request(const std::string& id, std::vector<int32_t> prompt, int max_tokens,
                               bool stream = true) {
    proto::ClientRequest r;
    r.set_version(proto::PROTOCOL_VERSION_1);
    r.mutable_generate()->set_request_id(id);
    for (int32_t t : prompt) r.mutable_generate()->add_prompt_tokens(t);
    r.mutable_generate()->set_max_tokens(max_tokens);
    r.mutable_generate()->set_stream(stream);
    return r;
  }

  void Update(const std::string& leader, uint64_t group, uint64_t epoch, uint64_t seq, std::vector<int32_t> tokens,
              bool done, SteadyTime now, proto::FinishReason finish = proto::FINISH_LENGTH) {
    proto::WorkerMessage m;
    m.set_version(proto::PROTOCOL_VERSION_1);
    m.mutable_updates()->set_group_id(group);
    m.mutable_updates()->set_epoch(epoch);
    proto::SequenceUpdate* u = m.mutable_updates()->add_updates();
    u->set_seq(seq);
    for (int32_t t : tokens) u->add_tokens(t);
    u->set_done(done);
    if (done) u->set_finish(finish);
    FromWorker(leader, m, now);
  }

  int64_t Outstanding(uint64_t group) {
    const proto::ClusterStatus status = core_.Status(t0_);
    for (const auto& g : status.groups()) {
      if (g.id() == group) return g.outstanding_tokens();
    }
    return -1;
  }

  // The StartSequence messages sent to `leader`.
  std::vector<proto::StartSequence> Starts(const std::string& leader) {
    std::vector<proto::StartSequence> out;
    for (const Sent& s : outbox_.groups) {
      if (s.to == leader && s.message.has_start()) out.push_back(s.message.start());
    }
    return out;
  }
  // The last reply about request `id`, or nullptr.
  const proto::ClientReply* Last(const std::string& id) {
    for (auto it = outbox_.clients.rbegin(); it != outbox_.clients.rend(); ++it) {
      if (it->reply.request_id() == id) return &it->reply;
    }
    return nullptr;
  }

  const SteadyTime t0_ = SteadyTime{} + std::chrono::hours(1);
  RecordingOutbox outbox_;
  CoordinatorCore core_;
};

}  // namespace tessera::testing
