// GgufFile on well-formed files built byte by byte: header, every metadata
// value type, tensor placement, typed getters and their type errors, and
// opening real files through mmap.

#include "model/gguf_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/model/gguf_bytes.h"

namespace tessera {
namespace {

using gguf_test::GgufBytes;
using namespace gguf_test;  // type id constants
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One key of every scalar type, arrays of several element types, and two
// tensors (an f32 matrix and a q8_0 row) placed at 32-byte aligned offsets.
std::vector<uint8_t> EveryTypeFile(uint32_t version = 3) {
  GgufBytes b;
  b.Header(2, 19, version);
  b.KeyType("u8", kTU8).U8(200);
  b.KeyType("i8", kTI8).Put<int8_t>(-5);
  b.KeyType("u16", kTU16).Put<uint16_t>(65000);
  b.KeyType("i16", kTI16).Put<int16_t>(-30000);
  b.KvU32("u32", 4000000000u);
  b.KeyType("i32", kTI32).Put<int32_t>(-7);
  b.KvF32("f32", 0.5f);
  b.KeyType("bool_t", kTBool).U8(1);
  b.KeyType("bool_f", kTBool).U8(0);
  b.KvString("str", "hello gguf");
  b.KeyType("u64", kTU64).U64(std::numeric_limits<uint64_t>::max());
  b.KeyType("i64", kTI64).Put<int64_t>(std::numeric_limits<int64_t>::min());
  b.KeyType("f64", kTF64).Put<double>(-2.25);
  b.KeyType("strs", kTArray).U32(kTString).U64(3).Str("a").Str("").Str("ccc");
  b.KvArray<float>("floats", kTF32, {1.5f, -2.0f});
  b.KvArray<int32_t>("i32s", kTI32, {-1, 2, 3});
  b.KvArray<uint8_t>("u8s", kTU8, {7, 255});
  b.KvArray<uint64_t>("u64s", kTU64, {std::numeric_limits<uint64_t>::max()});
  b.KvArray<int16_t>("empty", kTI16, {});
  b.TensorInfo("mat", {4, 2}, kGF32, 0);
  b.TensorInfo("row", {32}, kGQ8_0, 32);
  b.PadTo(32);
  for (int i = 0; i < 8; ++i) b.Put<float>(static_cast<float>(i) + 0.5f);
  for (int i = 0; i < 34; ++i) b.U8(static_cast<uint8_t>(100 + i));
  return b.Take();
}

TEST(GgufFileTest, ReadsHeaderKeysInOrderAndAlignment) {
  auto f = GgufFile::FromBytes(EveryTypeFile());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->alignment(), 32u);
  EXPECT_EQ((*f)->path(), "");
  EXPECT_THAT((*f)->Keys(),
              ElementsAre("u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool_t", "bool_f", "str",
                          "u64", "i64", "f64", "strs", "floats", "i32s", "u8s", "u64s", "empty"));
}

TEST(GgufFileTest, AcceptsVersion2) {
  auto f = GgufFile::FromBytes(EveryTypeFile(2));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 2u);
}

