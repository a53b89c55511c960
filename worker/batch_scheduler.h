// Continuous batching for a group leader: which sequences run in the next
// step, with which tokens at which positions, and what their results mean.
// Pure bookkeeping (no model, no I/O), so every decision is table-testable.
//
// Sequences join and leave between steps. Each step puts decode tokens first
// (one token each), then prefill chunks of admitted sequences (oldest first)
// until the token budget is spent. KV storage is counted in the ranks' own
// units: a sequence holding positions [0, n) holds ceil(n / block_size)
// blocks, and a step's `release` list is applied on every rank before its
// chunks run (StageRunner::RunStep). The scheduler commits a sequence's whole
// prompt at admission and one more block whenever a decode crosses a block
// boundary, so the blocks it counts are never fewer than any rank holds: a
// step it builds never finds a rank's cache full.
//
// When a decode needs a block and none is free, the most recently admitted
// sequence that is not in flight is preempted: its KV is released and it goes
// back to the front of the queue with its prompt plus every token generated
// so far, which it re-prefills when readmitted. Draws are keyed by (seed,
// position), so the recompute samples what the first run would have; tokens
// already reported are never reported again.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "proto/group_step.pb.h"
#include "proto/worker_api.pb.h"

namespace tessera {

struct SchedulerLimits {
  int max_sequences = 64;        // sequences admitted at once (prefilling or decoding)
  int64_t max_batch_tokens = 512;  // tokens per step, decode and prefill together
  int64_t prefill_chunk = 256;   // prompt tokens of one sequence per step
  int64_t block_size = 16;       // positions per KV block (the KvCache's)
  int64_t kv_blocks = 0;         // blocks of every rank's KV cache
  int max_in_flight = 1;         // steps in flight at once (the pipeline depth)
};

absl::Status ValidateSchedulerLimits(const SchedulerLimits& limits);

class BatchScheduler {
 public:
  // `eos`: the token that ends a sequence started with stop_at_eos; -1: none.
  // The limits must pass ValidateSchedulerLimits (CHECKed).
  BatchScheduler(const SchedulerLimits& limits, int32_t eos);

  // Queues a sequence (first come, first served). InvalidArgument for an id
  // already known, no tokens, max_new_tokens < 1, bad sampling values, or a
  // sequence whose positions could not fit the whole cache even alone.
  absl::Status Add(const proto::StartSequence& start);

  // Stops a sequence: a waiting one leaves the queue, a running one leaves
  // the batch (a token of it still in flight is discarded) and its KV goes
  // into the next step's `release`. Returns its final update {done,
  // FINISH_CANCELLED}; nullopt for an id that is not running or waiting
  // (finished already, or never added).
  std::optional<proto::SequenceUpdate> Cancel(uint64_t seq);

  // The next step to submit, or nullopt when there is nothing to run or
  // release, or max_in_flight steps are already out. A step may hold only
  // releases, so freed KV is freed on every rank promptly. The step id is
  // left for GroupLeader::Submit to assign.
  std::optional<proto::GroupStep> NextStep();

  // The answer to the oldest step NextStep returned (GroupLeader::Collect
  // answers in submission order). Returns an update for every sequence that
  // got a token or finished. A refused step (`error` set) preempts its
  // sequences when the code is ResourceExhausted (they run again later) and
  // otherwise ends them with ERROR_INTERNAL and the group's message.
  std::vector<proto::SequenceUpdate> OnResult(const proto::StepResult& result);

  int running() const { return running_; }           // admitted: prefilling or decoding
  int waiting() const { return static_cast<int>(queue_.size()); }
  int64_t free_blocks() const { return limits_.kv_blocks - used_blocks_; }
  int64_t preemptions() const { return preemptions_; }
  int in_flight() const { return static_cast<int>(in_flight_.size()); }
  // Nothing queued, running, in flight or waiting to be released.
  bool idle() const { return seqs_.empty() && in_flight_.empty() && release_.empty(); }
  const SchedulerLimits& limits() const { return limits_; }

 private:
  enum class State { kWaiting, kRunning, kCancelled };
  struct Sequence {
    uint64_t id = 0;
    std::vector<int32_t> tokens;  // prompt, then every token generated
    int64_t prompt_size = 0;      // of the original prompt
    int64_t max_new_tokens = 0;
    proto::Sampling sampling;
    bool stop_at_eos = false;
    State state = State::kWaiting;
    int64_t prefill_end = 0;      // positions to prefill before decoding: all tokens known at admission
    int64_t fed = 0;              // positions sent through the group (written or in flight)
    int64_t blocks = 0;           // blocks committed to it
    bool in_flight = false;
  };
  struct ChunkRecord {
    uint64_t seq = 0;
    bool want_logits = false;
  };

  int64_t BlocksFor(int64_t positions) const {
    return (positions + limits_.block_size - 1) / limits_.block_size;
  }
  int64_t generated(const Sequence& s) const {
    return static_cast<int64_t>(s.tokens.size()) - s.prompt_size;
  }
  bool decoding(const Sequence& s) const { return s.state == State::kRunning && s.fed >= s.prefill_end; }
  // Gives the sequence's blocks back and lists it for release on the ranks.
  void ReleaseKv(Sequence& s);
  // Back to the front of the queue, to re-prefill everything it has.
  void Preempt(Sequence& s);
  // Removes a sequence that will get no more updates.
  void Forget(uint64_t seq);
  // The most recently admitted running sequence not in flight, or nullptr.
  Sequence* PreemptionVictim();
  void AddChunk(proto::GroupStep& step, Sequence& s, int64_t len, std::vector<ChunkRecord>& record);

  SchedulerLimits limits_;
  int32_t eos_;
  absl::flat_hash_map<uint64_t, Sequence> seqs_;
  std::deque<uint64_t> queue_;       // waiting, in admission order
  std::vector<uint64_t> admitted_;   // running, in admission order (the newest last)
  std::vector<int64_t> release_;     // for the next step
  std::deque<std::vector<ChunkRecord>> in_flight_;  // per step out, oldest first
  int running_ = 0;
  int64_t used_blocks_ = 0;
  int64_t preemptions_ = 0;
};

}  // namespace tessera
