// The executor's device path, on a machine without a GPU: a backend that
// computes on the CPU but keeps its memory behind CopyIn/CopyOut
// (device_like_backend.h). It must give the CPU backend's logits bit for bit,
// move only a step's int32s in and its logits (or hidden rows) out, and
// report device failures as errors that are never step refusals.
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
using Logits = std::vector<std::vector<float>>;

constexpr int64_t kBlockSize = 4;  // small, so sequences span several blocks
constexpr int64_t kBlocks = 32;

std::unique_ptr<KvCache> MakeKv(int64_t n_layers, int64_t kv_dim, Backend& backend) {
  auto kv = KvCache::Create({n_layers, kv_dim, kBlockSize, kBlocks}, backend);
  EXPECT_TRUE(kv.ok()) << kv.status();
  return kv.ok() ? *std::move(kv) : nullptr;
}

const std::vector<int32_t> kA = {1, 10, 20, 30, 40, 50, 60};
const std::vector<int32_t> kB = {1, 99, 98};

// Two prompts in one step (the second without logits), then decode steps of
// both; every step's logits.
absl::Status RunSteps(Executor& exec, Logits* out) {
  std::vector<float> logits;
  SequenceChunk prefill[] = {{1, kA, 0, true}, {2, kB, 0, false}};
  if (auto st = exec.Forward(prefill, &logits); !st.ok()) return st;
  out->push_back(logits);
  for (int s = 0; s < 4; ++s) {
    const int32_t a = 7 + 13 * s, b = 3 + s;
    SequenceChunk step[] = {{1, {&a, 1}, 7 + s, true}, {2, {&b, 1}, 3 + s, true}};
    if (auto st = exec.Forward(step, &logits); !st.ok()) return st;
    out->push_back(logits);
  }
  return absl::OkStatus();
}

Logits WholeModelLogits(const Model& m, Backend& backend) {
  auto kv = MakeKv(m.config.n_layers, m.config.kv_dim(), backend);
  Executor exec(m, backend, *kv);
  Logits out;
  const absl::Status st = RunSteps(exec, &out);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

// A tiny model on the device-like backend with its KV cache and executor.
class ExecutorOnADevice : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = testing::MakeTestModel(ModelSpec{});
    ASSERT_NE(model_, nullptr);
    kv_ = MakeKv(model_->config.n_layers, model_->config.kv_dim(), device_);
    exec_ = std::make_unique<Executor>(*model_, device_, *kv_);
  }

  std::unique_ptr<Model> model_;
  DeviceLikeBackend device_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<Executor> exec_;
};

TEST_F(ExecutorOnADevice, GivesTheCpuBackendsLogitsBitForBit) {
  for (DType type : {DType::kF32, DType::kQ8_0}) {
    auto model = testing::MakeTestModel(ModelSpec{.type = type});
    ASSERT_NE(model, nullptr);
    auto cpu = MakeCpuBackend({.threads = 2});
    DeviceLikeBackend device({.threads = 2});
    const Logits want = WholeModelLogits(*model, *cpu);
    ASSERT_EQ(want.size(), 5u);
    EXPECT_EQ(WholeModelLogits(*model, device), want) << DTypeName(type);
  }
}

