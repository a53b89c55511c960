#include "model/dtype.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "absl/strings/str_cat.h"

namespace tessera {

int64_t BlockElems(DType t) {
  switch (t) {
    case DType::kQ4_0:
    case DType::kQ8_0:
      return 32;
    default:
      return 1;
  }
}

int64_t BlockBytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kQ4_0: return 18;  // f16 scale + 16 bytes of nibbles
    case DType::kQ8_0: return 34;  // f16 scale + 32 int8
  }
  return 0;
}

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kQ4_0: return "q4_0";
    case DType::kQ8_0: return "q8_0";
  }
  return "?";
}

absl::StatusOr<DType> DTypeFromGgml(uint32_t ggml_type) {
  switch (ggml_type) {
    case 0: return DType::kF32;
    case 1: return DType::kF16;
    case 2: return DType::kQ4_0;
    case 8: return DType::kQ8_0;
    case 30: return DType::kBF16;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "unsupported tensor type id ", ggml_type,
          " (tessera reads F32=0, F16=1, Q4_0=2, Q8_0=8, BF16=30)"));
  }
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    if (s == DTypeName(t)) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown tensor type '", std::string(name), "' (expected f32, f16, bf16, q8_0 or q4_0)"));
}

absl::StatusOr<int64_t> RowBytes(DType t, int64_t n) {
  const int64_t be = BlockElems(t);
  if (n < 0 || n % be != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row of ", n, " elements is not a whole number of ", std::string(DTypeName(t)), " blocks of ", be));
  }
  const int64_t blocks = n / be;
  int64_t bytes = 0;
  if (__builtin_mul_overflow(blocks, BlockBytes(t), &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("row of ", n, " ", std::string(DTypeName(t)),
                                                   " elements overflows a 64-bit size"));
  }
  return bytes;
}

}  // namespace tessera
