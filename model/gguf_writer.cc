// GgufWriter: builds a GGUF v3 image in memory. Metadata keeps insertion
// order; tensors are laid out in insertion order, each at the next multiple of
// the alignment, and every tensor's data (the last included) is zero-padded to
// the alignment as llama.cpp does, so equal inputs give equal bytes.

#include "model/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/gguf_file.h"

namespace tessera {

namespace {

constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxAlignment = 1u << 16;  // the reader refuses more
constexpr std::string_view kAlignmentKey = "general.alignment";

class Bytes {
 public:
  explicit Bytes(std::vector<uint8_t>& out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    Append(&v, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    Append(s.data(), s.size());
  }
  void Append(const void* p, size_t n) {
    if (n == 0) return;
    const size_t at = out_.size();
    out_.resize(at + n);
    std::memcpy(out_.data() + at, p, n);
  }
  void PadTo(uint64_t alignment) { out_.resize((out_.size() + alignment - 1) / alignment * alignment, 0); }

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace

struct GgufWriter::Impl {
  struct Kv {
    std::string key;
    GgufType type;
    std::vector<uint8_t> value;  // encoded bytes after the type field
  };
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    DType type;
    std::vector<uint8_t> data;
  };

  std::vector<Kv> kvs;
  absl::flat_hash_map<std::string, size_t> kv_index;
  std::vector<Tensor> tensors;
  absl::flat_hash_map<std::string, size_t> tensor_index;
  absl::Status deferred;  // first error of a void setter, reported by Serialize

  // Replaces the value of an existing key in place, keeping its position.
  std::vector<uint8_t>* Set(std::string_view key, GgufType type) {
    if (key.empty()) {
      if (deferred.ok()) deferred = absl::InvalidArgumentError("GGUF metadata keys must not be empty");
      return nullptr;
    }
    const std::string k(key);
    auto it = kv_index.find(k);
    if (it == kv_index.end()) {
      it = kv_index.emplace(k, kvs.size()).first;
      kvs.push_back(Kv{k, type, {}});
    }
    Kv& kv = kvs[it->second];
    kv.type = type;
    kv.value.clear();
    return &kv.value;
  }

  template <typename T>
  void SetScalar(std::string_view key, GgufType type, T v) {
    if (auto* out = Set(key, type)) Bytes(*out).Put(v);
  }

  template <typename T>
  void SetArray(std::string_view key, GgufType elem, const std::vector<T>& v) {
    auto* out = Set(key, GgufType::kArray);
    if (out == nullptr) return;
    Bytes b(*out);
    b.Put(static_cast<uint32_t>(elem));
    b.Put<uint64_t>(v.size());
    for (const T& e : v) {
      if constexpr (std::is_same_v<T, std::string>) {
        b.PutString(e);
      } else {
        b.Put(e);
      }
    }
  }

  absl::StatusOr<uint32_t> Alignment() const {
    auto it = kv_index.find(std::string(kAlignmentKey));
    if (it == kv_index.end()) return kDefaultAlignment;
    const Kv& kv = kvs[it->second];
    if (kv.type != GgufType::kUint32) {
      return absl::InvalidArgumentError(absl::StrCat("key 'general.alignment' must be uint32, not ",
                                                     std::string(GgufTypeName(kv.type))));
    }
    uint32_t a;
    std::memcpy(&a, kv.value.data(), 4);
    if (a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment) {
      return absl::InvalidArgumentError(absl::StrCat(
          "alignment ", a, " must be a power of two from 1 to 65536 (GGUF readers refuse others)"));
    }
    return a;
  }
};

GgufWriter::GgufWriter() : impl_(std::make_unique<Impl>()) {}
GgufWriter::~GgufWriter() = default;

void GgufWriter::SetUint32(std::string_view key, uint32_t v) { impl_->SetScalar(key, GgufType::kUint32, v); }
void GgufWriter::SetInt32(std::string_view key, int32_t v) { impl_->SetScalar(key, GgufType::kInt32, v); }
void GgufWriter::SetUint64(std::string_view key, uint64_t v) { impl_->SetScalar(key, GgufType::kUint64, v); }
void GgufWriter::SetFloat32(std::string_view key, float v) { impl_->SetScalar(key, GgufType::kFloat32, v); }
void GgufWriter::SetBool(std::string_view key, bool v) {
  impl_->SetScalar(key, GgufType::kBool, static_cast<uint8_t>(v ? 1 : 0));
}
void GgufWriter::SetString(std::string_view key, std::string_view v) {
  if (auto* out = impl_->Set(key, GgufType::kString)) Bytes(*out).PutString(v);
}
void GgufWriter::SetStringArray(std::string_view key, const std::vector<std::string>& v) {
  impl_->SetArray(key, GgufType::kString, v);
}
void GgufWriter::SetFloat32Array(std::string_view key, const std::vector<float>& v) {
  impl_->SetArray(key, GgufType::kFloat32, v);
}
void GgufWriter::SetInt32Array(std::string_view key, const std::vector<int32_t>& v) {
  impl_->SetArray(key, GgufType::kInt32, v);
}
void GgufWriter::SetAlignment(uint32_t alignment) { SetUint32(kAlignmentKey, alignment); }

absl::Status GgufWriter::AddTensor(std::string_view name, std::vector<int64_t> dims, DType type,
                                   std::vector<uint8_t> data) {
  const std::string what = absl::StrCat("tensor '", std::string(name), "'");
  if (name.empty()) return absl::InvalidArgumentError("tensor names must not be empty");
  if (impl_->tensor_index.contains(std::string(name))) {
    return absl::InvalidArgumentError(absl::StrCat(what, " was already added"));
  }
  if (dims.empty() || dims.size() > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": has ", dims.size(), " dimensions; GGUF allows 1 to 4"));
  }
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": dimensions [", absl::StrJoin(dims, ", "),
                                                     "] must all be positive"));
    }
    if (__builtin_mul_overflow(n, d, &n)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": element count overflows int64"));
    }
  }
  auto row = RowBytes(type, dims[0]);
  if (!row.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", std::string(row.status().message())));
  int64_t bytes = 0;
  if (__builtin_mul_overflow(*row, n / dims[0], &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": byte size overflows int64"));
  }
  if (static_cast<uint64_t>(bytes) != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", std::string(DTypeName(type)), " [",
                                                   absl::StrJoin(dims, ", "), "] takes ", bytes,
                                                   " bytes but ", data.size(), " were given"));
  }
  impl_->tensor_index.emplace(std::string(name), impl_->tensors.size());
  impl_->tensors.push_back(Impl::Tensor{std::string(name), std::move(dims), type, std::move(data)});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> GgufWriter::Serialize() const {
  if (!impl_->deferred.ok()) return impl_->deferred;
  auto alignment = impl_->Alignment();
  if (!alignment.ok()) return alignment.status();
  const uint64_t a = *alignment;

  std::vector<uint8_t> out;
  Bytes b(out);
  b.Append("GGUF", 4);
  b.Put<uint32_t>(3);
  b.Put<uint64_t>(impl_->tensors.size());
  b.Put<uint64_t>(impl_->kvs.size());
  for (const Impl::Kv& kv : impl_->kvs) {
    b.PutString(kv.key);
    b.Put(static_cast<uint32_t>(kv.type));
    b.Append(kv.value.data(), kv.value.size());
  }
  uint64_t offset = 0;
  for (const Impl::Tensor& t : impl_->tensors) {
    b.PutString(t.name);
    b.Put<uint32_t>(t.dims.size());
    for (int64_t d : t.dims) b.Put<uint64_t>(d);
    b.Put(static_cast<uint32_t>(t.type));
    b.Put<uint64_t>(offset);
    offset += (t.data.size() + a - 1) / a * a;
  }
  b.PadTo(a);
  for (const Impl::Tensor& t : impl_->tensors) {
    b.Append(t.data.data(), t.data.size());
    b.PadTo(a);
  }
  return out;
}

absl::Status GgufWriter::WriteFile(const std::string& path) const {
  auto bytes = Serialize();
  if (!bytes.ok()) return bytes.status();
  // Write beside the target and rename, so a reader never maps a half-written file.
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot create '", tmp, "': ", std::strerror(errno)));
  }
  const size_t written = std::fwrite(bytes->data(), 1, bytes->size(), f);
  const bool closed = std::fclose(f) == 0;
  if (written != bytes->size() || !closed) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write '", tmp, "': ", std::strerror(err)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace tessera
