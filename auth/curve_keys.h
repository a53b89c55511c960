// CURVE keys as the rest of tessera handles them: Z85 text (40 characters
// for 32 bytes), the form key files, key lists and ZeroMQ's socket options
// take.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::auth {

inline constexpr size_t kZ85KeyLength = 40;
inline constexpr size_t kBinaryKeyLength = 32;

// One identity: a public key and the secret key it belongs to, both Z85.
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

// What a client needs to talk CURVE to a coordinator: the coordinator's
// public key and the client's own key pair. All empty: plain TCP.
struct CurveClientKeys {
  std::string server_key;
  CurveKeyPair client;
  bool enabled() const { return !server_key.empty() || !client.public_key.empty() || !client.secret_key.empty(); }
};

// True when libzmq was built with CURVE (libsodium).
bool CurveAvailable();
// FailedPrecondition naming the missing piece unless CurveAvailable().
absl::Status CheckCurveAvailable();

// OK when `key` is 40 characters of Z85 that decode to 32 bytes; otherwise
// InvalidArgument saying what `what` (e.g. "--server-key") is wrong with.
absl::Status CheckZ85Key(absl::string_view key, absl::string_view what);

// Z85 <-> the 32 raw bytes ZAP hands over. The key must be valid.
std::string Z85ToBinary(absl::string_view z85);
std::string BinaryToZ85(absl::string_view binary);

// A fresh key pair from libsodium's random source.
absl::StatusOr<CurveKeyPair> GenerateKeyPair();
// The public key that belongs to `secret_key` (Z85 in and out).
absl::StatusOr<std::string> PublicKeyOf(absl::string_view secret_key);

// OK when the client keys are all empty, or all set, valid, and the
// client's public key belongs to its secret key.
absl::Status CheckClientKeys(const CurveClientKeys& keys);

}  // namespace tessera::auth
