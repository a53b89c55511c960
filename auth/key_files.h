// Key files, as `tessera keygen --out DIR/NAME` writes them:
//
//   NAME.key_secret  (mode 0600)         NAME.key  (share it)
//     # tessera CURVE key pair ...          <public key, Z85>
//     public-key <Z85>
//     secret-key <Z85>
//
// A secret key file proves an identity: the coordinator's (--curve-key) or
// a client's (--key). A public key file, or the key itself, names whom to
// trust: the coordinator's for a client (--server-key), clients' and
// admins' in the coordinator's key lists (key_list.h).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/curve_keys.h"

namespace tessera::auth {

// The files' contents.
std::string FormatSecretKeyFile(const CurveKeyPair& keys);
std::string FormatPublicKeyFile(const CurveKeyPair& keys);

// A secret key file's text. '#' comments and blank lines are ignored;
// "secret-key" is required, "public-key" optional but, when present, must
// belong to the secret key. Errors name `name`:LINE and never echo a key.
absl::StatusOr<CurveKeyPair> ParseSecretKeyFile(absl::string_view text, absl::string_view name);
absl::StatusOr<CurveKeyPair> ReadSecretKeyFile(const std::string& path);

// A public key file's text: one key (optionally followed by a label) on the
// only line that is not blank or a comment. A secret key file is refused
// with a hint: its secret must not travel to whoever needs the public key.
absl::StatusOr<std::string> ParsePublicKeyFile(absl::string_view text, absl::string_view name);
// `file_or_key`: a public key file's path, or the Z85 key itself (a file of
// that name wins).
absl::StatusOr<std::string> ReadPublicKey(const std::string& file_or_key);

// A client's CURVE keys from what its flags say: `server_key` (--server-key:
// the coordinator's public key file, or the key) and `secret_key_file`
// (--key: the client's NAME.key_secret). Both empty: no CURVE (empty keys).
// InvalidArgument naming the flag for one without the other or a bad file.
absl::StatusOr<CurveClientKeys> LoadClientKeys(const std::string& server_key, const std::string& secret_key_file);

// The whole file, or an error naming it (missing, unreadable, a directory,
// larger than `max_bytes`).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = size_t{64} << 20);

struct KeygenResult {
  std::string secret_path;  // OUT.key_secret
  std::string public_path;  // OUT.key
  CurveKeyPair keys;
};
// `tessera keygen --out OUT`: a fresh key pair written to OUT.key_secret
// (mode 0600 from its creation) and OUT.key. Refuses to replace either file
// unless `force`; with `force` each is replaced atomically (a reader sees
// the old file or the new one).
absl::StatusOr<KeygenResult> WriteNewKeyPair(const std::string& out, bool force);

}  // namespace tessera::auth
