// GgufWriter: exact bytes for a small file (checked against a hand-built
// image), round trips of every value type and every DType through the reader,
// determinism, and the errors of bad tensors and alignments.

#include "model/gguf_writer.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/gguf_file.h"
#include "tests/unit/model/gguf_bytes.h"

namespace tessera {
namespace {

using namespace gguf_test;  // GgufBytes and the type id constants
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + 31 * i);
  return v;
}

std::unique_ptr<GgufFile> RoundTrip(const GgufWriter& w) {
  auto bytes = w.Serialize();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return nullptr;
  auto f = GgufFile::FromBytes(std::move(*bytes));
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? std::move(*f) : nullptr;
}

TEST(GgufWriterTest, BytesMatchTheSpecificationLayout) {
  GgufWriter w;
  w.SetUint32("llama.block_count", 7);
  w.SetString("general.name", "t");
  ASSERT_TRUE(w.AddTensor("a", {3}, DType::kF32, Pattern(12, 1)).ok());
  ASSERT_TRUE(w.AddTensor("b", {2, 2}, DType::kF16, Pattern(8, 2)).ok());
  auto got = w.Serialize();
  ASSERT_TRUE(got.ok()) << got.status();

  GgufBytes want;
  want.Header(2, 2).KvU32("llama.block_count", 7).KvString("general.name", "t");
  want.TensorInfo("a", {3}, kGF32, 0).TensorInfo("b", {2, 2}, kGF16, 32);
  want.PadTo(32);
  for (uint8_t v : Pattern(12, 1)) want.U8(v);
  want.PadTo(32);
  for (uint8_t v : Pattern(8, 2)) want.U8(v);
  want.PadTo(32);
  EXPECT_EQ(*got, want.bytes());
}

TEST(GgufWriterTest, EveryValueTypeRoundTrips) {
  GgufWriter w;
  w.SetUint32("u32", 4000000000u);
  w.SetInt32("i32", -123456);
  w.SetUint64("u64", 0xfedcba9876543210ull);
  w.SetFloat32("f32", -0.125f);
  w.SetBool("yes", true);
  w.SetBool("no", false);
  w.SetString("str", std::string("with\0nul", 8));
  w.SetString("empty", "");
  w.SetStringArray("strs", {"<s>", "", "\xe2\x96\x81hello"});
  w.SetFloat32Array("floats", {0.0f, -1.5f, 3.25e-8f});
  w.SetInt32Array("ints", {-2147483647 - 1, 0, 2147483647});
  w.SetStringArray("no_strs", {});
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->TypeOf("u32"), GgufType::kUint32);
  EXPECT_EQ(*f->GetUint("u32"), 4000000000u);
  EXPECT_EQ(*f->TypeOf("i32"), GgufType::kInt32);
  EXPECT_EQ(*f->GetInt("i32"), -123456);
  EXPECT_EQ(*f->TypeOf("u64"), GgufType::kUint64);
  EXPECT_EQ(*f->GetUint("u64"), 0xfedcba9876543210ull);
  EXPECT_EQ(*f->TypeOf("f32"), GgufType::kFloat32);
  EXPECT_EQ(*f->GetFloat("f32"), -0.125);
  EXPECT_EQ(*f->TypeOf("yes"), GgufType::kBool);
  EXPECT_TRUE(*f->GetBool("yes"));
  EXPECT_FALSE(*f->GetBool("no"));
  EXPECT_EQ(*f->GetString("str"), std::string_view("with\0nul", 8));
  EXPECT_EQ(*f->GetString("empty"), "");
  EXPECT_THAT(*f->GetStringArray("strs"), ElementsAre("<s>", "", "\xe2\x96\x81hello"));
  EXPECT_THAT(*f->GetFloatArray("floats"), ElementsAre(0.0f, -1.5f, 3.25e-8f));
  EXPECT_THAT(*f->GetIntArray("ints"), ElementsAre(-2147483648LL, 0, 2147483647));
  EXPECT_TRUE(f->GetStringArray("no_strs")->empty());
  EXPECT_THAT(f->Keys(), ElementsAre("u32", "i32", "u64", "f32", "yes", "no", "str", "empty", "strs",
                                     "floats", "ints", "no_strs"));
}

TEST(GgufWriterTest, SettingAKeyAgainReplacesItInPlace) {
  GgufWriter w;
  w.SetUint32("a", 1);
  w.SetString("b", "x");
  w.SetString("a", "now a string");
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  EXPECT_THAT(f->Keys(), ElementsAre("a", "b"));
  EXPECT_EQ(*f->GetString("a"), "now a string");
}

