// `tessera generate`'s arguments, shared by its two forms: on this machine
// (--model, cli_generate.cc) and on a cluster (--coordinator,
// cli_generate_remote.cc). Both print the prompt, the text as it arrives,
// a newline, then one line of figures.
#pragma once

#include <cstdint>
#include <string>

#include "client/cli_auth.h"

namespace tessera::cli {

struct GenerateArgs {
  std::string model;        // the local form ...
  std::string coordinator;  // ... or the cluster form: exactly one is set
  std::string prompt;
  int64_t n = 64;
  float temp = 0.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool ignore_eos = false;
  // Local form only.
  int threads = 0;
  std::string isa;
  std::string device = "cpu";
  // Cluster form only.
  bool no_stream = false;
  std::string request_id;  // empty: a fresh random one
  int64_t timeout_ms = 60000;
  AuthFlags auth;  // CURVE keys
};

// The cluster form; returns the exit code (0 ok, 1 failed, 2 refused as
// invalid, 130 interrupted).
int RunRemoteGenerate(const GenerateArgs& args);

}  // namespace tessera::cli
