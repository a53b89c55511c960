#include "auth/curve_keys.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "zmq.h"

namespace tessera::auth {

bool CurveAvailable() { return zmq_has("curve") != 0; }

absl::Status CheckCurveAvailable() {
  if (CurveAvailable()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "this libzmq was built without CURVE (libsodium), so authentication cannot be used; install a libzmq with "
      "CURVE (Debian's libzmq5 has it)");
}

absl::Status CheckZ85Key(absl::string_view key, absl::string_view what) {
  if (key.size() != kZ85KeyLength) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a CURVE key is ", kZ85KeyLength,
                                                   " characters of Z85, not ", key.size()));
  }
  // zmq_z85_decode rejects characters outside the alphabet and 5-character
  // groups past 2^32; it needs a terminated string.
  const std::string text(key);
  uint8_t binary[kBinaryKeyLength];
  if (zmq_z85_decode(binary, text.c_str()) == nullptr) {
    // The text is not echoed: it may be a secret key.
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not a Z85 key (characters outside the Z85 alphabet, or a group out of range)"));
  }
  return absl::OkStatus();
}

std::string Z85ToBinary(absl::string_view z85) {
  const std::string text(z85);
  uint8_t binary[kBinaryKeyLength] = {};
  if (z85.size() != kZ85KeyLength || zmq_z85_decode(binary, text.c_str()) == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(binary), kBinaryKeyLength);
}

std::string BinaryToZ85(absl::string_view binary) {
  if (binary.size() != kBinaryKeyLength) return std::string();
  char text[kZ85KeyLength + 1];
  if (zmq_z85_encode(text, reinterpret_cast<const uint8_t*>(binary.data()), binary.size()) == nullptr) {
    return std::string();
  }
  return std::string(text, kZ85KeyLength);
}

absl::StatusOr<CurveKeyPair> GenerateKeyPair() {
  if (auto st = CheckCurveAvailable(); !st.ok()) return st;
  char public_key[kZ85KeyLength + 1];
  char secret_key[kZ85KeyLength + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return absl::InternalError(absl::StrCat("zmq_curve_keypair: ", zmq_strerror(zmq_errno())));
  }
  return CurveKeyPair{std::string(public_key, kZ85KeyLength), std::string(secret_key, kZ85KeyLength)};
}

absl::StatusOr<std::string> PublicKeyOf(absl::string_view secret_key) {
  if (auto st = CheckCurveAvailable(); !st.ok()) return st;
  if (auto st = CheckZ85Key(secret_key, "secret key"); !st.ok()) return st;
  const std::string secret(secret_key);
  char public_key[kZ85KeyLength + 1];
  if (zmq_curve_public(public_key, secret.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("zmq_curve_public: ", zmq_strerror(zmq_errno())));
  }
  return std::string(public_key, kZ85KeyLength);
}

absl::Status CheckClientKeys(const CurveClientKeys& keys) {
  if (!keys.enabled()) return absl::OkStatus();
  if (keys.server_key.empty() || keys.client.public_key.empty() || keys.client.secret_key.empty()) {
    return absl::InvalidArgumentError(
        "CURVE needs both the coordinator's public key (--server-key) and this client's key pair (--key); "
        "give both or neither");
  }
  if (auto st = CheckCurveAvailable(); !st.ok()) return st;
  if (auto st = CheckZ85Key(keys.server_key, "the coordinator's public key"); !st.ok()) return st;
  if (auto st = CheckZ85Key(keys.client.public_key, "the client's public key"); !st.ok()) return st;
  auto derived = PublicKeyOf(keys.client.secret_key);
  if (!derived.ok()) return derived.status();
  if (*derived != keys.client.public_key) {
    return absl::InvalidArgumentError("the client's public key does not belong to its secret key");
  }
  return absl::OkStatus();
}

}  // namespace tessera::auth
