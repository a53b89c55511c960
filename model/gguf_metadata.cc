// Typed access to GGUF metadata. Values were bounds-checked by the parser;
// here each getter checks the stored type (and for integers, the range) against
// what the caller asked for, and names the key when they do not fit.

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/gguf_cursor.h"
#include "model/gguf_file.h"
#include "model/gguf_file_impl.h"

namespace tessera {

namespace {

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// An integer of any GGUF width, kept exact: signed types in `s`, unsigned in `u`.
struct Integer {
  bool is_signed = false;
  int64_t s = 0;
  uint64_t u = 0;
};

Integer LoadInteger(GgufType t, const uint8_t* p) {
  switch (t) {
    case GgufType::kUint8: return {false, 0, Load<uint8_t>(p)};
    case GgufType::kUint16: return {false, 0, Load<uint16_t>(p)};
    case GgufType::kUint32: return {false, 0, Load<uint32_t>(p)};
    case GgufType::kUint64: return {false, 0, Load<uint64_t>(p)};
    case GgufType::kInt8: return {true, Load<int8_t>(p), 0};
    case GgufType::kInt16: return {true, Load<int16_t>(p), 0};
    case GgufType::kInt32: return {true, Load<int32_t>(p), 0};
    case GgufType::kInt64: return {true, Load<int64_t>(p), 0};
    default: return {};
  }
}

std::string KeyLabel(std::string_view key) { return absl::StrCat("key '", std::string(key), "'"); }

std::string Describe(const GgufValue& v) {
  if (v.type != GgufType::kArray) return std::string(GgufTypeName(v.type));
  return absl::StrCat("array of ", std::string(GgufTypeName(v.elem_type)));
}

absl::Status WrongType(std::string_view key, const GgufValue& v, std::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(KeyLabel(key), " has type ", Describe(v),
                                                 ", expected ", std::string(expected)));
}

absl::StatusOr<int64_t> ToInt64(const Integer& v, const std::string& what) {
  if (v.is_signed) return v.s;
  if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", v.u, ", which does not fit an int64"));
  }
  return static_cast<int64_t>(v.u);
}

absl::StatusOr<const GgufValue*> Lookup(const GgufFile::Impl& impl, std::string_view key) {
  const GgufKv* kv = impl.FindKv(key);
  if (kv == nullptr) {
    return absl::NotFoundError(absl::StrCat("metadata ", KeyLabel(key), " not found"));
  }
  return &kv->value;
}

absl::StatusOr<const GgufValue*> LookupArray(const GgufFile::Impl& impl, std::string_view key,
                                            std::string_view expected) {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(impl, key));
  if (v->type != GgufType::kArray) return WrongType(key, *v, expected);
  return v;
}

}  // namespace

std::string_view GgufTypeName(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

bool GgufFile::Has(std::string_view key) const { return impl_->FindKv(key) != nullptr; }

absl::StatusOr<GgufType> GgufFile::TypeOf(std::string_view key) const {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*impl_, key));
  return v->type;
}

absl::StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*impl_, key));
  if (!GgufIsInteger(v->type)) return WrongType(key, *v, "an integer");
  const Integer i = LoadInteger(v->type, v->raw);
  if (!i.is_signed) return i.u;
  if (i.s < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(KeyLabel(key), " is ", i.s, ", expected a non-negative integer"));
  }
  return static_cast<uint64_t>(i.s);
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*impl_, key));
  if (!GgufIsInteger(v->type)) return WrongType(key, *v, "an integer");
  return ToInt64(LoadInteger(v->type, v->raw), KeyLabel(key));
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*impl_, key));
  if (v->type == GgufType::kFloat32) return static_cast<double>(Load<float>(v->raw));
  if (v->type == GgufType::kFloat64) return Load<double>(v->raw);
  if (!GgufIsInteger(v->type)) return WrongType(key, *v, "a number");
  const Integer i = LoadInteger(v->type, v->raw);
  return i.is_signed ? static_cast<double>(i.s) : static_cast<double>(i.u);
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*impl_, key));
  if (v->type != GgufType::kBool) return WrongType(key, *v, "bool");
  return *v->raw != 0;
}

absl::StatusOr<std::string_view> GgufFile::GetString(std::string_view key) const {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*impl_, key));
  if (v->type != GgufType::kString) return WrongType(key, *v, "string");
  return v->str;
}

absl::StatusOr<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  constexpr std::string_view kExpected = "an array of string";
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, LookupArray(*impl_, key, kExpected));
  if (v->elem_type != GgufType::kString) return WrongType(key, *v, kExpected);
  return v->strings;
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  constexpr std::string_view kExpected = "an array of float32";
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, LookupArray(*impl_, key, kExpected));
  if (v->elem_type != GgufType::kFloat32) return WrongType(key, *v, kExpected);
  std::vector<float> out(v->count);
  if (v->count > 0) std::memcpy(out.data(), v->raw, v->count * sizeof(float));
  return out;
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  constexpr std::string_view kExpected = "an array of integers";
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufValue* v, LookupArray(*impl_, key, kExpected));
  if (!GgufIsInteger(v->elem_type)) return WrongType(key, *v, kExpected);
  const uint64_t size = GgufScalarSize(v->elem_type);
  std::vector<int64_t> out;
  out.reserve(v->count);
  for (uint64_t i = 0; i < v->count; ++i) {
    const Integer e = LoadInteger(v->elem_type, v->raw + i * size);
    if (!e.is_signed && e.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return ToInt64(e, absl::StrCat(KeyLabel(key), " element ", i)).status();
    }
    out.push_back(e.is_signed ? e.s : static_cast<int64_t>(e.u));
  }
  return out;
}

std::vector<std::string> GgufFile::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(impl_->kvs.size());
  for (const GgufKv& kv : impl_->kvs) keys.push_back(kv.key);
  return keys;
}

}  // namespace tessera
