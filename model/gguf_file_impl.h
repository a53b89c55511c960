// The parsed state of a GgufFile, shared by the parser (gguf_parse.cc), the
// metadata getters (gguf_metadata.cc) and the file itself (gguf_file.cc).
// Internal to model/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "model/gguf_file.h"

namespace tessera {

// One metadata value. Numeric scalars and numeric array elements stay in the
// file's bytes and are decoded on access (they may be unaligned); strings are
// views into the same bytes.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  const uint8_t* raw = nullptr;  // scalar: its bytes; array: the first element
  std::string_view str;          // kString
  // Arrays only.
  GgufType elem_type = GgufType::kUint8;
  uint64_t count = 0;
  std::vector<std::string_view> strings;  // elements of a string array
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

// Bytes of one scalar of `t`; 0 for strings and arrays, whose size varies.
uint64_t GgufScalarSize(GgufType t);
bool GgufIsInteger(GgufType t);

struct GgufFile::Impl {
  ~Impl();

  std::string path;
  std::vector<uint8_t> owned;  // FromBytes
  void* map = nullptr;         // Open: the mmap'ed file, released in ~Impl
  uint64_t map_size = 0;
  const uint8_t* data = nullptr;
  uint64_t size = 0;

  uint32_t version = 0;
  uint32_t alignment = 32;
  uint64_t data_offset = 0;  // start of the tensor data section

  std::vector<GgufKv> kvs;
  absl::flat_hash_map<std::string, size_t> kv_index;
  std::vector<GgufTensorInfo> tensors;
  absl::flat_hash_map<std::string, size_t> tensor_index;

  const GgufKv* FindKv(std::string_view key) const {
    auto it = kv_index.find(absl::string_view(key.data(), key.size()));
    return it == kv_index.end() ? nullptr : &kvs[it->second];
  }
};

// Parses and validates data[0, size) into `impl` (its data/size must be set).
absl::Status ParseGguf(GgufFile::Impl& impl);

}  // namespace tessera
