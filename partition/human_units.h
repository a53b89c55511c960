// Byte counts for people: "1.20 GiB", "3.50 MiB", "512 bytes". Internal to
// partition/ (error messages and the plan table).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"

namespace tessera {

inline std::string HumanBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  const int64_t mag = bytes < 0 ? -bytes : bytes;
  if (mag >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", b / (1 << 30));
  if (mag >= (int64_t{1} << 20)) return absl::StrFormat("%.2f MiB", b / (1 << 20));
  if (mag >= (int64_t{1} << 10)) return absl::StrFormat("%.2f KiB", b / (1 << 10));
  return absl::StrFormat("%d bytes", bytes);
}

}  // namespace tessera
