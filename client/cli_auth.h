// --server-key and --key: CURVE for the subcommands that talk to a
// coordinator (generate --coordinator, submit, status, admin).
//
//   AuthFlags auth;                        // lives as long as the app
//   AddAuthFlags(*cmd, auth);
//   ... after parsing:
//   auto keys = ResolveAuthFlags(auth);    // -> ClientOptions::curve
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "auth/curve_keys.h"

namespace tessera::cli {

struct AuthFlags {
  std::string server_key;  // a public key file or the Z85 key (TESSERA_SERVER_KEY)
  std::string key;         // this client's secret key file (TESSERA_KEY)
};

// Registers both flags on `cmd`, with the environment variables as defaults.
void AddAuthFlags(CLI::App& cmd, AuthFlags& flags);

// The keys the flags name (files read, keys checked), or empty keys when
// neither is given. InvalidArgument (exit code 2) for one without the other
// or a bad file, naming the flag.
absl::StatusOr<auth::CurveClientKeys> ResolveAuthFlags(const AuthFlags& flags);

// What to add to a "no answer" error: a refused key looks like silence.
inline constexpr char kNoAnswerHint[] = " (if the coordinator uses CURVE, check --server-key/--key)";

}  // namespace tessera::cli
