// NewRequestId and ErrorToStatus: the small free functions of client.h.
#include <cstdint>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/lib/client.h"

namespace tessera {

std::string NewRequestId() {
  // random_device draws from the OS, so two clients started in the same
  // microsecond still pick different ids; 128 bits make collisions moot.
  std::random_device device;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (int word = 0; word < 4; ++word) {
    uint32_t bits = device();
    for (int i = 0; i < 8; ++i, bits >>= 4) id.push_back(kHex[bits & 0xf]);
  }
  return id;
}

absl::Status ErrorToStatus(const proto::Error& error) {
  std::string message = error.message();
  if (message.empty()) message = proto::ErrorCode_Name(error.code());
  if (message.empty()) message = absl::StrCat("error code ", static_cast<int>(error.code()));
  switch (error.code()) {
    case proto::ERROR_BUSY:
      return absl::ResourceExhaustedError(message);
    case proto::ERROR_UNAVAILABLE:
      return absl::UnavailableError(message);
    case proto::ERROR_INVALID_ARGUMENT:
    case proto::ERROR_MALFORMED:
    case proto::ERROR_UNSUPPORTED_VERSION:
      return absl::InvalidArgumentError(message);
    case proto::ERROR_CANCELLED:
      return absl::CancelledError(message);
    case proto::ERROR_NOT_FOUND:
      return absl::NotFoundError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace tessera
