// One accepted generate request while it is queued or running: who gets its
// answers, what to run, what came back so far, and its clock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/admission_queue.h"
#include "model/tokenizer.h"
#include "proto/client_api.pb.h"

namespace tessera {

struct Request {
  Request(uint64_t key, const Tokenizer& tokenizer) : key(key), decoder(tokenizer) {}

  enum class State { kQueued, kRunning, kFinished };

  uint64_t key;         // coordinator-internal, unique
  std::string id;       // the client's request id
  // Where answers go: the newest sender of this id.
  std::string owner;
  bool owner_delimiter = false;
  bool owner_gone = false;  // a send failed: the client vanished or stopped reading
  bool stream = false;

  std::vector<int32_t> prompt;
  int32_t max_tokens = 0;
  proto::SamplingOptions sampling;
  bool stop_at_eos = true;
  uint64_t fingerprint = 0;   // RequestFingerprint: a repeat of the id must match it

  State state = State::kQueued;
  uint64_t seq = 0;           // of the current run (a continuation gets a new one)
  std::string group_name;     // of the current or last run
  bool cancel_requested = false;  // CancelSequence sent to the group, done not yet seen
  bool cancelled_by_client = false;
  bool eos = false;           // the group reported end-of-sequence

  std::vector<int32_t> tokens;  // generated so far, each once
  std::string text;             // decoded text of `tokens`, minus bytes of an unfinished character
  StreamDecoder decoder;

  SteadyTime accepted{};
  SteadyTime started{};       // a group first took it (epoch of the clock: never)
  SteadyTime first_token{};
  SteadyTime last_token{};

  int32_t remaining() const { return max_tokens - static_cast<int32_t>(tokens.size()); }
  // Cancelled on its group only because its client vanished, and a repeat
  // of its id came back before the group finished: it goes on elsewhere as a
  // continuation instead of ending cancelled.
  bool resumable() const { return cancel_requested && !cancelled_by_client && !owner_gone; }
};

}  // namespace tessera
