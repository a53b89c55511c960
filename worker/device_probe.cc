#include "worker/device_probe.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/machine_probe.h"

namespace tessera {

int64_t AvailableMemoryPerRank(int local_ranks) {
  int64_t bytes = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream in(line.substr(13));
      int64_t kib = 0;
      if (in >> kib) bytes = kib * 1024;
      break;
    }
  }
  if (bytes <= 0) bytes = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
  return bytes / std::max(1, local_ranks);
}

proto::DeviceProfile NominalCpuProfile(int local_ranks, const std::string& why) {
  proto::DeviceProfile p;
  p.set_memory_bytes(AvailableMemoryPerRank(local_ranks));
  p.set_name(absl::StrCat("cpu-", std::string(CpuIsaName(DetectCpuIsa())), " (not probed: ", why, ")"));
  p.set_memory_bandwidth(10e9);
  p.set_compute_flops(100e9);
  return p;
}

proto::DeviceProfile ProbeCpuDevice(const ProbeOptions& options) {
  if (options.oversubscribed) {
    return NominalCpuProfile(options.local_ranks, absl::StrCat(options.local_ranks, " ranks share the cores"));
  }
  proto::DeviceProfile p;
  p.set_memory_bytes(AvailableMemoryPerRank(options.local_ranks));
  const std::string isa(CpuIsaName(DetectCpuIsa()));
  ReadBandwidthOptions bw;
  bw.bytes = int64_t{256} << 20;
  bw.runs = 2;
  FmaPeakOptions fma;
  fma.iterations = 2'000'000;
  fma.runs = 2;
  p.set_name(absl::StrCat("cpu-", isa, " ", options.threads, " thread", options.threads == 1 ? "" : "s"));
  p.set_memory_bandwidth(MeasureReadBandwidth(options.threads, bw) * 1e9);
  p.set_compute_flops(MeasureFmaPeak(options.threads, fma) * 1e9);
  return p;
}

}  // namespace tessera
