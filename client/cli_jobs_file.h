// The JSON-lines files of `tessera submit`: one request per input line, one
// result per output line (docs/PROTOCOL.md, "Batch files").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/client_api.pb.h"

namespace tessera::cli {

// Values for fields a line leaves out (the command's flags).
struct JobDefaults {
  int64_t max_tokens = 64;
  float temperature = 0.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool ignore_eos = false;
};

struct JobLine {
  std::string id;  // the line's "id", else "<default_id>"; set even for a bad line
  absl::StatusOr<proto::GenerateRequest> request = absl::UnknownError("not parsed");
};

// The id of a line without one: "<stem>-<line number>-<8 hex digits of a
// hash of the line's bytes>" (FNV-1a, 32 bits, of the line without its line
// ending). Running a job again gives its unchanged lines the same ids (the
// coordinator answers them from its record), while an edited line is a new
// request. The stem is cut so the id stays within the 128 bytes allowed.
std::string DefaultJobId(const std::string& stem, int line_number, std::string_view line);

// One input line: {"id"?: str, "prompt": str | "prompt_tokens": [int],
// "max_tokens"?, "temperature"?, "top_k"?, "top_p"?, "seed"?,
// "ignore_eos"?}. Unknown fields, wrong types and bad sampling values are
// InvalidArgument. The request streams (so a long run shows progress).
JobLine ParseJobLine(const std::string& line, const std::string& default_id, const JobDefaults& defaults);

// Output lines (no trailing newline).
std::string ResultLine(const std::string& id, const proto::GenerateResult& result);
std::string ErrorLine(const std::string& id, const absl::Status& status);

}  // namespace tessera::cli
