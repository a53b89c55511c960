// Writes GGUF v3 files: metadata in insertion order, then tensor infos, then
// aligned tensor data. Deterministic: the same calls give the same bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/dtype.h"

namespace tessera {

class GgufWriter {
 public:
  GgufWriter();
  ~GgufWriter();

  // Setting a key twice replaces its value (keeping its first position).
  void SetUint32(std::string_view key, uint32_t v);
  void SetInt32(std::string_view key, int32_t v);
  void SetUint64(std::string_view key, uint64_t v);
  void SetFloat32(std::string_view key, float v);
  void SetBool(std::string_view key, bool v);
  void SetString(std::string_view key, std::string_view v);
  void SetStringArray(std::string_view key, const std::vector<std::string>& v);
  void SetFloat32Array(std::string_view key, const std::vector<float>& v);
  void SetInt32Array(std::string_view key, const std::vector<int32_t>& v);
  // general.alignment (default 32), written as a uint32 key.
  void SetAlignment(uint32_t alignment);

  // dims: ne0 first. `data` must hold exactly the tensor's encoded bytes.
  absl::Status AddTensor(std::string_view name, std::vector<int64_t> dims, DType type,
                         std::vector<uint8_t> data);

  absl::StatusOr<std::vector<uint8_t>> Serialize() const;
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
