#include "kernels/cpu/host_memory.h"

#include <sys/sysinfo.h>

#include <cstdlib>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tessera {

absl::StatusOr<BackendBuffer> AllocateHostMemory(int64_t bytes) {
  if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("Allocate of ", bytes, " bytes"));
  if (bytes == 0) return BackendBuffer(nullptr, [](void*) {});
  // More than the machine's memory and swap is refused up front, as the
  // kernel's overcommit heuristic would (and before a sanitizer's allocator,
  // which aborts on absurd sizes, sees it).
  struct sysinfo info {};
  const bool known = sysinfo(&info) == 0;
  const int64_t unit = known ? static_cast<int64_t>(info.mem_unit) : 0;
  const int64_t total = known ? static_cast<int64_t>(info.totalram + info.totalswap) * unit : 0;
  const int64_t free_bytes = known ? static_cast<int64_t>(info.freeram + info.freeswap) * unit : 0;
  auto exhausted = [&] {
    return absl::ResourceExhaustedError(absl::StrCat("Allocate of ", bytes, " bytes of host memory: ",
                                                     free_bytes, " of ", total,
                                                     " bytes of memory and swap free"));
  };
  if (known && bytes > total) return exhausted();
  // aligned_alloc wants a multiple of the alignment. Nothing writes the
  // memory here: a large KV cache that is mostly unused then costs no
  // resident memory (the executor zeroes only what it uses).
  constexpr int64_t kAlign = 64;
  if (bytes > std::numeric_limits<int64_t>::max() - kAlign) return exhausted();
  const size_t rounded = static_cast<size_t>((bytes + kAlign - 1) / kAlign * kAlign);
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) return exhausted();
  return BackendBuffer(p, [](void* q) { std::free(q); });
}

}  // namespace tessera