TEST_F(ExecutorOnADevice, OnlyTheStepsIdsGoInAndItsLogitsComeOut) {
  ASSERT_TRUE(exec_->Load().ok());
  ASSERT_TRUE(exec_->Load().ok());
  EXPECT_EQ(device_.resident_calls, 1) << "Load is idempotent";
  const int64_t vocab_bytes = model_->config.vocab_size * 4;
  std::vector<float> logits;

  // Tokens, positions and slots (3 int32s a token) and each chunk's block
  // table (2 blocks of 4 for 7 positions, 1 for 3), in one copy.
  device_.ResetCounters();
  SequenceChunk prefill[] = {{1, kA, 0, true}, {2, kB, 0, true}};
  ASSERT_TRUE(exec_->Forward(prefill, &logits).ok());
  EXPECT_EQ(device_.copy_ins, 1);
  EXPECT_EQ(device_.bytes_in, 4 * (3 * 10 + 2 + 1));
  EXPECT_EQ(device_.bytes_out, 2 * vocab_bytes);

  const int32_t t = 5;
  device_.ResetCounters();
  SequenceChunk decode[] = {{1, {&t, 1}, 7, true}, {2, {&t, 1}, 3, true}};
  ASSERT_TRUE(exec_->Forward(decode, &logits).ok());
  EXPECT_EQ(device_.copy_ins, 1);
  EXPECT_EQ(device_.bytes_in, 4 * (3 * 2 + 2 + 1));
  EXPECT_EQ(device_.bytes_out, 2 * vocab_bytes);

  // No logits: nothing comes out, and the step still waits for the device_.
  device_.ResetCounters();
  SequenceChunk quiet{1, {&t, 1}, 8, false};
  ASSERT_TRUE(exec_->Forward({&quiet, 1}, &logits).ok());
  EXPECT_TRUE(logits.empty());
  EXPECT_EQ(device_.bytes_out, 0);
  EXPECT_EQ(device_.finishes, 1);
  EXPECT_EQ(device_.resident_calls, 1);
}

TEST_F(ExecutorOnADevice, AFailedLoadIsNoRefusalAndLeavesTheCacheAlone) {
  std::vector<float> logits;
  SequenceChunk chunk{1, kA, 0, true};

  device_.resident_error = absl::ResourceExhaustedError("3 GiB short");
  absl::Status st = exec_->Forward({&chunk, 1}, &logits);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_FALSE(IsStepRefusal(st));
  EXPECT_NE(st.message().find("loading the weights onto device-like: 3 GiB short"), std::string::npos) << st;
  EXPECT_EQ(kv_->free_blocks(), kBlocks);
  EXPECT_FALSE(kv_->Has(1));

  device_.resident_error = absl::UnknownError("driver gone");
  st = exec_->Load();
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
  EXPECT_FALSE(exec_->loaded());

  device_.resident_error = absl::OkStatus();
  EXPECT_TRUE(exec_->Forward({&chunk, 1}, &logits).ok());
  EXPECT_TRUE(exec_->loaded());
  EXPECT_EQ(device_.resident_calls, 3);
}

TEST_F(ExecutorOnADevice, ADeviceErrorIsInternalNeverARefusal) {
  ASSERT_TRUE(exec_->Load().ok());
  device_.device_error = absl::InvalidArgumentError("an illegal memory access was encountered");
  std::vector<float> logits;
  // With logits (CopyOut) and without (Finish).
  for (bool want_logits : {true, false}) {
    SequenceChunk chunk{want_logits ? 1 : 2, kB, 0, want_logits};
    const absl::Status st = exec_->Forward({&chunk, 1}, &logits);
    EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
    EXPECT_FALSE(IsStepRefusal(st));
    EXPECT_NE(st.message().find("device error on device-like: an illegal memory access"), std::string::npos)
        << st;
  }
}

TEST_F(ExecutorOnADevice, NoRoomForAStepsBuffersIsNoRefusal) {
  device_.max_allocation = 1024;  // less than 7 rows of activations
  std::vector<float> logits;
  SequenceChunk chunk{1, kA, 0, true};
  const absl::Status st = exec_->Forward({&chunk, 1}, &logits);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("device-like"), std::string::npos) << st;
  EXPECT_EQ(kv_->free_blocks(), kBlocks);
  EXPECT_FALSE(kv_->Has(1));
  device_.max_allocation = -1;
  EXPECT_TRUE(exec_->Forward({&chunk, 1}, &logits).ok());
}

TEST_F(ExecutorOnADevice, RefusesAKvCacheOnAnotherBackend) {
  auto model = testing::MakeTestModel(ModelSpec{});
  ASSERT_NE(model, nullptr);
  auto cpu = MakeCpuBackend({.threads = 1});
  DeviceLikeBackend device;
  auto kv = MakeKv(model->config.n_layers, model->config.kv_dim(), *cpu);
  Executor exec(*model, device, *kv);
  std::vector<float> logits;
  SequenceChunk chunk{1, kA, 0, true};
  const absl::Status st = exec.Forward({&chunk, 1}, &logits);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(kv->free_blocks(), kBlocks);
}

}  // namespace
}  // namespace tessera