TEST(GgufFileTest, ScalarGetters) {
  auto f = GgufFile::FromBytes(EveryTypeFile());
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(*g.GetUint("u8"), 200u);
  EXPECT_EQ(*g.GetInt("i8"), -5);
  EXPECT_EQ(*g.GetUint("u16"), 65000u);
  EXPECT_EQ(*g.GetInt("i16"), -30000);
  EXPECT_EQ(*g.GetUint("u32"), 4000000000u);
  EXPECT_EQ(*g.GetInt("u32"), 4000000000);
  EXPECT_EQ(*g.GetInt("i32"), -7);
  EXPECT_EQ(*g.GetFloat("f32"), 0.5);
  EXPECT_EQ(*g.GetFloat("f64"), -2.25);
  EXPECT_EQ(*g.GetFloat("i32"), -7.0);  // integers widen to float
  EXPECT_TRUE(*g.GetBool("bool_t"));
  EXPECT_FALSE(*g.GetBool("bool_f"));
  EXPECT_EQ(*g.GetString("str"), "hello gguf");
  EXPECT_EQ(*g.GetUint("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*g.GetInt("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*g.TypeOf("f64"), GgufType::kFloat64);
  EXPECT_EQ(*g.TypeOf("strs"), GgufType::kArray);
  EXPECT_TRUE(g.Has("u8"));
  EXPECT_FALSE(g.Has("nope"));
}

TEST(GgufFileTest, ArrayGetters) {
  auto f = GgufFile::FromBytes(EveryTypeFile());
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_THAT(*g.GetStringArray("strs"), ElementsAre("a", "", "ccc"));
  EXPECT_THAT(*g.GetFloatArray("floats"), ElementsAre(1.5f, -2.0f));
  EXPECT_THAT(*g.GetIntArray("i32s"), ElementsAre(-1, 2, 3));
  EXPECT_THAT(*g.GetIntArray("u8s"), ElementsAre(7, 255));
  EXPECT_TRUE(g.GetIntArray("empty")->empty());
}

TEST(GgufFileTest, GetterTypeAndRangeErrorsNameTheKey) {
  auto f = GgufFile::FromBytes(EveryTypeFile());
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  struct Case {
    absl::Status status;
    absl::StatusCode code;
    std::string needle;
  };
  const Case cases[] = {
      {g.GetUint("missing.key").status(), absl::StatusCode::kNotFound, "'missing.key' not found"},
      {g.GetUint("i8").status(), absl::StatusCode::kInvalidArgument, "key 'i8' is -5"},
      {g.GetInt("u64").status(), absl::StatusCode::kInvalidArgument, "key 'u64'"},
      {g.GetUint("str").status(), absl::StatusCode::kInvalidArgument, "key 'str' has type string"},
      {g.GetString("u32").status(), absl::StatusCode::kInvalidArgument, "key 'u32' has type uint32"},
      {g.GetBool("u8").status(), absl::StatusCode::kInvalidArgument, "key 'u8' has type uint8"},
      {g.GetFloat("str").status(), absl::StatusCode::kInvalidArgument, "key 'str'"},
      {g.GetFloatArray("i32s").status(), absl::StatusCode::kInvalidArgument,
       "key 'i32s' has type array of int32, expected an array of float32"},
      {g.GetStringArray("floats").status(), absl::StatusCode::kInvalidArgument,
       "key 'floats' has type array of float32"},
      {g.GetIntArray("strs").status(), absl::StatusCode::kInvalidArgument, "key 'strs'"},
      {g.GetIntArray("u64s").status(), absl::StatusCode::kInvalidArgument, "key 'u64s' element 0"},
      {g.GetFloatArray("f32").status(), absl::StatusCode::kInvalidArgument,
       "key 'f32' has type float32, expected an array of float32"},
      {g.TypeOf("missing.key").status(), absl::StatusCode::kNotFound, "missing.key"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), c.code) << c.status;
    EXPECT_THAT(std::string(c.status.message()), HasSubstr(c.needle));
  }
}

TEST(GgufFileTest, TensorsArePlacedAfterAlignedInfos) {
  const std::vector<uint8_t> bytes = EveryTypeFile();
  auto f = GgufFile::FromBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo& mat = g.tensors()[0];
  EXPECT_EQ(mat.name, "mat");
  EXPECT_THAT(mat.dims, ElementsAre(4, 2));
  EXPECT_EQ(mat.type, DType::kF32);
  EXPECT_EQ(mat.n_elements, 8);
  EXPECT_EQ(mat.n_bytes, 32);
  // The data section starts at the first multiple of 32 after the infos; the
  // file ends with the 32 + 34 bytes of the two tensors.
  const size_t data_start = bytes.size() - 66;
  EXPECT_EQ(data_start % 32, 0u);
  float first;
  std::memcpy(&first, mat.data, 4);
  EXPECT_EQ(first, 0.5f);
  const GgufTensorInfo* row = g.FindTensor("row");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->type, DType::kQ8_0);
  EXPECT_EQ(row->n_bytes, 34);
  EXPECT_EQ(row->offset, 32u);
  EXPECT_EQ(0, std::memcmp(row->data, bytes.data() + data_start + 32, 34));
  EXPECT_EQ(row->data - mat.data, 32);
  EXPECT_EQ(g.FindTensor("absent"), nullptr);
}

TEST(GgufFileTest, MatrixViews) {
  auto f = GgufFile::FromBytes(EveryTypeFile());
  ASSERT_TRUE(f.ok()) << f.status();
  auto mat = (*f)->Matrix("mat");
  ASSERT_TRUE(mat.ok()) << mat.status();
  EXPECT_EQ(mat->rows, 2);
  EXPECT_EQ(mat->cols, 4);
  EXPECT_EQ(mat->row_bytes, 16);
  float v;
  std::memcpy(&v, mat->Row(1), 4);
  EXPECT_EQ(v, 4.5f);  // element 4 of the tensor
  auto row = (*f)->Matrix("row");
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->rows, 1);
  EXPECT_EQ(row->cols, 32);
  EXPECT_EQ(row->row_bytes, 34);
  EXPECT_EQ((*f)->Matrix("absent").status().code(), absl::StatusCode::kNotFound);
}

