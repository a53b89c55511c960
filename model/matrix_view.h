// A borrowed view of a 2-D weight matrix as stored in a GGUF file: `rows`
// output features, each a contiguous run of `cols` input elements encoded in
// `type` (GGUF dims are ne0 = cols, ne1 = rows).
#pragma once

#include <cstdint>

#include "model/dtype.h"

namespace tessera {

struct MatrixView {
  DType type = DType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;  // RowBytes(type, cols)

  const uint8_t* Row(int64_t r) const { return data + r * row_bytes; }
  // Rows [begin, end): the slice a tensor-parallel rank owns of a column-split
  // matrix, with no copy.
  MatrixView RowRange(int64_t begin, int64_t end) const {
    return MatrixView{type, data + begin * row_bytes, end - begin, cols, row_bytes};
  }
};

}  // namespace tessera
