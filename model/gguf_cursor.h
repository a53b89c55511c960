// A bounds-checked little-endian reader over an immutable byte range, used by
// the GGUF parser. Every read checks the remaining length first, so no read can
// run past the end however corrupt the counts and lengths in the file are.
// Internal to model/.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; the reader copies values without swapping");

// Status plumbing for the GGUF parser (absl 20220623 has no public macros).
#define TESSERA_GGUF_CONCAT_INNER(a, b) a##b
#define TESSERA_GGUF_CONCAT(a, b) TESSERA_GGUF_CONCAT_INNER(a, b)
#define TESSERA_GGUF_RETURN_IF_ERROR(expr)  \
  do {                                      \
    const absl::Status _st = (expr);        \
    if (!_st.ok()) return _st;              \
  } while (0)
#define TESSERA_GGUF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                       \
  if (!tmp.ok()) return tmp.status();                      \
  lhs = std::move(*tmp)
#define TESSERA_GGUF_ASSIGN_OR_RETURN(lhs, expr) \
  TESSERA_GGUF_ASSIGN_OR_RETURN_IMPL(TESSERA_GGUF_CONCAT(_gguf_or_, __LINE__), lhs, expr)

namespace tessera {

class ByteCursor {
 public:
  ByteCursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - pos_; }
  const uint8_t* here() const { return data_ + pos_; }

  // DataLoss naming `what` when fewer than `n` bytes remain.
  absl::Status Need(uint64_t n, std::string_view what) const {
    if (n <= remaining()) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(std::string(what), ": needs ", n, " bytes at offset ",
                                            pos_, " but the file ends at ", size_,
                                            " (truncated file)"));
  }

  absl::Status Skip(uint64_t n, std::string_view what) {
    TESSERA_GGUF_RETURN_IF_ERROR(Need(n, what));
    pos_ += n;
    return absl::OkStatus();
  }

  template <typename T>
  absl::StatusOr<T> Read(std::string_view what) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
    TESSERA_GGUF_RETURN_IF_ERROR(Need(sizeof(T), what));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // A gguf_string: uint64 length then that many bytes (no terminator). The view
  // points into the underlying bytes.
  absl::StatusOr<std::string_view> ReadString(std::string_view what) {
    return ReadStringWith([what] { return std::string(what); });
  }
  // As ReadString, but builds the error label only on failure (for loops over
  // the strings of a vocabulary).
  template <typename LabelFn>
  absl::StatusOr<std::string_view> ReadStringWith(const LabelFn& label) {
    if (remaining() < 8) return Need(8, label());
    uint64_t len;
    std::memcpy(&len, data_ + pos_, 8);
    if (len > remaining() - 8) {
      return absl::DataLossError(absl::StrCat(label(), ": string length ", len, " at offset ", pos_,
                                              " runs past the end of the file (", size_, " bytes)"));
    }
    pos_ += 8;
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace tessera
