// The decode path of Q8_0/Q4_0 MatMul: y = x * W^T for up to kQuantGemvRows
// activation rows already quantized to Q8_0 blocks (cuda_quant_rows.cu).
//
// Decoding is bound by reading W, so each CTA owns one output feature o and
// streams its row once for all activation rows. The CTA's threads split the
// row's blocks: a Q8_0 block (34 bytes) goes to 4 consecutive threads, a Q4_0
// block (18 bytes) to 2, each taking 8 payload bytes, so consecutive threads
// read consecutive bytes of the row (a warp reads 8 Q8_0 or 16 Q4_0 blocks,
// 272 or 288 contiguous bytes, per step).
//
// Blocks are only 2-byte aligned (odd sizes, and a row slice may start
// anywhere), so the 32-bit words __dp4a takes are assembled from 16-bit
// loads. Per block the integer dot product is exact; it is scaled by d_w * d_x
// and accumulated in f32, then reduced over the CTA, matching the CPU's
// sum over blocks of d_w * d_x * isum.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_dequant.cuh"
#include "kernels/cuda/cuda_quant.h"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

// 4 bytes at a 2-byte aligned address as one little-endian word: byte 0
// (element 0 of the group) in the low byte, as __dp4a reads its operands.
__device__ __forceinline__ int LoadWord(const uint8_t* p) {
  const unsigned short* h = reinterpret_cast<const unsigned short*>(p);
  return static_cast<int>(static_cast<uint32_t>(__ldg(h)) | (static_cast<uint32_t>(__ldg(h + 1)) << 16));
}

__device__ __forceinline__ float LoadScale(const uint8_t* block) {
  return __half2float(__ushort_as_half(__ldg(reinterpret_cast<const unsigned short*>(block))));
}

template <DType kType>
struct Layout;
template <>
struct Layout<DType::kQ8_0> {
  static constexpr int kBytes = kQ8Bytes;
  static constexpr int kThreadsPerBlock = 4;  // x 8 payload bytes = 32 values
};
template <>
struct Layout<DType::kQ4_0> {
  static constexpr int kBytes = kQ4Bytes;
  static constexpr int kThreadsPerBlock = 2;  // x 8 payload bytes = 16 bytes of nibbles
};

// Integer dot product of this thread's share of a weight block with the
// same share of activation block `xb` (32 int8, 32-byte aligned).
//   Q8_0: payload bytes [8 part, 8 part + 8) are elements 8 part .. + 7.
//   Q4_0: payload bytes [8 part, 8 part + 8) hold elements 8 part .. + 7 in
//         their low nibbles and 16 + 8 part .. + 7 in their high nibbles;
//         shifting the word right by 4 moves every high nibble down, and
//         __vsub4 takes 8 off each byte (0..15 -> -8..7) without borrows.
template <DType kType>
struct WeightShare {
  int w[kType == DType::kQ8_0 ? 2 : 4];

  __device__ __forceinline__ void Load(const uint8_t* payload) {
    const int w0 = LoadWord(payload), w1 = LoadWord(payload + 4);
    if constexpr (kType == DType::kQ8_0) {
      w[0] = w0;
      w[1] = w1;
    } else {
      const unsigned u0 = static_cast<unsigned>(w0), u1 = static_cast<unsigned>(w1);
      w[0] = static_cast<int>(__vsub4(u0 & 0x0f0f0f0fu, 0x08080808u));
      w[1] = static_cast<int>(__vsub4(u1 & 0x0f0f0f0fu, 0x08080808u));
      w[2] = static_cast<int>(__vsub4((u0 >> 4) & 0x0f0f0f0fu, 0x08080808u));
      w[3] = static_cast<int>(__vsub4((u1 >> 4) & 0x0f0f0f0fu, 0x08080808u));
    }
  }

