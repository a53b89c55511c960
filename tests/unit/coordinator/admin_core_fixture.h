// CoordinatorCore's admin side without sockets: a 4-layer model (so two
// stages can trade layers), groups of any shape, the leader's Resharded
// (admin request builders: test_admin.h).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/model_fingerprint.h"
#include "model/model_maker.h"
#include "tests/unit/coordinator/core_fixture.h"
#include "tests/unit/coordinator/test_admin.h"

namespace tessera::testing {

// The tiny model with 4 layers instead of 2.
inline const Model& FourLayerModel() {
  static const std::unique_ptr<Model> model = [] {
    ModelSpec spec;
    spec.n_layers = 4;
    const std::string path =
        ::testing::TempDir() + "/tessera_admin_4layers_" + std::to_string(::getpid()) + ".gguf";
    absl::Status st = MakeModelFile(spec, path);
    EXPECT_TRUE(st.ok()) << st;
    auto m = LoadModel(path);
    EXPECT_TRUE(m.ok()) << m.status();
    std::remove(path.c_str());  // the mapping outlives the name
    return m.ok() ? *std::move(m) : nullptr;
  }();
  return *model;
}

class AdminCoreTestBase : public CoreTestBase {
 protected:
  explicit AdminCoreTestBase(const CoordinatorOptions& options) : CoreTestBase(options, FourLayerModel()) {}

  // Registers and readies a tp x pp leader of the 4-layer model.
  uint64_t AddShaped(const std::string& leader, int tp, int pp, int32_t max_sequences = 4, int64_t kv_blocks = 100) {
    FromWorker(leader, Registration(leader, tp, pp, int64_t{1} << 30, ModelFingerprint(FourLayerModel())), t0_);
    if (outbox_.groups.empty() || !outbox_.groups.back().message.has_plan()) {
      ADD_FAILURE() << leader << " got no plan";
      return 0;
    }
    const uint64_t id = outbox_.groups.back().message.plan().group_id();
    Ready(leader, id, kv_blocks, 16, max_sequences, t0_);
    return id;
  }

  proto::AdminReply Admin(const proto::AdminRequest& request, SteadyTime now, const std::string& from = "admin") {
    const std::string bytes = request.SerializeAsString();
    const std::string_view frames[] = {from, bytes};
    return AdminFrames(frames, now);
  }
  proto::AdminReply AdminFrames(std::span<const std::string_view> frames, SteadyTime now) {
    const size_t before = outbox_.admins.size();
    core_.OnAdminMessage(frames, now);
    if (outbox_.admins.size() != before + 1) {
      ADD_FAILURE() << "expected one admin reply, got " << outbox_.admins.size() - before;
      return {};
    }
    return outbox_.admins.back().admin;
  }

  void Resharded(const std::string& leader, uint64_t group, uint64_t epoch, bool ok, const std::string& message,
                 int64_t kv_blocks, SteadyTime now) {
    proto::WorkerMessage m;
    m.set_version(proto::PROTOCOL_VERSION_1);
    proto::Resharded* r = m.mutable_resharded();
    r->set_group_id(group);
    r->set_epoch(epoch);
    r->set_ok(ok);
    r->set_message(message);
    r->set_kv_blocks(kv_blocks);
    r->set_block_size(16);
    r->set_loaded_bytes(int64_t{3} << 20);
    r->set_kept_bytes(int64_t{5} << 20);
    r->set_seconds(1.5);
    FromWorker(leader, m, now);
  }

  std::vector<proto::Reshard> Reshards(const std::string& leader) {
    std::vector<proto::Reshard> out;
    for (const Sent& s : outbox_.groups) {
      if (s.to == leader && s.message.has_reshard()) out.push_back(s.message.reshard());
    }
    return out;
  }
  std::vector<uint64_t> CancelsTo(const std::string& leader) {
    std::vector<uint64_t> out;
    for (const Sent& s : outbox_.groups) {
      if (s.to == leader && s.message.has_cancel()) out.push_back(s.message.cancel().seq());
    }
    return out;
  }
  bool GotShutdown(const std::string& leader) {
    for (const Sent& s : outbox_.groups) {
      if (s.to == leader && s.message.has_shutdown()) return true;
    }
    return false;
  }

  // The group's status, or a failure.
  proto::GroupStatus GroupStatusOf(uint64_t id, SteadyTime now) {
    const proto::ClusterStatus status = core_.Status(now);
    for (const proto::GroupStatus& g : status.groups()) {
      if (g.id() == id) return g;
    }
    ADD_FAILURE() << "group " << id << " not listed";
    return {};
  }
  bool Listed(uint64_t id) {
    const proto::ClusterStatus status = core_.Status(t0_);
    for (const proto::GroupStatus& g : status.groups()) {
      if (g.id() == id) return true;
    }
    return false;
  }

  // The tokens streamed to the client for request `id`, assembled by chunk
  // index; a gap or a repeated index is a test failure.
  std::vector<int32_t> Streamed(const std::string& id) {
    std::vector<int32_t> out;
    for (const Sent& s : outbox_.clients) {
      if (s.reply.request_id() != id || !s.reply.has_chunk()) continue;
      EXPECT_EQ(static_cast<size_t>(s.reply.chunk().index()), out.size()) << "chunks of " << id;
      out.insert(out.end(), s.reply.chunk().tokens().begin(), s.reply.chunk().tokens().end());
    }
    return out;
  }
};

}  // namespace tessera::testing
