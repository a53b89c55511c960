// kernel_bench: MatMul speed of the CPU backend on the medium model's shapes,
// as ratios of the machine probes.
//   decode  (GEMV, 1 row):    weight GB/s over the measured read bandwidth
//   prefill (512 rows):       GFLOP/s over the measured f32 FMA peak, by the
//                             path the backend picks (the GEMM; for Q8_0/Q4_0
//                             with VNNI the integer tiles, which can pass 1)
// Decode weights cycle through copies totalling >= 512 MiB so every call
// streams from DRAM, as in a model far larger than L3. Each figure is the best
// of three timed batches. The bandwidth and FMA peak a shared machine gives
// vary over time, so each ratio divides by the better of two probes taken
// just before and just after its figure. Two more tables time both MatMul
// paths at growing row counts (decode batches up to prefill) on the FFN's up
// and down projections: they are how CpuBackend's GEMV/GEMM threshold was
// chosen. --isa compares kernel paths (e.g. avx2,avx2-vnni) figure by figure.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "kernels/cpu/machine_probe.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/quant.h"

namespace tessera {
namespace {

struct Shape {
  int64_t in, out;  // W is out x in
};
constexpr Shape kShapes[] = {{1024, 1024}, {1024, 256}, {1024, 2816}, {2816, 1024}, {1024, 32000}};
constexpr DType kTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};
constexpr int64_t kPrefillRows = 512;

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 1;
  for (float& f : v) {
    s = s * 1664525u + 1013904223u;
    f = static_cast<float>(s >> 8) / 16777216.0f * 2.0f - 1.0f;
  }
  return v;
}

// `copies` identical copies of one random matrix, back to back.
struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<MatrixView> views;
};

Weights MakeWeights(DType type, const Shape& s, int64_t min_total_bytes) {
  const int64_t row_bytes = RowBytes(type, s.in).value();
  const int64_t matrix_bytes = row_bytes * s.out;
  const int64_t copies = std::max<int64_t>(1, (min_total_bytes + matrix_bytes - 1) / matrix_bytes);
  Weights w;
  w.bytes.resize(static_cast<size_t>(matrix_bytes * copies));
  const std::vector<float> src = Random(s.in, 7);
  for (int64_t r = 0; r < s.out; ++r) QuantizeRow(type, src.data(), s.in, w.bytes.data() + r * row_bytes);
  for (int64_t c = 1; c < copies; ++c) {
    std::memcpy(w.bytes.data() + c * matrix_bytes, w.bytes.data(), static_cast<size_t>(matrix_bytes));
  }
  for (int64_t c = 0; c < copies; ++c) {
    w.views.push_back(MatrixView{type, w.bytes.data() + c * matrix_bytes, s.out, s.in, row_bytes});
  }
  return w;
}

// Seconds per call: the best of three batches, each at least min_time / 3.
double TimePerCall(const std::function<void(int64_t)>& call, double min_time) {
  using Clock = std::chrono::steady_clock;
  call(0);  // warm-up: page faults, scratch allocation, thread wake-up
  int64_t reps = 1;
  double best = 1e30;
  int64_t i = 1;
  for (int batch = 0; batch < 3;) {
    const auto t0 = Clock::now();
    for (int64_t r = 0; r < reps; ++r) call(i++);
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    if (t < min_time / 3 && batch == 0 && reps < (int64_t{1} << 30)) {
      reps = std::max<int64_t>(reps * 2, static_cast<int64_t>(reps * (min_time / 3) / std::max(t, 1e-9)));
      continue;
    }
    best = std::min(best, t / static_cast<double>(reps));
    ++batch;
  }
  return best;
}

std::unique_ptr<Backend> Make(int threads, int64_t gemm_min_rows, CpuIsa isa) {
  CpuBackendOptions o;
  o.threads = threads;
  o.gemm_min_rows = gemm_min_rows;
  o.isa = isa;
  return MakeCpuBackend(o);
}

constexpr int64_t kForceGemv = int64_t{1} << 40;
constexpr int64_t kForceGemm = 1;

