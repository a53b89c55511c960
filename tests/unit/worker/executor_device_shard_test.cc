// Shards on a device-like backend (device_like_backend.h): tensor-parallel
// ranks whose communicator takes host memory only stage every all-reduce
// through the host, and pipeline stages upload the hidden rows they receive
// and download the ones they send. Either way the results are the CPU
// backend's, bit for bit, and nothing else crosses.
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "comm/loopback.h"
#include "device_like_backend.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_model.h"
#include "test_plans.h"
#include "worker/executor.h"
#include "worker/kv_cache.h"
#include "worker/shard.h"

namespace tessera {
namespace {

using testing::DeviceLikeBackend;

constexpr int64_t kBlockSize = 4;

// A step's chunks: two prompts at once (the second wants no logits), then
// four decode steps of both.
struct Step {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<SequenceChunk> chunks;
  int64_t n_tokens = 0, n_logits = 0, n_blocks = 0;  // blocks: of the tables uploaded
};

std::vector<Step> Steps() {
  std::vector<Step> steps(5);
  steps[0].tokens = {{1, 10, 20, 30, 40, 50, 60}, {1, 99, 98}};
  for (int s = 0; s < 4; ++s) steps[s + 1].tokens = {{7 + 13 * s}, {3 + s}};
  for (size_t i = 0; i < steps.size(); ++i) {
    Step& st = steps[i];
    const int64_t start[] = {i == 0 ? 0 : 6 + static_cast<int64_t>(i), i == 0 ? 0 : 2 + static_cast<int64_t>(i)};
    for (int q = 0; q < 2; ++q) {
      const bool want = i > 0 || q == 0;
      st.chunks.push_back({q + 1, st.tokens[q], start[q], want});
      const int64_t len = static_cast<int64_t>(st.tokens[q].size());
      st.n_tokens += len;
      st.n_logits += want ? 1 : 0;
      st.n_blocks += (start[q] + len + kBlockSize - 1) / kBlockSize;
    }
  }
  return steps;
}

struct Rank {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Shard> shard;
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<Executor> exec;
  DeviceLikeBackend* device = nullptr;  // backend, when device-like
};

Rank MakeRank(const Model& m, const proto::RankShard& plan, bool device_like, Communicator* tp) {
  Rank r;
  if (device_like) {
    auto device = std::make_unique<DeviceLikeBackend>();
    r.device = device.get();
    r.backend = std::move(device);
  } else {
    r.backend = MakeCpuBackend({.threads = 2});
  }
  auto shard = MakeShard(m, RangesFromPlan(plan));
  EXPECT_TRUE(shard.ok()) << shard.status();
  r.shard = *std::move(shard);
  const ShardRanges& ranges = r.shard->ranges;
  auto kv = KvCache::Create({ranges.n_layers(), ranges.n_kv_heads() * m.config.head_dim, kBlockSize, 32}, *r.backend);
  EXPECT_TRUE(kv.ok()) << kv.status();
  r.kv = *std::move(kv);
  r.exec = std::make_unique<Executor>(*r.shard, *r.backend, *r.kv, tp);
  EXPECT_TRUE(r.exec->Load().ok());
  if (r.device != nullptr) r.device->ResetCounters();
  return r;
}

// Every step's logits (this rank's vocabulary slice) of each of the tp ranks
// of a one-stage plan, run as threads over a loopback hub; `bytes_out` gets
// each rank's downloaded bytes when device-like.
std::vector<std::vector<std::vector<float>>> RunTensorParallel(const Model& m, const proto::ShardPlan& plan,
                                                               bool device_like, std::vector<int64_t>* bytes_out) {
  const int tp = plan.tp();
  auto hub = LoopbackHub::Create(tp);
  auto comms = hub->ConnectAll();
  std::vector<std::vector<std::vector<float>>> logits(static_cast<size_t>(tp));
  bytes_out->assign(static_cast<size_t>(tp), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < tp; ++t) {
    threads.emplace_back([&, t] {
      Rank r = MakeRank(m, plan.ranks(t), device_like, comms[static_cast<size_t>(t)].get());
      std::vector<float> out;
      for (const Step& step : Steps()) {
        const absl::Status st = r.exec->RunStage(step.chunks, {}, nullptr, &out);
        ASSERT_TRUE(st.ok()) << st;
        logits[static_cast<size_t>(t)].push_back(out);
      }
      if (r.device != nullptr) (*bytes_out)[static_cast<size_t>(t)] = r.device->bytes_out;
    });
  }
  for (std::thread& th : threads) th.join();
  return logits;
}

TEST(ShardsOnADevice, TensorParallelRanksAllReduceThroughTheHost) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  const ModelConfig& c = model->config;
  const proto::ShardPlan plan = testing::MakePlan(*model, 2, 1, 128, {});
  std::vector<int64_t> unused, bytes_out;
  const auto want = RunTensorParallel(*model, plan, false, &unused);
  const auto got = RunTensorParallel(*model, plan, true, &bytes_out);
  ASSERT_EQ(want.size(), 2u);
  EXPECT_EQ(got, want);

  // Out come the embedding's all-reduce and two a layer (attention and FFN),
  // n_tokens x dim each, and the rank's logits.
  int64_t tokens = 0, logit_rows = 0;
  for (const Step& s : Steps()) {
    tokens += s.n_tokens;
    logit_rows += s.n_logits;
  }
  for (int t = 0; t < 2; ++t) {
    const int64_t n_vocab = RangesFromPlan(plan.ranks(t)).n_vocab();
    EXPECT_EQ(bytes_out[static_cast<size_t>(t)], 4 * ((1 + 2 * c.n_layers) * tokens * c.dim + logit_rows * n_vocab))
        << "tp rank " << t;
  }
}

TEST(ShardsOnADevice, PipelineStagesMoveOnlyTheirHiddenRows) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  const ModelConfig& c = model->config;
  const proto::ShardPlan plan = testing::MakePlan(*model, 1, 2, 128, {});
  auto run = [&](bool device_like, Rank* first, Rank* last) {
    *first = MakeRank(*model, plan.ranks(0), device_like, nullptr);
    *last = MakeRank(*model, plan.ranks(1), device_like, nullptr);
    std::vector<std::vector<float>> out;
    std::vector<float> hidden, logits;
    for (const Step& step : Steps()) {
      absl::Status st = first->exec->RunStage(step.chunks, {}, &hidden, nullptr);
      EXPECT_TRUE(st.ok()) << st;
      EXPECT_EQ(static_cast<int64_t>(hidden.size()), step.n_tokens * c.dim);
      st = last->exec->RunStage(step.chunks, hidden, nullptr, &logits);
      EXPECT_TRUE(st.ok()) << st;
      out.push_back(hidden);
      out.push_back(logits);
    }
    return out;
  };
  Rank cpu_first, cpu_last, first, last;
  const auto want = run(false, &cpu_first, &cpu_last);
  EXPECT_EQ(run(true, &first, &last), want);

  int64_t ids = 0, hidden = 0, logits = 0;
  for (const Step& s : Steps()) {
    ids += 4 * (3 * s.n_tokens + s.n_blocks);
    hidden += 4 * s.n_tokens * c.dim;
    logits += 4 * s.n_logits * c.vocab_size;
  }
  EXPECT_EQ(first.device->bytes_in, ids);
  EXPECT_EQ(first.device->bytes_out, hidden);
  EXPECT_EQ(last.device->bytes_in, ids + hidden);
  EXPECT_EQ(last.device->bytes_out, logits);
}

}  // namespace
}  // namespace tessera
