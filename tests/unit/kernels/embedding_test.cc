// Embedding: each token's row, dequantized exactly as model/quant.h does, and
// zeros for ids outside the table's slice of the vocabulary (a
// vocabulary-parallel rank holds rows [id_offset, id_offset + rows)).
#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "model/half.h"
#include "model/quant.h"
#include "tests/unit/kernels/kernel_test_util.h"

namespace tessera::testing {
namespace {

constexpr DType kTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};

TEST(EmbeddingTest, IsTheExactDequantizedRow) {
  const int32_t tokens[] = {3, 0, 3, 10, 7};
  for (DType type : kTypes) {
    const bool quantized = type == DType::kQ8_0 || type == DType::kQ4_0;
    const int64_t cols = quantized ? 96 : 75;
    const TestMatrix m = MakeMatrix(type, 11, cols, 21);
    for (const BackendCase& bc : BackendCases()) {
      auto backend = MakeBackend(bc);
      std::vector<float> out(std::size(tokens) * cols, NAN);
      backend->Embedding(m.view, tokens, std::ssize(tokens), 0, out.data());
      for (size_t i = 0; i < std::size(tokens); ++i) {
        for (int64_t k = 0; k < cols; ++k) {
          ASSERT_EQ(FloatBits(out[i * cols + k]), FloatBits(m.dequant[tokens[i] * cols + k]))
              << DTypeName(type) << " " << bc.Name() << " token " << i << " col " << k;
        }
      }
    }
  }
}

// The integer behind element (r, c) of the hand-made tables below; every
// element is 0.25 * HandQ, exact in each type.
int HandQ(DType type, int64_t r, int64_t c) {
  const int64_t x = c + 3 * r;
  return type == DType::kQ4_0 ? static_cast<int>(x % 16) - 8 : static_cast<int>(x % 64) - 32;
}

// A rows x 64 table of `type` whose element (r, c) is 0.25 * HandQ(type, r, c),
// encoded by hand (quantized types: one scale of 0.25 per block).
std::vector<uint8_t> HandTable(DType type, int64_t rows, int64_t cols) {
  const int64_t row_bytes = RowBytes(type, cols).value();
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * row_bytes));
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = bytes.data() + r * row_bytes;
    for (int64_t c = 0; c < cols; ++c) {
      const int q = HandQ(type, r, c);
      const float f = 0.25f * static_cast<float>(q);
      switch (type) {
        case DType::kF32:
          std::memcpy(row + 4 * c, &f, 4);
          break;
        case DType::kF16:
        case DType::kBF16: {
          const uint16_t h = type == DType::kF16 ? FloatToFp16(f) : FloatToBf16(f);
          std::memcpy(row + 2 * c, &h, 2);
          break;
        }
        case DType::kQ8_0: {
          auto* b = reinterpret_cast<BlockQ8_0*>(row) + c / kQBlock;
          b->d = FloatToFp16(0.25f);
          b->qs[c % kQBlock] = static_cast<int8_t>(q);
          break;
        }
        case DType::kQ4_0: {
          auto* b = reinterpret_cast<BlockQ4_0*>(row) + c / kQBlock;
          b->d = FloatToFp16(0.25f);
          const int j = static_cast<int>(c % kQBlock);
          const uint8_t nibble = static_cast<uint8_t>(q + 8);
          uint8_t& byte = b->qs[j % (kQBlock / 2)];
          byte = j < kQBlock / 2 ? static_cast<uint8_t>((byte & 0xf0) | nibble)
                                 : static_cast<uint8_t>((byte & 0x0f) | (nibble << 4));
          break;
        }
      }
    }
  }
  return bytes;
}

TEST(EmbeddingTest, IdsOutsideTheSliceGiveZeros) {
  // The table is the vocabulary slice [40, 46).
  const int64_t rows = 6, cols = 64, offset = 40;
  const int32_t tokens[] = {41, 39, 45, 46, 40, 0, -3, 1000, 43};
  for (DType type : kTypes) {
    const std::vector<uint8_t> bytes = HandTable(type, rows, cols);
    const MatrixView table{type, bytes.data(), rows, cols, RowBytes(type, cols).value()};
    for (const BackendCase& bc : BackendCases()) {
      auto backend = MakeBackend(bc);
      std::vector<float> out(std::size(tokens) * cols, NAN);
      backend->Embedding(table, tokens, std::ssize(tokens), offset, out.data());
      for (size_t i = 0; i < std::size(tokens); ++i) {
        const int64_t r = tokens[i] - offset;
        const bool inside = r >= 0 && r < rows;
        for (int64_t c = 0; c < cols; ++c) {
          const float want = inside ? 0.25f * static_cast<float>(HandQ(type, r, c)) : 0.0f;
          ASSERT_EQ(FloatBits(out[i * cols + c]), FloatBits(want))
              << DTypeName(type) << " " << bc.Name() << " token " << tokens[i] << " col " << c;
        }
      }
    }
  }
}

TEST(EmbeddingTest, ManyTokensWithAnOffsetUseEveryThreadCorrectly) {
  // Enough rows to spread over the pool; about a third fall outside the slice
  // [100, 150).
  const int64_t offset = 100, cols = 1024;
  const TestMatrix m = MakeMatrix(DType::kF16, 50, cols, 4);
  std::vector<int32_t> tokens(200);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(75 + (i * 7) % 100);
  const std::vector<float> zeros(cols, 0.0f);
  for (const BackendCase& bc : BackendCases()) {
    auto backend = MakeBackend(bc);
    std::vector<float> out(tokens.size() * cols, NAN);
    backend->Embedding(m.view, tokens.data(), std::ssize(tokens), offset, out.data());
    for (size_t i = 0; i < tokens.size(); ++i) {
      const int64_t r = tokens[i] - offset;
      const float* want = r >= 0 && r < 50 ? m.dequant.data() + r * cols : zeros.data();
      ASSERT_EQ(0, std::memcmp(out.data() + i * cols, want, cols * sizeof(float)))
          << bc.Name() << " token " << tokens[i];
    }
  }
}

}  // namespace
}  // namespace tessera::testing
