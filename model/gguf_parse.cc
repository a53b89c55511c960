// The GGUF v2/v3 parser. Every count, length, dimension and offset read from
// the file is checked against the bytes that remain (or the file size) before
// it sizes an allocation or moves the cursor, so a corrupt or hostile file gets
// an error naming the key or tensor at fault and never a crash or a huge
// allocation.
//
// Error codes: DataLoss when the file ends before something it declares (a
// truncated file, or a count/length that cannot fit in the bytes left);
// InvalidArgument for a value that is wrong in itself (bad magic, version,
// type id, dimension, alignment, duplicate name, misaligned or overlapping
// tensor data).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/dtype.h"
#include "model/gguf_cursor.h"
#include "model/gguf_file_impl.h"

namespace tessera {

namespace {

constexpr uint32_t kMaxAlignment = 1u << 16;
// Lower bounds on the encoded size of one metadata pair (key length, value
// type, a one-byte value) and one tensor info (name length, n_dims, one
// dimension, type, offset); they bound counts before anything is reserved.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;
constexpr int kMaxDims = 4;
constexpr uint32_t kMaxValueType = static_cast<uint32_t>(GgufType::kFloat64);
// Counts passed the size checks above can still be large multiples of what a
// parsed entry costs in memory, so reservations are capped; vectors grow past
// the cap only as real entries are parsed.
constexpr uint64_t kMaxReserve = 1 << 16;

uint64_t ReserveFor(uint64_t count) { return std::min(count, kMaxReserve); }

// Names in messages are quoted, escaped and capped so a corrupt file cannot
// flood a log line with binary.
std::string Quoted(std::string_view s) {
  constexpr size_t kMax = 96;
  const absl::string_view head(s.data(), std::min(s.size(), kMax));
  return absl::StrCat("'", absl::CHexEscape(head), s.size() > kMax ? "...'" : "'");
}

std::string DimsString(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

absl::Status Prefixed(std::string_view prefix, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(std::string(prefix), ": ", std::string(s.message())));
}

absl::Status ParseArray(ByteCursor& c, const std::string& what, GgufValue& v) {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const uint32_t elem, c.Read<uint32_t>(what + " array type"));
  if (elem > kMaxValueType) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": array element type ", elem, " is not a GGUF value type (0..12)"));
  }
  v.elem_type = static_cast<GgufType>(elem);
  if (v.elem_type == GgufType::kArray) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": arrays of arrays are not supported (tessera reads arrays of scalars or strings)"));
  }
  TESSERA_GGUF_ASSIGN_OR_RETURN(v.count, c.Read<uint64_t>(what + " array length"));
  const bool strings = v.elem_type == GgufType::kString;
  const uint64_t min_elem = strings ? 8 : GgufScalarSize(v.elem_type);
  if (v.count > c.remaining() / min_elem) {
    return absl::DataLossError(absl::StrCat(
        what, ": array of ", v.count, " ", std::string(GgufTypeName(v.elem_type)), " elements (at least ",
        min_elem, " bytes each) does not fit in the ", c.remaining(),
        " bytes left in the file (truncated or corrupt)"));
  }
  v.raw = c.here();
  if (strings) {
    v.strings.reserve(ReserveFor(v.count));
    for (uint64_t i = 0; i < v.count; ++i) {
      TESSERA_GGUF_ASSIGN_OR_RETURN(
          const std::string_view s,
          c.ReadStringWith([&] { return absl::StrCat(what, " element ", i); }));
      v.strings.push_back(s);
    }
    return absl::OkStatus();
  }
  if (v.elem_type == GgufType::kBool) {
    for (uint64_t i = 0; i < v.count; ++i) {
      if (v.raw[i] > 1) {
        return absl::InvalidArgumentError(absl::StrCat(what, " element ", i, ": bool value ",
                                                       v.raw[i], " is neither 0 nor 1"));
      }
    }
  }
  return c.Skip(v.count * min_elem, what);
}

absl::Status ParseValue(ByteCursor& c, const std::string& what, GgufValue& v) {
  switch (v.type) {
    case GgufType::kString: {
      TESSERA_GGUF_ASSIGN_OR_RETURN(v.str, c.ReadString(what));
      return absl::OkStatus();
    }
    case GgufType::kArray:
      return ParseArray(c, what, v);
    case GgufType::kBool:
      TESSERA_GGUF_RETURN_IF_ERROR(c.Need(1, what));
      if (*c.here() > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": bool value ", *c.here(), " is neither 0 nor 1"));
      }
      v.raw = c.here();
      return c.Skip(1, what);
    default:
      v.raw = c.here();
      return c.Skip(GgufScalarSize(v.type), what);
  }
}

