// The CPU backend: a scalar reference path and an AVX2/FMA path chosen at run
// time, with work spread over a thread pool.
#pragma once

#include <memory>
#include <optional>

#include "kernels/backend.h"

namespace tessera {

enum class CpuIsa { kScalar, kAvx2 };

// The best ISA this machine supports (kAvx2 needs AVX2, FMA and F16C).
CpuIsa DetectCpuIsa();
std::string_view CpuIsaName(CpuIsa isa);

struct CpuBackendOptions {
  int threads = 0;                // 0: one per online core
  std::optional<CpuIsa> isa;      // unset: DetectCpuIsa(); kAvx2 on a machine without it falls back
  // MatMul calls with at least this many rows take the blocked GEMM path of
  // the AVX2 backend, fewer the streaming GEMV path. 0: the measured default
  // for each weight type. Tests and benchmarks set it to force one path.
  int64_t gemm_min_rows = 0;
};

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options = {});

}  // namespace tessera
