// The coordinator fuzzer's fixed parts: the model every run uses (made once),
// the coordinator's options (small limits, short timeouts, so short scripts
// reach the interesting states), the peers' and requests' names, and what
// the harness remembers of each leader and each request's stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/coordinator_options.h"
#include "coordinator/request_validator.h"
#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"
#include "model/model_fingerprint.h"
#include "tests/fuzz/coordinator_fuzz_ops.h"
#include "tests/fuzz/fuzz_models.h"

namespace tessera::fuzz {

struct Fixture {
  Fixture() {
    // Malformed input is the normal case here: its warnings would drown the
    // fuzzer's output and slow it down.
    FLAGS_minloglevel = 3;
    // Protobuf logs every string field with invalid UTF-8 it refuses to
    // parse; refusing is the point.
    google::protobuf::SetLogHandler(nullptr);
    // Four layers: a group of two stages has layers to move in a rebalance.
    ModelSpec spec = SmallSpec("llama", 512, DType::kF32);
    spec.n_layers = 4;
    model = LoadSpec(spec);
    fingerprint = ModelFingerprint(*model);
  }
  std::unique_ptr<Model> model;
  std::string fingerprint;
};

inline const Fixture& GetFixture() {
  static const Fixture* f = new Fixture();  // never freed: no destruction-order issues at exit
  return *f;
}

inline CoordinatorOptions FuzzOptions() {
  CoordinatorOptions o;
  // Small limits and short timeouts, so scripts of a few hundred bytes reach
  // a full queue, record eviction, dead groups and drain deadlines.
  o.queue_limit = 6;
  o.default_max_tokens = 8;
  o.record_limit = 4;
  o.record_bytes = 2048;
  o.heartbeat_timeout = absl::Seconds(2);
  o.queue_timeout = absl::Seconds(5);
  o.drain_timeout = absl::Seconds(1);
  return o;
}

inline std::string Peer(const char* kind, int i) { return std::string(kind) + std::to_string(i); }

// A request id: one of a few, an empty one or one too long.
inline std::string RequestId(uint8_t b) {
  if (b == 0xFF) return "";
  if (b == 0xFE) return std::string(kMaxRequestIdBytes + 1, 'x');
  return std::string("r").append(std::to_string(b % kRequestIds));
}

// What the core has told one leader.
struct LeaderView {
  uint64_t group = 0;
  uint64_t epoch = 0;
  std::vector<uint64_t> seqs;  // started on it, newest last (a bounded window)
};

// What one request id has streamed: tokens by chunk index; -1 where a chunk
// was not seen (the view was reset while the request went on).
struct StreamView {
  bool synced = false;
  std::vector<int32_t> tokens;
};

}  // namespace tessera::fuzz
