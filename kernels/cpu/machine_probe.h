// Machine probes: the denominators of the kernel benchmarks' ratios. Both use
// every thread given, take the best of several runs, and on an AVX2 machine
// use the same 256-bit loads and FMAs the kernels use, so a ratio near 1 means
// a kernel runs at what the hardware can sustain.
#pragma once

#include <cstdint>
#include <memory>

namespace tessera {

class ThreadPool;

struct ReadBandwidthOptions {
  int64_t bytes = int64_t{1} << 30;  // far larger than any L3, so reads come from DRAM
  int runs = 5;
};

// Memory read bandwidth in GB/s (1e9 bytes per second): `threads` threads each
// sum a contiguous share of a buffer that was first touched by its reader.
double MeasureReadBandwidth(int threads, const ReadBandwidthOptions& options = {});

// The same probe with its buffer and threads kept, for measuring again and
// again next to other measurements (the bandwidth a shared machine gives
// varies over time, so a ratio is only fair against a probe taken close by).
class ReadBandwidthProbe {
 public:
  ReadBandwidthProbe(int threads, int64_t bytes);
  ~ReadBandwidthProbe();
  ReadBandwidthProbe(const ReadBandwidthProbe&) = delete;
  ReadBandwidthProbe& operator=(const ReadBandwidthProbe&) = delete;

  // Best of `runs` full passes over the buffer, GB/s.
  double Measure(int runs);

 private:
  int threads_;
  int64_t share_;  // floats per thread
  float* buf_;
  std::unique_ptr<ThreadPool> pool_;
};

struct FmaPeakOptions {
  int64_t iterations = 20'000'000;  // per thread; each runs 12 independent vector FMAs
  int runs = 5;
};

// Peak f32 FMA throughput in GFLOP/s, counting 2 FLOPs per FMA lane:
// 12 independent accumulator chains per thread cover the FMA latency (4
// cycles) times the FMA ports (2) with room to spare.
double MeasureFmaPeak(int threads, const FmaPeakOptions& options = {});

}  // namespace tessera
