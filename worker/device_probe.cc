#include "worker/device_probe.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/factory/backend_factory.h"
#include "kernels/cpu/machine_probe.h"
#include "worker/resident_memory.h"

namespace tessera {

absl::StatusOr<std::string> ReadProfilesFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the profiles file '", path, "'"));
  return text.str();
}

int64_t AvailableMemoryPerRank(int local_ranks) {
  int64_t bytes = ReadProcKibField("/proc/meminfo", "MemAvailable");
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

int64_t GpuMemoryReserve(int64_t total_bytes) {
  return std::max<int64_t>(int64_t{1} << 30, total_bytes / 100 * 6);
}

absl::StatusOr<proto::DeviceProfile> ProbeGpuDevice(int ordinal) {
  auto gpu = ProbeGpu(ordinal);
  if (!gpu.ok()) return gpu.status();
  proto::DeviceProfile p;
  p.set_name(absl::StrCat("cuda:", ordinal, " ", gpu->name));
  p.set_memory_bytes(std::max<int64_t>(0, gpu->free_bytes - GpuMemoryReserve(gpu->total_bytes)));
  p.set_memory_bandwidth(gpu->bandwidth);
  p.set_compute_flops(gpu->flops);
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
