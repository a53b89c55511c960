// Test helper: a loopback hub with every rank connected, and a way to run one
// body per rank on its own thread.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "comm/loopback.h"

namespace tessera::testing {

struct LoopbackRanks {
  explicit LoopbackRanks(int n, absl::Duration timeout = absl::Seconds(10))
      : hub(LoopbackHub::Create(n)), comms(hub->ConnectAll()) {
    for (auto& c : comms) c->set_default_timeout(timeout);
  }

  // Runs body(comm) for every rank at once and returns when all are done.
  void Run(const std::function<void(Communicator&)>& body) {
    std::vector<std::thread> threads;
    for (auto& c : comms) threads.emplace_back([&body, &c] { body(*c); });
    for (auto& t : threads) t.join();
  }

  std::shared_ptr<LoopbackHub> hub;
  std::vector<std::unique_ptr<Communicator>> comms;
};

}  // namespace tessera::testing
