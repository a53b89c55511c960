// Malformed GGUF files, each broken in one place: the reader must refuse them
// with the right status code and a message naming what is at fault.

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/gguf_file.h"
#include "tests/unit/model/gguf_bytes.h"

namespace tessera {
namespace {

using namespace gguf_test;  // GgufBytes and the type id constants
using ::testing::HasSubstr;

constexpr uint64_t k2p63 = uint64_t{1} << 63;
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kDataLoss = absl::StatusCode::kDataLoss;

void ExpectRefused(std::vector<uint8_t> bytes, absl::StatusCode code,
                   std::initializer_list<std::string> needles) {
  auto f = GgufFile::FromBytes(std::move(bytes));
  ASSERT_FALSE(f.ok()) << "malformed file was accepted";
  EXPECT_EQ(f.status().code(), code) << f.status();
  for (const std::string& n : needles) {
    EXPECT_THAT(std::string(f.status().message()), HasSubstr(n));
  }
}

// A file with one tensor info, as given, then `data_bytes` bytes of data.
std::vector<uint8_t> OneTensor(std::initializer_list<uint64_t> dims, uint32_t type, uint64_t offset,
                               size_t data_bytes) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("blk.0.attn_q.weight", dims, type, offset);
  b.PadTo(32).Zeros(data_bytes);
  return b.Take();
}

TEST(GgufMalformedTest, EmptyFile) { ExpectRefused({}, kDataLoss, {"empty"}); }

TEST(GgufMalformedTest, BadMagic) {
  GgufBytes b;
  b.Raw("GGML").U32(3).U64(0).U64(0);
  ExpectRefused(b.Take(), kInvalid, {"bad magic", "GGML"});
}

TEST(GgufMalformedTest, TooShortForMagic) { ExpectRefused({'G', 'G'}, kDataLoss, {"2 bytes"}); }

TEST(GgufMalformedTest, Version1) {
  GgufBytes b;
  b.Header(0, 0, 1);
  ExpectRefused(b.Take(), kInvalid, {"version 1", "versions 2 and 3"});
}

TEST(GgufMalformedTest, FutureVersion) {
  GgufBytes b;
  b.Header(0, 0, 4);
  ExpectRefused(b.Take(), kInvalid, {"version 4"});
}

TEST(GgufMalformedTest, BigEndianVersion) {
  GgufBytes b;
  b.Header(0, 0, 0x03000000u);
  ExpectRefused(b.Take(), kInvalid, {"big-endian"});
}

TEST(GgufMalformedTest, TruncatedHeader) {
  GgufBytes b;
  b.Raw("GGUF").U32(3).U64(0).U32(0);  // kv count cut in half
  ExpectRefused(b.Take(), kDataLoss, {"header (metadata key count)", "truncated"});
}

TEST(GgufMalformedTest, TensorCount2p63) {
  GgufBytes b;
  b.Header(k2p63, 0).Zeros(64);
  ExpectRefused(b.Take(), kDataLoss, {"tensor count 9223372036854775808", "impossible"});
}

TEST(GgufMalformedTest, KeyCount2p63) {
  GgufBytes b;
  b.Header(0, k2p63).Zeros(64);
  ExpectRefused(b.Take(), kDataLoss, {"key count 9223372036854775808", "impossible"});
}

TEST(GgufMalformedTest, KeyStringLengthPastEnd) {
  GgufBytes b;
  b.Header(0, 1).U64(1000).Raw("general.name");
  ExpectRefused(b.Take(), kDataLoss, {"metadata key #0", "string length 1000", "past the end"});
}

TEST(GgufMalformedTest, ValueStringLengthPastEnd) {
  GgufBytes b;
  b.Header(0, 1).KeyType("general.name", kTString).U64(uint64_t{1} << 40).Raw("tiny");
  ExpectRefused(b.Take(), kDataLoss, {"key 'general.name'", "string length 1099511627776"});
}

TEST(GgufMalformedTest, TruncatedScalarValue) {
  GgufBytes b;
  b.Header(0, 1).KeyType("llama.block_count", kTU32).U8(1);
  ExpectRefused(b.Take(), kDataLoss, {"key 'llama.block_count'", "truncated"});
}

TEST(GgufMalformedTest, UnknownValueType) {
  GgufBytes b;
  b.Header(0, 1).KeyType("general.weird", 13).U32(0);
  ExpectRefused(b.Take(), kInvalid, {"key 'general.weird'", "unknown value type 13"});
}

TEST(GgufMalformedTest, InvalidArrayElementType) {
  GgufBytes b;
  b.Header(0, 1).KeyType("tokenizer.ggml.scores", kTArray).U32(99).U64(1).U32(0);
  ExpectRefused(b.Take(), kInvalid, {"key 'tokenizer.ggml.scores'", "element type 99"});
}

TEST(GgufMalformedTest, NestedArraysRefused) {
  GgufBytes b;
  b.Header(0, 1).KeyType("nested", kTArray).U32(kTArray).U64(1).U32(kTU8).U64(1).U8(1);
  ExpectRefused(b.Take(), kInvalid, {"key 'nested'", "arrays of arrays"});
}

TEST(GgufMalformedTest, ArrayCountImpossible) {
  GgufBytes b;
  b.Header(0, 1).KeyType("tokenizer.ggml.token_type", kTArray).U32(kTI32).U64(uint64_t{1} << 62);
  b.Zeros(16);
  ExpectRefused(b.Take(), kDataLoss, {"key 'tokenizer.ggml.token_type'", "4611686018427387904"});
}

TEST(GgufMalformedTest, StringArrayCountImpossible) {
  GgufBytes b;
  b.Header(0, 1).KeyType("tokenizer.ggml.tokens", kTArray).U32(kTString).U64(k2p63).Str("a");
  ExpectRefused(b.Take(), kDataLoss, {"key 'tokenizer.ggml.tokens'", "9223372036854775808"});
}

TEST(GgufMalformedTest, StringArrayElementPastEnd) {
  GgufBytes b;
  b.Header(0, 1).KeyType("tokenizer.ggml.tokens", kTArray).U32(kTString).U64(2).Str("a");
  b.U64(500).Raw("bc");
  ExpectRefused(b.Take(), kDataLoss, {"key 'tokenizer.ggml.tokens' element 1", "string length 500"});
}

TEST(GgufMalformedTest, BoolOtherThanZeroOrOne) {
  GgufBytes b;
  b.Header(0, 1).KeyType("tokenizer.ggml.add_bos_token", kTBool).U8(2);
  ExpectRefused(b.Take(), kInvalid, {"key 'tokenizer.ggml.add_bos_token'", "bool value 2"});
}

TEST(GgufMalformedTest, DuplicateKeys) {
  GgufBytes b;
  b.Header(0, 3).KvU32("llama.block_count", 2).KvString("general.name", "x").KvU32("llama.block_count", 4);
  ExpectRefused(b.Take(), kInvalid, {"duplicate", "'llama.block_count'", "#0 and #2"});
}

TEST(GgufMalformedTest, EmptyKey) {
  GgufBytes b;
  b.Header(0, 1).KvU32("", 2);
  ExpectRefused(b.Take(), kInvalid, {"metadata key #0 is empty"});
}

TEST(GgufMalformedTest, AlignmentTooLarge) {
  GgufBytes b;
  b.Header(0, 1).KvU32("general.alignment", 1u << 31);
  ExpectRefused(b.Take(), kInvalid, {"'general.alignment' is 2147483648", "65536"});
}

TEST(GgufMalformedTest, AlignmentZero) {
  GgufBytes b;
  b.Header(0, 1).KvU32("general.alignment", 0);
  ExpectRefused(b.Take(), kInvalid, {"'general.alignment' is 0", "power of two"});
}

TEST(GgufMalformedTest, AlignmentNotPowerOfTwo) {
  GgufBytes b;
  b.Header(0, 1).KvU32("general.alignment", 3);
  ExpectRefused(b.Take(), kInvalid, {"'general.alignment' is 3", "power of two"});
}

TEST(GgufMalformedTest, AlignmentWrongType) {
  GgufBytes b;
  b.Header(0, 1).KeyType("general.alignment", kTI32).Put<int32_t>(32);
  ExpectRefused(b.Take(), kInvalid, {"'general.alignment' has type int32", "uint32"});
}

TEST(GgufMalformedTest, TruncatedTensorInfo) {
  GgufBytes b;
  b.Header(1, 0).Str("token_embd.weight").U32(2).U64(8).U64(10).U32(kGF32);  // offset missing
  b.U32(0);
  ExpectRefused(b.Take(), kDataLoss, {"tensor 'token_embd.weight' offset", "truncated"});
}

TEST(GgufMalformedTest, TensorNameLengthPastEnd) {
  GgufBytes b;
  b.Header(1, 0).U64(uint64_t{1} << 50).Raw("token_embd.weight").Zeros(40);
  ExpectRefused(b.Take(), kDataLoss, {"tensor #0 name", "string length 1125899906842624"});
}

TEST(GgufMalformedTest, EmptyTensorName) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("", {4}, kGF32, 0).PadTo(32).Zeros(16);
  ExpectRefused(b.Take(), kInvalid, {"tensor #0 has an empty name"});
}