// Probes taken next to a figure: quicker than the headline probes, best of
// the runs before and after.
double NearbyBandwidth(ReadBandwidthProbe& probe, const std::function<void()>& measure) {
  const double before = probe.Measure(3);
  measure();
  return std::max(before, probe.Measure(3));
}

double NearbyPeak(int threads, const std::function<void()>& measure) {
  FmaPeakOptions o;
  o.iterations = 5'000'000;
  o.runs = 3;
  const double before = MeasureFmaPeak(threads, o);
  measure();
  return std::max(before, MeasureFmaPeak(threads, o));
}

// The inputs of one (type, shape) row group of the main table.
struct Case {
  DType type;
  Shape shape;
  Weights w;
  std::vector<float> x1, xp, y;
};

// One line of the main table: `c` on `threads` threads with `isa`; the GEMM
// half only with `gemm`.
void MainTableLine(Case& c, int threads, CpuIsa isa, ReadBandwidthProbe& probe, bool gemm_too,
                   double min_time) {
  const Shape& s = c.shape;
  const double bytes = static_cast<double>(c.w.views[0].row_bytes * s.out);
  const double flops = 2.0 * static_cast<double>(s.in * s.out * kPrefillRows);
  auto backend = Make(threads, 0, isa);
  double gemv = 0.0, gemm = 0.0, peak = 0.0;
  const double bw = NearbyBandwidth(probe, [&] {
    gemv = TimePerCall(
        [&](int64_t i) { backend->MatMul(c.w.views[i % c.w.views.size()], c.x1.data(), 1, c.y.data()); },
        min_time);
  });
  if (gemm_too) {
    peak = NearbyPeak(threads, [&] {
      gemm = TimePerCall(
          [&](int64_t) { backend->MatMul(c.w.views[0], c.xp.data(), kPrefillRows, c.y.data()); }, min_time);
    });
  }
  const double gbs = bytes / gemv / 1e9;
  char shape[32];
  std::snprintf(shape, sizeof(shape), "%lld->%lld", static_cast<long long>(s.in),
                static_cast<long long>(s.out));
  std::printf("%-5s %-12s %2d %-9s | %9.1f %7.2f %7.2f %6.3f", std::string(DTypeName(c.type)).c_str(),
              shape, threads, std::string(CpuIsaName(isa)).c_str(), gemv * 1e6, gbs, bw, gbs / bw);
  if (gemm_too) {
    const double gflops = flops / gemm / 1e9;
    std::printf(" | %8.2f %8.1f %8.1f %6.3f", gemm * 1e3, gflops, peak, gflops / peak);
  }
  std::printf("\n");
  std::fflush(stdout);
}

void MainTable(const std::vector<int>& thread_counts, const std::vector<DType>& types,
               const std::vector<CpuIsa>& isas,
               std::vector<std::unique_ptr<ReadBandwidthProbe>>& probes, bool gemm_too,
               double min_time) {
  std::printf("\n%-5s %-12s %2s %-9s | %9s %7s %7s %6s | %8s %8s %8s %6s\n", "type", "shape", "t",
              "isa", "gemv_us", "GB/s", "BW", "xBW", "gemm_ms", "GFLOP/s", "PEAK", "xPEAK");
  for (DType type : types) {
    for (const Shape& s : kShapes) {
      Case c{type, s, MakeWeights(type, s, int64_t{512} << 20), Random(s.in, 1),
             gemm_too ? Random(s.in * kPrefillRows, 2) : std::vector<float>(),
             std::vector<float>(static_cast<size_t>(s.out * kPrefillRows))};
      for (size_t ti = 0; ti < thread_counts.size(); ++ti) {
        for (CpuIsa isa : isas) MainTableLine(c, thread_counts[ti], isa, *probes[ti], gemm_too, min_time);
      }
    }
  }
}