TEST(GgufWriterTest, TensorsOfEveryDTypeRoundTrip) {
  struct Spec {
    std::string name;
    std::vector<int64_t> dims;
    DType type;
    size_t bytes;
  };
  const std::vector<Spec> specs = {
      {"f32", {5, 3}, DType::kF32, 60},      {"f16", {7}, DType::kF16, 14},
      {"bf16", {2, 3, 4}, DType::kBF16, 48}, {"q8_0", {64, 2}, DType::kQ8_0, 4 * 34},
      {"q4_0", {32, 3}, DType::kQ4_0, 3 * 18}, {"f32_4d", {1, 2, 1, 3}, DType::kF32, 24},
  };
  GgufWriter w;
  for (size_t i = 0; i < specs.size(); ++i) {
    ASSERT_TRUE(w.AddTensor(specs[i].name, specs[i].dims, specs[i].type,
                            Pattern(specs[i].bytes, static_cast<uint8_t>(i)))
                    .ok());
  }
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->tensors().size(), specs.size());
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const GgufTensorInfo& t = f->tensors()[i];
    SCOPED_TRACE(specs[i].name);
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.dims, specs[i].dims);
    EXPECT_EQ(t.type, specs[i].type);
    EXPECT_EQ(t.n_bytes, static_cast<int64_t>(specs[i].bytes));
    EXPECT_EQ(t.offset, expected_offset);
    EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.n_bytes),
              Pattern(specs[i].bytes, static_cast<uint8_t>(i)));
    expected_offset += (specs[i].bytes + 31) / 32 * 32;
  }
}

TEST(GgufWriterTest, CustomAlignmentIsWrittenAndUsed) {
  GgufWriter w;
  w.SetAlignment(128);
  ASSERT_TRUE(w.AddTensor("a", {3}, DType::kF32, Pattern(12, 1)).ok());
  ASSERT_TRUE(w.AddTensor("b", {3}, DType::kF32, Pattern(12, 2)).ok());
  auto bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size() % 128, 0u);
  auto f = GgufFile::FromBytes(*bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 128u);
  EXPECT_EQ(*(*f)->TypeOf("general.alignment"), GgufType::kUint32);
  EXPECT_EQ((*f)->FindTensor("b")->offset, 128u);
  EXPECT_EQ((*f)->FindTensor("b")->data - (*f)->FindTensor("a")->data, 128);
  EXPECT_EQ(std::vector<uint8_t>(bytes->end() - 128, bytes->end() - 116), Pattern(12, 2));
}

TEST(GgufWriterTest, IsDeterministic) {
  auto build = [] {
    GgufWriter w;
    w.SetString("general.architecture", "llama");
    w.SetFloat32Array("x", {1, 2, 3});
    EXPECT_TRUE(w.AddTensor("t", {32}, DType::kQ8_0, Pattern(34, 9)).ok());
    return *w.Serialize();
  };
  EXPECT_EQ(build(), build());
}

TEST(GgufWriterTest, BadTensorsAreRefused) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("ok", {4}, DType::kF32, Pattern(16, 0)).ok());
  struct Case {
    absl::Status status;
    std::string needle;
  };
  const Case cases[] = {
      {w.AddTensor("ok", {4}, DType::kF32, Pattern(16, 0)), "'ok' was already added"},
      {w.AddTensor("short", {4}, DType::kF32, Pattern(15, 0)), "takes 16 bytes but 15"},
      {w.AddTensor("zero", {4, 0}, DType::kF32, {}), "'zero': dimensions [4, 0]"},
      {w.AddTensor("five", {1, 1, 1, 1, 1}, DType::kF32, Pattern(4, 0)), "'five': has 5 dimensions"},
      {w.AddTensor("none", {}, DType::kF32, {}), "'none': has 0 dimensions"},
      {w.AddTensor("q", {33}, DType::kQ8_0, Pattern(34, 0)), "'q': row of 33 elements"},
      {w.AddTensor("", {4}, DType::kF32, Pattern(16, 0)), "names must not be empty"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument) << c.status;
    EXPECT_THAT(std::string(c.status.message()), HasSubstr(c.needle));
  }
  auto f = RoundTrip(w);  // refused tensors left no trace
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->tensors().size(), 1u);
}

TEST(GgufWriterTest, BadAlignmentAndEmptyKeyFailSerialize) {
  for (uint32_t a : {0u, 3u, 1u << 17}) {
    GgufWriter w;
    w.SetAlignment(a);
    const absl::Status s = w.Serialize().status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("alignment " + std::to_string(a)));
  }
  GgufWriter w;
  w.SetString("general.alignment", "32");
  EXPECT_THAT(std::string(w.Serialize().status().message()), HasSubstr("must be uint32"));
  GgufWriter e;
  e.SetUint32("", 1);
  EXPECT_THAT(std::string(e.Serialize().status().message()), HasSubstr("must not be empty"));
}

TEST(GgufWriterTest, WriteFileThenOpen) {
  const std::string path =
      ::testing::TempDir() + "/gguf_writer_test_" + std::to_string(::getpid()) + ".gguf";
  GgufWriter w;
  w.SetString("general.architecture", "qwen2");
  ASSERT_TRUE(w.AddTensor("t", {2, 2}, DType::kBF16, Pattern(8, 5)).ok());
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  std::remove(path.c_str());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "qwen2");
  const GgufTensorInfo* t = (*f)->FindTensor("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::vector<uint8_t>(t->data, t->data + 8), Pattern(8, 5));
  const absl::Status bad = w.WriteFile("/nonexistent-dir/x.gguf");
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.message()), HasSubstr("/nonexistent-dir/x.gguf"));
}

}  // namespace
}  // namespace tessera