absl::Status ParseHeader(ByteCursor& c, GgufFile::Impl& impl, uint64_t& n_tensors, uint64_t& n_kv) {
  if (impl.size == 0) return absl::DataLossError("empty file (0 bytes): not a GGUF file");
  if (impl.size < 4) {
    return absl::DataLossError(
        absl::StrCat("file of ", impl.size, " bytes is too short to hold the GGUF magic"));
  }
  const std::string_view magic(reinterpret_cast<const char*>(impl.data), 4);
  if (magic != "GGUF") {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad magic ", Quoted(magic), " (expected 'GGUF'): not a GGUF file"));
  }
  TESSERA_GGUF_RETURN_IF_ERROR(c.Skip(4, "header"));
  TESSERA_GGUF_ASSIGN_OR_RETURN(impl.version, c.Read<uint32_t>("header (version)"));
  if (impl.version != 2 && impl.version != 3) {
    const uint32_t swapped = __builtin_bswap32(impl.version);
    if (swapped == 2 || swapped == 3) {
      return absl::InvalidArgumentError(
          "big-endian GGUF file (byte-swapped version): tessera reads little-endian GGUF only");
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported GGUF version ", impl.version,
        " (tessera reads versions 2 and 3; convert the model again with a current llama.cpp)"));
  }
  TESSERA_GGUF_ASSIGN_OR_RETURN(n_tensors, c.Read<uint64_t>("header (tensor count)"));
  TESSERA_GGUF_ASSIGN_OR_RETURN(n_kv, c.Read<uint64_t>("header (metadata key count)"));
  if (n_kv > c.remaining() / kMinKvBytes) {
    return absl::DataLossError(absl::StrCat("header: metadata key count ", n_kv,
                                            " is impossible for a file of ", impl.size,
                                            " bytes (each key takes at least ", kMinKvBytes,
                                            " bytes)"));
  }
  if (n_tensors > c.remaining() / kMinTensorInfoBytes) {
    return absl::DataLossError(absl::StrCat("header: tensor count ", n_tensors,
                                            " is impossible for a file of ", impl.size,
                                            " bytes (each tensor info takes at least ",
                                            kMinTensorInfoBytes, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status ParseKvs(ByteCursor& c, GgufFile::Impl& impl, uint64_t n_kv) {
  impl.kvs.reserve(ReserveFor(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(const std::string_view key,
                                  c.ReadString(absl::StrCat("metadata key #", i)));
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("metadata key #", i, " is empty"));
    }
    const std::string what = absl::StrCat("key ", Quoted(key));
    if (const GgufKv* prev = impl.FindKv(key)) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate metadata ", what, " (keys #",
                                                     prev - impl.kvs.data(), " and #", i, ")"));
    }
    TESSERA_GGUF_ASSIGN_OR_RETURN(const uint32_t type, c.Read<uint32_t>(what + " value type"));
    if (type > kMaxValueType) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": unknown value type ", type, " (GGUF value types are 0..12)"));
    }
    GgufKv kv{std::string(key), GgufValue{}};
    kv.value.type = static_cast<GgufType>(type);
    TESSERA_GGUF_RETURN_IF_ERROR(ParseValue(c, what, kv.value));
    impl.kv_index.emplace(kv.key, impl.kvs.size());
    impl.kvs.push_back(std::move(kv));
  }
  return absl::OkStatus();
}

absl::Status ReadAlignment(GgufFile::Impl& impl) {
  const GgufKv* kv = impl.FindKv("general.alignment");
  if (kv == nullptr) return absl::OkStatus();
  if (kv->value.type != GgufType::kUint32) {
    return absl::InvalidArgumentError(
        absl::StrCat("key 'general.alignment' has type ", std::string(GgufTypeName(kv->value.type)),
                     "; the GGUF specification requires uint32"));
  }
  uint32_t a;
  std::memcpy(&a, kv->value.raw, 4);
  // Above 64 KiB (the largest page size in use) alignment buys nothing for
  // mmap and only pads the file; a huge value is a sign of corruption.
  if (a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment) {
    return absl::InvalidArgumentError(
        absl::StrCat("key 'general.alignment' is ", a,
                     ": it must be a power of two from 1 to 65536 (tessera refuses larger "
                     "alignments as corrupt: no writer pads beyond a 64 KiB page)"));
  }
  impl.alignment = a;
  return absl::OkStatus();
}