TEST(GgufMalformedTest, NDimsZero) {
  GgufBytes b;
  b.Header(1, 0).Str("output_norm.weight").U32(0).U32(kGF32).U64(0).PadTo(32).Zeros(32);
  ExpectRefused(b.Take(), kInvalid, {"tensor 'output_norm.weight'", "n_dims is 0"});
}

TEST(GgufMalformedTest, NDimsFive) {
  ExpectRefused(OneTensor({1, 1, 1, 1, 1}, kGF32, 0, 32), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "n_dims is 5", "1 to 4"});
}

TEST(GgufMalformedTest, ZeroDimension) {
  ExpectRefused(OneTensor({4096, 0}, kGF32, 0, 32), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "dimension 1 is 0", "empty tensors"});
}

TEST(GgufMalformedTest, NegativeDimension) {
  ExpectRefused(OneTensor({static_cast<uint64_t>(-4096), 2}, kGF32, 0, 32), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "dimension 0 is 18446744073709547520", "negative"});
}

TEST(GgufMalformedTest, DimensionProductOverflows) {
  ExpectRefused(OneTensor({uint64_t{1} << 32, uint64_t{1} << 32}, kGF32, 0, 32), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "overflows"});
}

TEST(GgufMalformedTest, ByteSizeOverflows) {
  // 2^62 f32 elements fit an int64 count but not an int64 byte size.
  ExpectRefused(OneTensor({uint64_t{1} << 62}, kGF32, 0, 32), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "overflows"});
}

