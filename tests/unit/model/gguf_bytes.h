// Test helper: builds raw GGUF bytes field by field, so tests can write both
// well-formed files (independently of GgufWriter) and files broken in exactly
// one place.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::gguf_test {

// GGUF value type ids, spelled out here (not taken from gguf_file.h) so the
// tests check the reader against the specification's numbers.
enum : uint32_t {
  kTU8 = 0, kTI8 = 1, kTU16 = 2, kTI16 = 3, kTU32 = 4, kTI32 = 5, kTF32 = 6,
  kTBool = 7, kTString = 8, kTArray = 9, kTU64 = 10, kTI64 = 11, kTF64 = 12,
};
// GGML tensor type ids.
enum : uint32_t { kGF32 = 0, kGF16 = 1, kGQ4_0 = 2, kGQ8_0 = 8, kGBF16 = 30 };

class GgufBytes {
 public:
  template <typename T>
  GgufBytes& Put(T v) {
    const size_t at = b_.size();
    b_.resize(at + sizeof(T));
    std::memcpy(b_.data() + at, &v, sizeof(T));
    return *this;
  }
  GgufBytes& U8(uint8_t v) { return Put(v); }
  GgufBytes& U32(uint32_t v) { return Put(v); }
  GgufBytes& U64(uint64_t v) { return Put(v); }
  GgufBytes& Raw(std::string_view s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  GgufBytes& Str(std::string_view s) { return U64(s.size()).Raw(s); }
  GgufBytes& Zeros(size_t n) {
    b_.resize(b_.size() + n, 0);
    return *this;
  }
  GgufBytes& PadTo(uint64_t alignment) {
    b_.resize((b_.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }

  GgufBytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Raw("GGUF").U32(version).U64(n_tensors).U64(n_kv);
  }
  GgufBytes& KeyType(std::string_view key, uint32_t type) { return Str(key).U32(type); }
  GgufBytes& KvU32(std::string_view key, uint32_t v) { return KeyType(key, kTU32).U32(v); }
  GgufBytes& KvF32(std::string_view key, float v) { return KeyType(key, kTF32).Put(v); }
  GgufBytes& KvString(std::string_view key, std::string_view v) { return KeyType(key, kTString).Str(v); }
  template <typename T>
  GgufBytes& KvArray(std::string_view key, uint32_t elem_type, std::initializer_list<T> v) {
    KeyType(key, kTArray).U32(elem_type).U64(v.size());
    for (T e : v) Put(e);
    return *this;
  }
  GgufBytes& TensorInfo(std::string_view name, std::initializer_list<uint64_t> dims, uint32_t type,
                        uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }

  size_t size() const { return b_.size(); }
  const std::vector<uint8_t>& bytes() const { return b_; }
  std::vector<uint8_t> Take() { return std::move(b_); }

 private:
  std::vector<uint8_t> b_;
};

}  // namespace tessera::gguf_test
