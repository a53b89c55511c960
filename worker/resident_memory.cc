#include "worker/resident_memory.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {

int64_t ReadProcKibField(const char* path, const char* key) {
  std::ifstream file(path);
  const std::string prefix = std::string(key) + ":";
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind(prefix, 0) == 0) {
      std::istringstream in(line.substr(prefix.size()));
      int64_t kib = 0;
      in >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

int64_t ResidentBytes() { return ReadProcKibField("/proc/self/status", "VmRSS"); }

absl::StatusOr<std::string> GatherResidentMemory(Communicator& group, const GroupLayout& layout,
                                                 const proto::ShardPlan& plan, int64_t baseline_bytes) {
  int64_t mine[2] = {ResidentBytes(), baseline_bytes};
  std::vector<int64_t> all(2 * static_cast<size_t>(group.size()));
  if (auto s = group.AllGather(std::as_bytes(std::span<const int64_t>(mine, 2)),
                               std::as_writable_bytes(std::span<int64_t>(all)));
      !s.ok()) {
    return s;
  }
  constexpr double kMiB = 1024.0 * 1024.0;
  std::string out = absl::StrFormat("group %d resident memory after the run (weights: the plan's share)\n",
                                    layout.group);
  absl::StrAppend(&out,
                  "  rank stage tp  layers   resident MiB  grown MiB  plan: weights MiB  KV MiB  grown/weights\n");
  for (int r = 0; r < group.size() && r < plan.ranks_size(); ++r) {
    const proto::RankShard& rs = plan.ranks(r);
    const int64_t resident = all[2 * static_cast<size_t>(r)];
    const int64_t grown = resident - all[2 * static_cast<size_t>(r) + 1];
    absl::StrAppend(&out, absl::StrFormat("  %4d %5d %2d  [%d, %d) %13.1f %10.1f %18.1f %7.1f %14.2f\n", r,
                                          rs.stage(), rs.tp_rank(), rs.layers().begin(), rs.layers().end(),
                                          resident / kMiB, grown / kMiB, rs.weight_bytes() / kMiB,
                                          rs.kv_bytes() / kMiB,
                                          rs.weight_bytes() > 0 ? static_cast<double>(grown) / rs.weight_bytes()
                                                                : 0.0));
  }
  return out;
}

}  // namespace tessera
