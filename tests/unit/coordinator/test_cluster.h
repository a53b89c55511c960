// In-process pieces for the coordinator tests: the tiny model (a file), the
// fake model's tokens, and a coordinator on loopback ports in a thread. Fake
// group leaders are in fake_group.h, raw clients in test_client.h.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/coordinator.h"
#include "gtest/gtest.h"
#include "model/model.h"
#include "model/model_maker.h"
#include "proto/worker_api.pb.h"
#include "model/model_fingerprint.h"
#include "model/tokenizer.h"

namespace tessera::testing {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// The tiny model as a file in the test temp dir, one per test process
// (ctest runs each test in its own), removed when the process exits.
inline const std::string& TinyModelPath() {
  struct File {
    std::string path;
    File() : path(::testing::TempDir() + "/tessera_coordinator_tiny_" + std::to_string(::getpid()) + ".gguf") {
      ModelSpec spec;  // tiny: vocab 512, context 512, llama tokenizer
      absl::Status st = MakeModelFile(spec, path);
      EXPECT_TRUE(st.ok()) << st;
    }
    ~File() { std::remove(path.c_str()); }
  };
  static const File file;
  return file.path;
}

inline std::unique_ptr<Model> LoadTinyModel() {
  auto m = LoadModel(TinyModelPath());
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

// The expectation side's own copy of the model (tokenizer, fingerprint).
inline const Model& Reference() {
  static const std::unique_ptr<Model> m = LoadTinyModel();
  return *m;
}

// The fake model: the token at absolute position `pos` (prompt included) of
// a sequence sampled with `seed`. Never a control or byte token, so texts are
// plain words.
// A leader's Register for the tiny model: tp x pp ranks, each with the same
// profile, and the reference model's identity unless `fingerprint` says
// otherwise (a mismatch test).
inline proto::WorkerMessage Registration(const std::string& name, int tp = 1, int pp = 1,
                                         int64_t memory_bytes = int64_t{1} << 30,
                                         const std::string& fingerprint = ModelFingerprint(Reference())) {
  proto::WorkerMessage reg;
  reg.set_version(proto::PROTOCOL_VERSION_1);
  proto::Register* r = reg.mutable_registration();
  r->set_name(name);
  r->mutable_model()->set_name(Reference().config.name);
  r->mutable_model()->set_fingerprint(fingerprint);
  r->set_tp(tp);
  r->set_pp(pp);
  for (int i = 0; i < tp * pp; ++i) {
    proto::DeviceProfile* p = r->add_profiles();
    p->set_name("fake");
    p->set_memory_bytes(memory_bytes);
    p->set_compute_flops(1e11);
    p->set_memory_bandwidth(1e10);
  }
  return reg;
}

inline int32_t FakeToken(uint64_t seed, int64_t pos, int64_t vocab) {
  constexpr int64_t kFirst = 259;
  return static_cast<int32_t>(kFirst + static_cast<int64_t>((seed + static_cast<uint64_t>(pos)) %
                                                            static_cast<uint64_t>(vocab - kFirst)));
}

inline std::vector<int32_t> ExpectedTokens(uint64_t seed, size_t prompt_tokens, int n, int64_t vocab) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(FakeToken(seed, static_cast<int64_t>(prompt_tokens) + i, vocab));
  return out;
}

inline std::string DecodeAll(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  StreamDecoder d(tok);
  std::string out;
  for (int32_t id : ids) out += d.Push(id);
  return out + d.Finish();
}

// Polls `pred` every 2 ms until it holds or `timeout` passes.
inline bool WaitUntil(const std::function<bool()>& pred, Millis timeout = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

class TestCoordinator {
 public:
  explicit TestCoordinator(CoordinatorOptions options = {}) {
    options.listen = "tcp://127.0.0.1:*";
    options.workers = "tcp://127.0.0.1:*";
    options.admin = "tcp://127.0.0.1:*";
    auto c = Coordinator::Create(options, LoadTinyModel());
    EXPECT_TRUE(c.ok()) << c.status();
    coordinator_ = *std::move(c);
    thread_ = std::thread([this] { run_status_ = coordinator_->Run(); });
  }
  ~TestCoordinator() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    coordinator_->Stop();
    thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
  }
  const std::string& clients() const { return coordinator_->client_endpoint(); }
  const std::string& workers() const { return coordinator_->worker_endpoint(); }
  const std::string& admin() const { return coordinator_->admin_endpoint(); }

 private:
  std::unique_ptr<Coordinator> coordinator_;
  std::thread thread_;
  absl::Status run_status_;
};

}  // namespace tessera::testing
