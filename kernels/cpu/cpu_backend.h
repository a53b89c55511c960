// The CPU backend: a scalar reference path, an AVX2/FMA path and the AVX2 path
// with AVX-512 VNNI dot products, chosen at run time, with work spread over a
// thread pool.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "kernels/backend.h"

namespace tessera {

// kAvx2Vnni ("avx2-vnni") is kAvx2 with the integer dot products of quantized
// MatMul done by AVX-512 VNNI (vpdpbusd on 256-bit vectors); every other
// kernel and the GEMM are the AVX2 ones.
enum class CpuIsa { kScalar, kAvx2, kAvx2Vnni };

// The best ISA this machine supports: kAvx2 needs AVX2, FMA and F16C;
// kAvx2Vnni also AVX512VNNI, AVX512VL and AVX512BW.
CpuIsa DetectCpuIsa();
// "scalar", "avx2", "avx2-vnni"; ParseCpuIsa is its inverse (nullopt for
// anything else).
std::string_view CpuIsaName(CpuIsa isa);
std::optional<CpuIsa> ParseCpuIsa(std::string_view name);
// Whether `isa` runs the AVX2/FMA/F16C kernels (kAvx2 and kAvx2Vnni).
constexpr bool UsesAvx2(CpuIsa isa) { return isa == CpuIsa::kAvx2 || isa == CpuIsa::kAvx2Vnni; }
// The ISA a backend runs for a request: unset gives DetectCpuIsa(); an ISA
// this machine lacks falls back to the best one it has below it (kAvx2Vnni
// to kAvx2 or kScalar, kAvx2 to kScalar).
CpuIsa ResolveCpuIsa(std::optional<CpuIsa> requested);

struct CpuBackendOptions {
  int threads = 0;                // 0: one per online core
  std::optional<CpuIsa> isa;      // see ResolveCpuIsa: unset is the best available
  // MatMul calls with at least this many rows take the blocked GEMM path of
  // the AVX2 backend, fewer the streaming GEMV path. 0: the measured default
  // for each weight type. Tests and benchmarks set it to force one path.
  int64_t gemm_min_rows = 0;
};

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options = {});

}  // namespace tessera
