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
};

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options = {});

}  // namespace tessera