TEST(GgufMalformedTest, UnknownTensorType) {
  ExpectRefused(OneTensor({256}, 12 /* Q4_K */, 0, 256), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "unsupported tensor type id 12"});
}

TEST(GgufMalformedTest, RowNotWholeBlocks) {
  ExpectRefused(OneTensor({33, 2}, kGQ8_0, 0, 200), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "33 elements", "blocks of 32"});
}

TEST(GgufMalformedTest, MisalignedTensorOffset) {
  ExpectRefused(OneTensor({4}, kGF32, 8, 64), kInvalid,
                {"tensor 'blk.0.attn_q.weight'", "offset 8", "alignment 32"});
}

TEST(GgufMalformedTest, TensorDataPastEndOfFile) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("blk.0.attn_q.weight", {1024, 2}, kGF32, 4096).PadTo(32).Zeros(6000);
  const uint64_t size = b.size();
  ExpectRefused(b.Take(), kDataLoss,
                {"tensor 'blk.0.attn_q.weight'", "[offset 4096, 8192 bytes)",
                 "runs past end of file (" + std::to_string(size) + " bytes"});
}

TEST(GgufMalformedTest, TruncatedTensorData) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo("output_norm.weight", {16}, kGF32, 0).PadTo(32).Zeros(63);
  ExpectRefused(b.Take(), kDataLoss, {"tensor 'output_norm.weight'", "runs past end of file"});
}

TEST(GgufMalformedTest, HugeTensorOffset) {
  ExpectRefused(OneTensor({8}, kGF32, k2p63, 32), kDataLoss,
                {"tensor 'blk.0.attn_q.weight'", "offset 9223372036854775808"});
}

TEST(GgufMalformedTest, OverlappingTensors) {
  GgufBytes b;
  b.Header(2, 0).TensorInfo("a", {16}, kGF32, 0).TensorInfo("b", {8}, kGF32, 32);
  b.PadTo(32).Zeros(64);
  ExpectRefused(b.Take(), kInvalid, {"tensors 'a' [0, 64) and 'b' [32, 64) overlap"});
}

TEST(GgufMalformedTest, DuplicateTensorNames) {
  GgufBytes b;
  b.Header(2, 0).TensorInfo("output.weight", {8}, kGF32, 0).TensorInfo("output.weight", {8}, kGF32, 32);
  b.PadTo(32).Zeros(64);
  ExpectRefused(b.Take(), kInvalid, {"duplicate tensor name 'output.weight'", "#0 and #1"});
}

TEST(GgufMalformedTest, BinaryNamesAreEscaped) {
  GgufBytes b;
  b.Header(1, 0).TensorInfo(std::string("bad\x01name", 8), {0}, kGF32, 0).PadTo(32);
  ExpectRefused(b.Take(), kInvalid, {"tensor 'bad\\x01name'"});
}

TEST(GgufMalformedTest, ArrayOfInt32WhereFloatsExpected) {
  // Structurally valid, so the file opens; the typed getter refuses it.
  GgufBytes b;
  b.Header(0, 1).KvArray<int32_t>("tokenizer.ggml.scores", kTI32, {1, 2, 3});
  auto f = GgufFile::FromBytes(b.Take());
  ASSERT_TRUE(f.ok()) << f.status();
  const absl::Status s = (*f)->GetFloatArray("tokenizer.ggml.scores").status();
  EXPECT_EQ(s.code(), kInvalid);
  EXPECT_THAT(std::string(s.message()), HasSubstr("key 'tokenizer.ggml.scores'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("array of int32"));
}

}  // namespace
}  // namespace tessera
