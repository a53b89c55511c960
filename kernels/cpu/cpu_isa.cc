#include "kernels/cpu/cpu_backend.h"

namespace tessera {

CpuIsa DetectCpuIsa() {
  // The AVX2 path also uses FMA and F16C (half-float conversion).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c")) {
    return CpuIsa::kAvx2;
  }
  return CpuIsa::kScalar;
}

std::string_view CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return "scalar";
    case CpuIsa::kAvx2: return "avx2";
  }
  return "?";
}

}  // namespace tessera
