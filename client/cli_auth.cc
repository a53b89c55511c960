#include "client/cli_auth.h"

#include "auth/key_files.h"

namespace tessera::cli {

void AddAuthFlags(CLI::App& cmd, AuthFlags& flags) {
  cmd.add_option("--server-key", flags.server_key,
                 "The coordinator's public key, for one started with --curve-key: its NAME.key file or the "
                 "40-character Z85 key (quote it); needs --key")
      ->envname("TESSERA_SERVER_KEY");
  cmd.add_option("--key", flags.key,
                 "This client's secret key file (NAME.key_secret from `tessera keygen`), whose public key the "
                 "coordinator lists; needs --server-key")
      ->envname("TESSERA_KEY");
}

absl::StatusOr<auth::CurveClientKeys> ResolveAuthFlags(const AuthFlags& flags) {
  return auth::LoadClientKeys(flags.server_key, flags.key);
}

}  // namespace tessera::cli