absl::Status ParseTensorInfo(ByteCursor& c, GgufFile::Impl& impl, uint64_t i) {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const std::string_view name,
                                c.ReadString(absl::StrCat("tensor #", i, " name")));
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("tensor #", i, " has an empty name"));
  const std::string what = absl::StrCat("tensor ", Quoted(name));
  auto prev = impl.tensor_index.find(absl::string_view(name.data(), name.size()));
  if (prev != impl.tensor_index.end()) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name ", Quoted(name),
                                                   " (tensors #", prev->second, " and #", i, ")"));
  }
  GgufTensorInfo t;
  t.name = std::string(name);
  TESSERA_GGUF_ASSIGN_OR_RETURN(const uint32_t n_dims, c.Read<uint32_t>(what + " n_dims"));
  if (n_dims == 0 || n_dims > kMaxDims) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": n_dims is ", n_dims, "; GGUF tensors have 1 to 4 dimensions"));
  }
  int64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(const uint64_t dim, c.Read<uint64_t>(what + " dimensions"));
    if (dim == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": dimension ", d, " is 0 (tessera refuses empty tensors: no weight is empty)"));
    }
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": dimension ", d, " is ", dim,
                                                     " (negative as the int64 of the GGUF spec)"));
    }
    t.dims.push_back(static_cast<int64_t>(dim));
    if (__builtin_mul_overflow(n_elements, t.dims.back(), &n_elements)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the element count of dimensions ", DimsString(t.dims),
                       "... overflows a 64-bit integer"));
    }
  }
  t.n_elements = n_elements;
  TESSERA_GGUF_ASSIGN_OR_RETURN(const uint32_t type, c.Read<uint32_t>(what + " type"));
  auto dtype = DTypeFromGgml(type);
  if (!dtype.ok()) return Prefixed(what, dtype.status());
  t.type = *dtype;
  TESSERA_GGUF_ASSIGN_OR_RETURN(t.offset, c.Read<uint64_t>(what + " offset"));
  auto row_bytes = RowBytes(t.type, t.dims[0]);
  if (!row_bytes.ok()) return Prefixed(what, row_bytes.status());
  if (__builtin_mul_overflow(*row_bytes, n_elements / t.dims[0], &t.n_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", DimsString(t.dims), " ", std::string(DTypeName(t.type)),
                     " elements take more than 2^63 bytes"));
  }
  impl.tensor_index.emplace(t.name, impl.tensors.size());
  impl.tensors.push_back(std::move(t));
  return absl::OkStatus();
}

// Places every tensor in the data section: aligned, inside the file, and not
// overlapping another (overlap would mean two weights share bytes, which no
// writer produces).
absl::Status PlaceTensors(GgufFile::Impl& impl) {
  const uint64_t avail = impl.size > impl.data_offset ? impl.size - impl.data_offset : 0;
  for (GgufTensorInfo& t : impl.tensors) {
    const std::string what = absl::StrCat("tensor ", Quoted(t.name));
    if (t.offset % impl.alignment != 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": data offset ", t.offset,
                                                     " is not a multiple of the alignment ",
                                                     impl.alignment));
    }
    const uint64_t n = static_cast<uint64_t>(t.n_bytes);
    if (t.offset > avail || n > avail - t.offset) {
      return absl::DataLossError(absl::StrCat(
          what, ": data [offset ", t.offset, ", ", t.n_bytes, " bytes) runs past end of file (",
          impl.size, " bytes, tensor data starts at ", impl.data_offset, ")"));
    }
    t.data = impl.data + impl.data_offset + t.offset;
  }
  std::vector<size_t> order(impl.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return impl.tensors[a].offset < impl.tensors[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& a = impl.tensors[order[k - 1]];
    const GgufTensorInfo& b = impl.tensors[order[k]];
    if (a.offset + static_cast<uint64_t>(a.n_bytes) > b.offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensors ", Quoted(a.name), " [", a.offset, ", ", a.offset + a.n_bytes, ") and ",
          Quoted(b.name), " [", b.offset, ", ", b.offset + b.n_bytes, ") overlap"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t GgufScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kBool: return 1;
    case GgufType::kUint16: case GgufType::kInt16: return 2;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: return 4;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

bool GgufIsInteger(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kUint16: case GgufType::kInt16:
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kUint64: case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

absl::Status ParseGguf(GgufFile::Impl& impl) {
  ByteCursor c(impl.data, impl.size);
  uint64_t n_tensors = 0, n_kv = 0;
  TESSERA_GGUF_RETURN_IF_ERROR(ParseHeader(c, impl, n_tensors, n_kv));
  TESSERA_GGUF_RETURN_IF_ERROR(ParseKvs(c, impl, n_kv));
  TESSERA_GGUF_RETURN_IF_ERROR(ReadAlignment(impl));
  impl.tensors.reserve(ReserveFor(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TESSERA_GGUF_RETURN_IF_ERROR(ParseTensorInfo(c, impl, i));
  }
  // pos <= size < 2^63 and alignment <= 2^16, so rounding up cannot overflow.
  const uint64_t a = impl.alignment;
  impl.data_offset = (c.pos() + a - 1) / a * a;
  return PlaceTensors(impl);
}

}  // namespace tessera
