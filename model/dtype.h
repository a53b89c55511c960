// Tensor element types tessera reads and writes, with the GGML type ids and
// block layouts of the GGUF specification.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace tessera {

// Values are the GGML type ids stored in GGUF tensor infos.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kBF16 = 30,
};

// Elements per block (1 for plain float types) and bytes per block.
int64_t BlockElems(DType t);
int64_t BlockBytes(DType t);
std::string_view DTypeName(DType t);

// Maps a GGML type id to a DType tessera supports, or an error naming the id.
absl::StatusOr<DType> DTypeFromGgml(uint32_t ggml_type);
// Parses "f32", "f16", "bf16", "q8_0", "q4_0" (case-insensitive).
absl::StatusOr<DType> ParseDType(std::string_view name);

// Bytes of a row of `n` elements; an error when n is not a whole number of
// blocks or the size overflows int64.
absl::StatusOr<int64_t> RowBytes(DType t, int64_t n);

}  // namespace tessera
