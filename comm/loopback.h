// In-process loopback: N ranks as threads of one process, sharing a hub, with
// fault injection so tests can check how callers behave when a peer dies, loses
// messages or is slow.
//
//   auto hub = LoopbackHub::Create(4);
//   // on thread r:  std::unique_ptr<Communicator> comm = hub->Connect(r);
//   hub->Kill(2);  // rank 2 never answers again
//
// Semantics beyond the Communicator contract:
// - Send never waits for the receiver (like an eager MPI send), except to a
//   killed rank: then it waits out its timeout and fails with DeadlineExceeded.
// - Collectives exchange every rank's contribution with every other rank, so
//   a timeout names exactly the ranks that did not answer, and AllReduceSum
//   sums in rank order on every rank (bit-identical results).
// - Faults are given by hub rank and apply to every communicator split from
//   the hub: a sub-communicator of a killed rank is dead too.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "comm/communicator.h"

namespace tessera {

namespace loopback_internal {
class Fabric;
}

class LoopbackHub {
 public:
  // A hub for `n` >= 1 ranks.
  static std::shared_ptr<LoopbackHub> Create(int n);

  int size() const;

  // The communicator of `rank` over the whole hub (label "world"). Each rank
  // connects once; connecting a rank twice or one outside [0, size) is a
  // programmer error and aborts. The communicator keeps the hub alive.
  std::unique_ptr<Communicator> Connect(int rank);
  // Connect(0) ... Connect(size - 1), indexed by rank.
  std::vector<std::unique_ptr<Communicator>> ConnectAll();

  // Fault injection. Every call is thread-safe and takes effect at once, also
  // for calls already waiting.
  //
  // `rank` dies: it never sends or takes a message again. Calls on any rank
  // that need it fail with DeadlineExceeded when their timeout runs out; its
  // own calls (also those already waiting) fail at once with Unavailable.
  // Messages it sent before dying can still be taken.
  void Kill(int rank);
  // The next `count` messages `rank` sends (to anyone, collectives included)
  // are lost; kAllMessages: every later one. The sender is not told.
  static constexpr int64_t kAllMessages = -1;
  void DropMessagesFrom(int rank, int64_t count = kAllMessages);
  // Messages `rank` sends from now on arrive `delay` later; order per
  // (source, tag) is kept.
  void Delay(int rank, absl::Duration delay);
  // Ends the drops and delays of `rank` (a kill is final).
  void Heal(int rank);

  explicit LoopbackHub(int n);  // use Create()

 private:
  std::shared_ptr<loopback_internal::Fabric> fabric_;
};

}  // namespace tessera
