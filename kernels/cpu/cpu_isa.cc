#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_kernels.h"

namespace tessera {

CpuIsa DetectCpuIsa() {
  // The AVX2 path also uses FMA and F16C (half-float conversion); the VNNI
  // variant runs vpdpbusd on 256-bit vectors, which needs AVX512VL besides
  // AVX512VNNI, and its file is compiled with AVX512BW too.
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") ||
      !__builtin_cpu_supports("f16c")) {
    return CpuIsa::kScalar;
  }
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw")) {
    return CpuIsa::kAvx2Vnni;
  }
  return CpuIsa::kAvx2;
}

std::string_view CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return "scalar";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx2Vnni: return "avx2-vnni";
  }
  return "?";
}

std::optional<CpuIsa> ParseCpuIsa(std::string_view name) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx2Vnni}) {
    if (name == CpuIsaName(isa)) return isa;
  }
  return std::nullopt;
}

CpuIsa ResolveCpuIsa(std::optional<CpuIsa> requested) {
  const CpuIsa best = DetectCpuIsa();
  if (!requested) return best;
  switch (*requested) {
    case CpuIsa::kScalar: return CpuIsa::kScalar;
    case CpuIsa::kAvx2: return UsesAvx2(best) ? CpuIsa::kAvx2 : CpuIsa::kScalar;
    case CpuIsa::kAvx2Vnni: return best;
  }
  return CpuIsa::kScalar;
}

const CpuKernels& KernelsFor(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return kReferenceKernels;
    case CpuIsa::kAvx2: return kAvx2Kernels;
    case CpuIsa::kAvx2Vnni: return kAvx2VnniKernels;
  }
  return kReferenceKernels;
}

}  // namespace tessera