// Both MatMul paths at growing row counts on shape s (the FFN's up and down
// projections): the GEMV/GEMM crossover per type.
void CrossoverTable(const Shape& s, int threads, const std::vector<DType>& types, CpuIsa isa,
                    double min_time) {
  const int64_t row_counts[] = {1, 2, 4, 6, 8, 12, 16, 24, 32, 64, 128, 512};
  std::printf("\nGEMV vs GEMM path, %lld->%lld, %d threads, %s: GFLOP/s (faster path marked *)\n",
              static_cast<long long>(s.in), static_cast<long long>(s.out), threads,
              std::string(CpuIsaName(isa)).c_str());
  std::printf("%-5s", "rows");
  for (int64_t n : row_counts) std::printf(" %13lld", static_cast<long long>(n));
  std::printf("\n");
  auto gemv = Make(threads, kForceGemv, isa);
  auto gemm = Make(threads, kForceGemm, isa);
  for (DType type : types) {
    const Weights w = MakeWeights(type, s, 0);
    const std::vector<float> x = Random(s.in * 512, 3);
    std::vector<float> y(static_cast<size_t>(s.out * 512));
    std::printf("%-5s", std::string(DTypeName(type)).c_str());
    for (int64_t n : row_counts) {
      const double flops = 2.0 * static_cast<double>(s.in * s.out * n);
      const double a = flops / TimePerCall([&](int64_t) { gemv->MatMul(w.views[0], x.data(), n, y.data()); }, min_time) / 1e9;
      const double b = flops / TimePerCall([&](int64_t) { gemm->MatMul(w.views[0], x.data(), n, y.data()); }, min_time) / 1e9;
      std::printf(" %5.1f%c/%5.1f%c", a, a >= b ? '*' : ' ', b, b > a ? '*' : ' ');
      std::fflush(stdout);
    }
    std::printf("\n");
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"CPU MatMul benchmark against the machine's read bandwidth and FMA peak"};
  std::vector<int> thread_counts = {1, 2};
  std::vector<std::string> type_names;
  std::vector<std::string> isa_names = {std::string(CpuIsaName(DetectCpuIsa()))};
  double min_time = 0.3;
  bool crossover = true;
  bool gemm_too = true;
  int64_t probe_mib = 1024;
  app.add_option("--threads", thread_counts, "thread counts to run")->delimiter(',');
  app.add_option("--types", type_names, "weight types (default: all)")->delimiter(',');
  app.add_option("--isa", isa_names,
                 "kernel paths to compare, each figure in turn (default: the best available; the "
                 "crossover table uses the last)")
      ->delimiter(',')
      ->check(CLI::IsMember({"scalar", "avx2", "avx2-vnni"}));
  app.add_option("--min-time", min_time, "seconds timed per figure");
  app.add_option("--probe-mib", probe_mib, "read-bandwidth probe buffer, MiB");
  app.add_flag("!--no-crossover", crossover, "skip the GEMV/GEMM crossover table");
  app.add_flag("!--no-gemm", gemm_too, "time only the GEMV (decode) half of the main table");
  CLI11_PARSE(app, argc, argv);

  std::vector<DType> types;
  for (const std::string& n : type_names) {
    auto t = ParseDType(n);
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
      return 2;
    }
    types.push_back(*t);
  }
  if (types.empty()) types.assign(std::begin(kTypes), std::end(kTypes));

  std::vector<CpuIsa> isas;
  for (const std::string& n : isa_names) {
    const CpuIsa isa = *ParseCpuIsa(n);
    if (ResolveCpuIsa(isa) != isa) {
      std::fprintf(stderr, "this CPU cannot run isa %s (best: %s)\n", n.c_str(),
                   std::string(CpuIsaName(DetectCpuIsa())).c_str());
      return 2;
    }
    isas.push_back(isa);
  }
  std::printf("isa %s (best available)\n", std::string(CpuIsaName(DetectCpuIsa())).c_str());
  std::vector<std::unique_ptr<ReadBandwidthProbe>> probes;
  for (int t : thread_counts) {
    probes.push_back(std::make_unique<ReadBandwidthProbe>(t, probe_mib << 20));
    std::printf("probe %d thread(s): read bandwidth %.2f GB/s, f32 FMA peak %.1f GFLOP/s\n", t,
                probes.back()->Measure(5), MeasureFmaPeak(t));
  }
  MainTable(thread_counts, types, isas, probes, gemm_too, min_time);
  if (crossover) {
    for (const Shape& s : {Shape{1024, 2816}, Shape{2816, 1024}}) {
      CrossoverTable(s, thread_counts.back(), types, isas.back(), min_time);
    }
  }
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Main(argc, argv); }
