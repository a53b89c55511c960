// A fixture owning one ZeroMQ context, a coordinator and fake groups.
#pragma once

#include <memory>
#include <vector>

#include "tests/unit/coordinator/fake_group.h"
#include "tests/unit/coordinator/test_client.h"
#include "tests/unit/coordinator/test_cluster.h"

namespace tessera::testing {

class CoordinatorTest : public ::testing::Test {
 protected:
  void StartCoordinator(CoordinatorOptions options = {}) {
    coordinator_ = std::make_unique<TestCoordinator>(options);
  }
  // Starts a fake group and waits until it sent Ready (or was rejected).
  FakeGroup& AddGroup(FakeGroupOptions options, bool expect_ready = true) {
    groups_.push_back(std::make_unique<FakeGroup>(context_, coordinator_->workers(), std::move(options)));
    FakeGroup& g = *groups_.back();
    EXPECT_EQ(g.WaitReady(), expect_ready) << g.name();
    return g;
  }
  std::unique_ptr<TestClient> Client(zmq::socket_type type = zmq::socket_type::dealer) {
    return std::make_unique<TestClient>(context_, coordinator_->clients(), type);
  }
  void TearDown() override {
    if (coordinator_) coordinator_->Stop();
    groups_.clear();
  }
  const Tokenizer& tok() const { return *Reference().tokenizer; }
  int64_t vocab() const { return Reference().config.vocab_size; }
  std::vector<int32_t> Encode(const std::string& text) const { return tok().Encode(text, tok().add_bos()); }

  zmq::context_t context_{1};
  std::unique_ptr<TestCoordinator> coordinator_;
  std::vector<std::unique_ptr<FakeGroup>> groups_;
};

// Chunk indices run 0, 1, 2, ... with no gap and no repeat.
inline void ExpectContiguous(const Outcome& o) {
  size_t next = 0;
  for (const auto& c : o.chunks) {
    EXPECT_EQ(static_cast<size_t>(c.index()), next) << "chunk indices must be contiguous";
    next = static_cast<size_t>(c.index()) + static_cast<size_t>(c.tokens_size());
  }
}

}  // namespace tessera::testing