TEST(GgufFileTest, MatrixRefusesThreeNonUnitDims) {
  GgufBytes b;
  b.Header(2, 0).TensorInfo("cube", {2, 2, 2}, kGF32, 0).TensorInfo("flat", {2, 1, 3}, kGF32, 32);
  b.PadTo(32).Zeros(32).Zeros(24);
  auto f = GgufFile::FromBytes(b.Take());
  ASSERT_TRUE(f.ok()) << f.status();
  const absl::Status s = (*f)->Matrix("cube").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'cube'"));
  auto flat = (*f)->Matrix("flat");  // unit dimensions do not count
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->rows, 3);
  EXPECT_EQ(flat->cols, 2);
}

TEST(GgufFileTest, HonoursCustomAlignment) {
  GgufBytes b;
  b.Header(2, 1).KvU32("general.alignment", 64);
  b.TensorInfo("a", {3}, kGF32, 0).TensorInfo("b", {2}, kGF16, 64);
  b.PadTo(64).Put<float>(1).Put<float>(2).Put<float>(3).Zeros(52).Put<uint16_t>(0x3c00).Put<uint16_t>(0);
  auto f = GgufFile::FromBytes(b.Take());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  const GgufTensorInfo* a = (*f)->FindTensor("a");
  const GgufTensorInfo* t = (*f)->FindTensor("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->data - a->data, 64);
  float a2;
  std::memcpy(&a2, a->data + 8, 4);
  EXPECT_EQ(a2, 3.0f);
  uint16_t h;
  std::memcpy(&h, t->data, 2);
  EXPECT_EQ(h, 0x3c00);
}

TEST(GgufFileTest, EveryTruncationIsAnErrorAndEveryByteFlipIsSafe) {
  // EveryTypeFile ends exactly at its last tensor byte, so any prefix misses data.
  const std::vector<uint8_t> full = EveryTypeFile();
  for (size_t n = 0; n < full.size(); ++n) {
    auto f = GgufFile::FromBytes(std::vector<uint8_t>(full.begin(), full.begin() + n));
    EXPECT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
  }
  // Corrupting any one byte may or may not make the file invalid, but the
  // parser must not read out of bounds (ASan) and accepted tensors must lie
  // inside the buffer.
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, uint8_t{0x80}}) {
      std::vector<uint8_t> bad = full;
      bad[i] = v;
      const uint8_t* begin = bad.data();  // a moved vector keeps its buffer
      const uint8_t* end = begin + bad.size();
      auto f = GgufFile::FromBytes(std::move(bad));
      if (!f.ok()) continue;
      for (const GgufTensorInfo& t : (*f)->tensors()) {
        ASSERT_GE(t.n_bytes, 1) << t.name;
        ASSERT_GE(t.data, begin) << "byte " << i;
        ASSERT_LE(t.n_bytes, end - t.data) << "byte " << i << " tensor " << t.name;
      }
    }
  }
}

// Files on disk: mmap path, plus the errors for paths that are not GGUF files.
class GgufOpenTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) {
    return ::testing::TempDir() + "/gguf_open_test_" + std::to_string(::getpid()) + "_" + name;
  }
  void Write(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!bytes.empty()) {
      EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    }
    std::fclose(f);
    cleanup_.push_back(path);
  }
  void TearDown() override {
    for (const std::string& p : cleanup_) std::remove(p.c_str());
  }
  std::vector<std::string> cleanup_;
};

TEST_F(GgufOpenTest, MapsAFile) {
  const std::string path = Path("ok.gguf");
  const std::vector<uint8_t> bytes = EveryTypeFile();
  Write(path, bytes);
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->path(), path);
  EXPECT_EQ(*(*f)->GetString("str"), "hello gguf");
  const GgufTensorInfo* row = (*f)->FindTensor("row");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(0, std::memcmp(row->data, bytes.data() + bytes.size() - 34, 34));
}

TEST_F(GgufOpenTest, EmptyFileIsDataLoss) {
  const std::string path = Path("empty.gguf");
  Write(path, {});
  const absl::Status s = GgufFile::Open(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
}

TEST_F(GgufOpenTest, DirectoryIsRefused) {
  const std::string dir = Path("dir");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const absl::Status s = GgufFile::Open(dir).status();
  ::rmdir(dir.c_str());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("is a directory"));
}

TEST_F(GgufOpenTest, MissingFileIsNotFound) {
  const std::string path = Path("does_not_exist.gguf");
  const absl::Status s = GgufFile::Open(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
}

TEST_F(GgufOpenTest, ParseErrorsNameThePath) {
  const std::string path = Path("bad.gguf");
  Write(path, {'G', 'G', 'U', 'X', 3, 0, 0, 0});
  const absl::Status s = GgufFile::Open(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  EXPECT_THAT(std::string(s.message()), HasSubstr("magic"));
}

}  // namespace
}  // namespace tessera
