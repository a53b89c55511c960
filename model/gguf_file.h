// A GGUF v3 file read over mmap (or from an owned byte buffer). Open() checks
// every count, offset, dimension, type, string length and alignment against the
// file size and for overflow before use; a bad file is an error Status naming
// the key or tensor at fault.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/dtype.h"
#include "model/matrix_view.h"

namespace tessera {

// GGUF metadata value types (the specification's gguf_metadata_value_type).
enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
  kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11,
  kFloat64 = 12,
};
std::string_view GgufTypeName(GgufType t);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ne0 first (the contiguous dimension)
  DType type = DType::kF32;
  uint64_t offset = 0;        // from the start of the tensor data section
  int64_t n_elements = 0;
  int64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // inside the mapping, valid while the file lives
};

class GgufFile {
 public:
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses an in-memory image (tests, fuzzing); the file keeps the bytes.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBytes(std::vector<uint8_t> bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const;
  uint32_t alignment() const;
  const std::string& path() const;  // "" for FromBytes

  // Tells the kernel this process is done with the mapped bytes [p, p + n)
  // (a rank that copied the slice it needs out of a tensor): their pages
  // leave the resident set and fault back in from the file if read again.
  // A no-op for FromBytes files and for ranges outside the mapping.
  void ReleasePages(const void* p, size_t n) const;

  // Metadata access. Each returns NotFound for a missing key and
  // InvalidArgument naming the key when its type does not fit.
  bool Has(std::string_view key) const;
  absl::StatusOr<GgufType> TypeOf(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;     // any integer type, value >= 0
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;       // any integer type that fits
  absl::StatusOr<double> GetFloat(std::string_view key) const;      // float32/float64 (integers too)
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::string_view> GetString(std::string_view key) const;
  // Array accessors check the element type.
  absl::StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;   // float32 elements
  absl::StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;   // any integer elements
  std::vector<std::string> Keys() const;  // in file order

  const std::vector<GgufTensorInfo>& tensors() const;
  const GgufTensorInfo* FindTensor(std::string_view name) const;
  // A 2-D tensor as a matrix (1-D tensors are one row); error if the tensor is
  // missing or has more than two non-unit dimensions.
  absl::StatusOr<MatrixView> Matrix(std::string_view name) const;

  struct Impl;

 private:
  explicit GgufFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
