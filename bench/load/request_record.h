// What the load generator saw of one request, in seconds on one steady clock
// shared by the whole run. Plain data: the statistics are pure functions of
// these records.
#pragma once

#include <string>
#include <vector>

namespace tessera::bench {

struct ChunkArrival {
  double t = 0;    // when the chunk was received
  int tokens = 0;  // tokens it carried
};

struct RequestRecord {
  std::string request_id;
  int prompt_len = 0;  // as sent
  int max_tokens = 0;  // as sent
  double due = 0;      // when it was due to be sent (open loop), else == submit
  double submit = 0;
  std::vector<ChunkArrival> chunks;
  double finish = -1;  // result, error or timeout; < 0: never finished
  bool ok = false;     // ended with a result
  // Empty when ok; else the error code's name (BUSY, UNAVAILABLE, ...) or
  // the load generator's own: SEND (Submit failed), TIMEOUT (no reply for
  // --timeout), NOT_SENT (not sent after a TIMEOUT), CLIENT (the socket
  // failed).
  std::string error;
  std::string error_message;
  std::string finish_reason;   // LENGTH, EOS, CANCELLED
  int prompt_tokens = 0;       // usage, as the coordinator counted
  int completion_tokens = 0;   // usage (or the result's tokens, if more)
  std::string group;
  bool from_record = false;  // answered from an earlier run of its id: its timings are not this run's
  bool has_server_timings = false;
  double server_queue_ms = 0, server_ttft_ms = 0, server_tpot_ms = 0, server_total_ms = 0;
};

}  // namespace tessera::bench
