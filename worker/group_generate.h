// Generation for several sequences through a group leader: prompts are
// prefilled in chunks, then each sequence decodes one token a step. Ready
// sequences are spread over up to pp steps in flight, so a pipeline's stages
// work on different sequences at once. Standalone runs and benchmarks use
// it; a group serving a coordinator batches with BatchScheduler
// (worker/batch_scheduler.h) instead.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/group_leader.h"
#include "worker/sampler.h"

namespace tessera {

struct GroupRequest {
  int64_t seq_id = 0;
  std::vector<int32_t> prompt;
  int64_t max_tokens = 32;
  SamplingParams sampling;
};

struct GroupOutput {
  std::vector<int32_t> tokens;
  bool stopped_at_eos = false;
  double first_token_seconds = 0.0;  // from the start of the run
  double seconds = 0.0;              // until the last token
};

struct GroupGenerateOptions {
  int64_t prefill_chunk = 512;
  int32_t eos = -1;          // -1: never stop early
  int max_in_flight = 0;     // 0: the pipeline depth
  bool gather_logits = false;
  bool reset_stats = false;  // every rank zeroes its counters at the first step (benchmarks)
  // (request index, the position the sampled token takes, full logits)
  std::function<void(size_t, int64_t, std::span<const float>)> on_logits;
  std::function<void(size_t, int32_t)> on_token;
};

// Runs every request to completion and releases their KV on every rank. A
// request or step the group refuses ends the run with that error (one of
// IsStepRefusal's codes: ResourceExhausted for a full KV cache, ...); the
// group stays usable. Any other error is a communication failure, and the
// group is broken.
absl::StatusOr<std::vector<GroupOutput>> GenerateOnGroup(GroupLeader& leader, std::span<const GroupRequest> requests,
                                                         const GroupGenerateOptions& options);

}  // namespace tessera
