// The coordinator's knobs (tessera-coordinator's flags).
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace tessera {

struct CoordinatorOptions {
  std::string listen = "tcp://*:5555";   // clients' ROUTER
  std::string workers = "tcp://*:5556";  // group leaders' ROUTER
  int queue_limit = 1024;          // accepted requests waiting for a group; past it: ERROR_BUSY
  int32_t default_max_tokens = 64; // for a GenerateRequest with max_tokens 0
  int64_t kv_tokens = 0;           // KV budget planned for a group that asks for none (0: 4 x context)
  int record_limit = 10000;        // finished requests remembered for repeated ids (LRU)
  int64_t record_bytes = int64_t{256} << 20;  // and the bytes those records may take (LRU)
  absl::Duration heartbeat_timeout = absl::Seconds(10);  // silence that makes a group dead
  absl::Duration queue_timeout = absl::Seconds(60);      // longest wait for a group
};

}  // namespace tessera
