// The coordinator's knobs (tessera-coordinator's flags).
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace tessera {

struct CoordinatorOptions {
  std::string listen = "tcp://*:5555";   // clients' ROUTER
  std::string workers = "tcp://*:5556";  // group leaders' ROUTER
  // Admin ROUTER (`tessera admin`); empty: no admin socket. Loopback by
  // default: admin commands can drain and remove groups, so other hosts
  // reach it only when the operator binds it wider (and turns on CURVE).
  std::string admin = "tcp://127.0.0.1:5557";
  int queue_limit = 1024;          // accepted requests waiting for a group; past it: ERROR_BUSY
  int32_t default_max_tokens = 64; // for a GenerateRequest with max_tokens 0
  int64_t kv_tokens = 0;           // KV budget planned for a group that asks for none (0: 4 x context)
  int record_limit = 10000;        // finished requests remembered for repeated ids (LRU)
  int64_t record_bytes = int64_t{256} << 20;  // and the bytes those records may take (LRU)
  absl::Duration heartbeat_timeout = absl::Seconds(10);  // silence that makes a group dead
  absl::Duration queue_timeout = absl::Seconds(60);      // longest wait for a group
  // How long a rebalance or a remove waits for the group's running requests
  // to finish before the rest move to other groups as continuations.
  absl::Duration drain_timeout = absl::Seconds(30);
  // How long a group may take to answer Reshard. Its heartbeats come from a
  // thread of their own, so a group stuck loading still looks alive; past
  // this it is shut down and declared dead, and its requests run elsewhere.
  absl::Duration reshard_timeout = absl::Minutes(10);
  // CURVE authentication (auth/server_auth.h). `curve_key`, the coordinator's
  // secret key file, turns it on for the client and admin sockets; then both
  // public key lists are required, and a missing, unreadable or empty one
  // makes Create fail (fail closed). All empty: no authentication.
  std::string curve_key;
  std::string client_keys;  // who may use the client socket
  std::string admin_keys;   // who may use the admin socket
};

}  // namespace tessera