  __device__ __forceinline__ int Dot(const int8_t* xb, int part) const {
    if constexpr (kType == DType::kQ8_0) {
      const int2 lo = *reinterpret_cast<const int2*>(xb + 8 * part);
      return __dp4a(w[0], lo.x, __dp4a(w[1], lo.y, 0));
    } else {
      const int2 lo = *reinterpret_cast<const int2*>(xb + 8 * part);
      const int2 hi = *reinterpret_cast<const int2*>(xb + 16 + 8 * part);
      return __dp4a(w[0], lo.x, __dp4a(w[1], lo.y, __dp4a(w[2], hi.x, __dp4a(w[3], hi.y, 0))));
    }
  }
};

// Grid: one CTA per output feature (blockIdx.x = o).
template <DType kType, int kRows>
__global__ void __launch_bounds__(kThreads)
    QuantGemvKernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t blocks, int64_t out_features,
                    const int8_t* __restrict__ xq, const float* __restrict__ xd, float* __restrict__ y) {
  using L = Layout<kType>;
  constexpr int kBlocksPerStep = kThreads / L::kThreadsPerBlock;
  const int64_t o = blockIdx.x;
  const uint8_t* row = w + o * row_bytes;
  const int part = threadIdx.x % L::kThreadsPerBlock;

  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;

  // Unrolled so that several steps' weight loads are in flight at once.
#pragma unroll 4
  for (int64_t b = threadIdx.x / L::kThreadsPerBlock; b < blocks; b += kBlocksPerStep) {
    const uint8_t* block = row + b * L::kBytes;
    const float dw = LoadScale(block);
    WeightShare<kType> share;
    share.Load(block + 2 + 8 * part);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t xb = r * blocks + b;
      const int isum = share.Dot(xq + xb * kQBlock, part);
      acc[r] = fmaf(dw * __ldg(xd + xb), static_cast<float>(isum), acc[r]);
    }
  }

  // Sum over the warp, then over the CTA's warps.
  __shared__ float partial[kWarps][kRows];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    float s = acc[r];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_xor_sync(0xffffffffu, s, offset);
    if (lane == 0) partial[warp][r] = s;
  }
  __syncthreads();
  if (threadIdx.x < kRows) {
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < kWarps; ++i) s += partial[i][threadIdx.x];
    y[threadIdx.x * out_features + o] = s;
  }
}

template <DType kType, int kRows>
void Launch(const MatrixView& w, const int8_t* qs, const float* d, float* y, cudaStream_t stream) {
  QuantGemvKernel<kType, kRows><<<static_cast<unsigned>(w.rows), kThreads, 0, stream>>>(
      w.data, w.row_bytes, w.cols / kQBlock, w.rows, qs, d, y);
}

template <DType kType>
void LaunchRows(const MatrixView& w, const int8_t* qs, const float* d, int64_t n_rows, float* y,
                cudaStream_t stream) {
  static_assert(kQuantGemvRows == 8, "one instantiation per row count below");
  switch (n_rows) {
    case 1: return Launch<kType, 1>(w, qs, d, y, stream);
    case 2: return Launch<kType, 2>(w, qs, d, y, stream);
    case 3: return Launch<kType, 3>(w, qs, d, y, stream);
    case 4: return Launch<kType, 4>(w, qs, d, y, stream);
    case 5: return Launch<kType, 5>(w, qs, d, y, stream);
    case 6: return Launch<kType, 6>(w, qs, d, y, stream);
    case 7: return Launch<kType, 7>(w, qs, d, y, stream);
    case 8: return Launch<kType, 8>(w, qs, d, y, stream);
    default: return;
  }
}

}  // namespace

void LaunchQuantGemv(const MatrixView& w, const int8_t* qs, const float* d, int64_t n_rows, float* y,
                     cudaStream_t stream) {
  if (w.rows <= 0 || n_rows <= 0) return;
  if (w.type == DType::kQ8_0) {
    LaunchRows<DType::kQ8_0>(w, qs, d, n_rows, y, stream);
  } else if (w.type == DType::kQ4_0) {
    LaunchRows<DType::kQ4_0>(w, qs, d, n_rows, y, stream);
  }
}

}  // namespace tessera::cuda
