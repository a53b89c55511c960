// Latency of the MPI communicator against raw blocking MPI, for the small
// messages of a tensor-parallel decode step (~50 all-reduces of a few KB per
// token). Run under mpirun, e.g.
//   mpirun -np 2 build/bench/comm_bench
// Prints, per operation and size, the median, 90th percentile and mean
// latency in microseconds as rank 0 sees it, and the ratio of tessera's
// median to the raw MPI call's (medians: a shared machine's hiccups land in
// the means).
#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "comm/mpi_communicator.h"
#include "comm/mpi_runtime.h"

namespace tessera {
namespace {

struct Latency {
  double median_us = 0;
  double p90_us = 0;
  double mean_us = 0;  // whole loop / iterations: immune to ranks drifting in and out of phase
};

// Times `op` `iters` times after `warmup` untimed calls; ranks start each
// size together.
Latency Time(MPI_Comm comm, int warmup, int iters, const std::function<bool()>& op) {
  for (int i = 0; i < warmup; ++i) {
    if (!op()) return {-1, -1, -1};
  }
  MPI_Barrier(comm);
  std::vector<double> us(iters);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!op()) return {-1, -1, -1};
    us[i] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  const double total = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  std::sort(us.begin(), us.end());
  return {us[iters / 2], us[iters * 9 / 10], total / iters};
}

void Row(int rank, const char* op, size_t bytes, const char* variant, Latency ours, Latency raw) {
  if (rank != 0) return;
  std::printf("%-12s %8zu  %-26s %8.2f %8.2f %8.2f   %8.2f %8.2f %8.2f   %6.2f\n", op, bytes, variant, ours.median_us,
              ours.p90_us, ours.mean_us, raw.median_us, raw.p90_us, raw.mean_us,
              raw.median_us > 0 ? ours.median_us / raw.median_us : 0.0);
}

std::string PolicyName(const PollPolicy& p) {
  char text[96];
  std::snprintf(text, sizeof text, "spin %.0f us, yield %.0f us, sleep %.0f us", absl::ToDoubleMicroseconds(p.spin),
                absl::ToDoubleMicroseconds(p.yield), absl::ToDoubleMicroseconds(p.sleep));
  return text;
}

// Burns `us` microseconds of this thread's CPU time: a fixed amount of work
// however the ranks share the cores.
void Compute(int us) {
  timespec t0, t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  do {
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

// What the polling policy is for: ranks alternate a layer's compute (a fixed
// amount of CPU work) with a 16 KB all-reduce, like a tensor-parallel decode.
// When ranks share cores, waiting ranks that spin take CPU from computing
// ones; the step time per policy shows the trade. `uneven`: only even ranks
// compute (twice as long), as when pipeline stages wait on each other.
void DecodeSteps(MpiCommunicator& world, int steps, int compute_us, bool uneven,
                 const std::vector<PollPolicy>& policies) {
  const PollPolicy saved = world.poll_policy();
  std::vector<float> act(4096, 1.0f);
  if (world.rank() == 0) {
    std::printf("\n%s steps (%d us of CPU work%s, then a 16 KB all-reduce), %d steps:\n", uneven ? "uneven" : "even",
                uneven ? 2 * compute_us : compute_us, uneven ? " on even ranks, none on odd ones" : " per rank", steps);
  }
  for (const PollPolicy& p : policies) {
    world.set_poll_policy(p);
    if (!world.Barrier(absl::Seconds(30)).ok()) return;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) {
      Compute(uneven ? (world.rank() % 2 == 0 ? 2 * compute_us : 0) : compute_us);
      std::fill(act.begin(), act.end(), 1.0f);
      if (!world.AllReduceSum(std::span<float>(act), absl::Seconds(30)).ok()) return;
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    if (world.rank() == 0) std::printf("  %-45s %9.1f us per step\n", PolicyName(p).c_str(), us / steps);
  }
  world.set_poll_policy(saved);
}

int Main(int argc, char** argv) {
  CLI::App app("tessera communicator latency benchmark (run under mpirun)");
  int iters = 2000, warmup = 200;
  std::vector<size_t> sizes = {4096, 16384, 65536};
  std::string policy = "auto";
  double spin_us = -1, yield_us = -1, sleep_us = -1;
  int compute_us = 200, steps = 300;
  app.add_option("--iters", iters, "timed calls per measurement")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed calls before each measurement")->check(CLI::NonNegativeNumber);
  app.add_option("--sizes", sizes, "payload sizes in bytes (multiples of 4), comma-separated")->delimiter(',');
  app.add_option("--policy", policy, "polling: auto (from oversubscription), dedicated, shared")
      ->check(CLI::IsMember({"auto", "dedicated", "shared"}));
  app.add_option("--spin-us", spin_us, "override the policy's spin phase");
  app.add_option("--yield-us", yield_us, "override the policy's yield phase");
  app.add_option("--sleep-us", sleep_us, "override the policy's sleep between polls");
  app.add_option("--compute-us", compute_us, "CPU time of the simulated layer in the decode-like steps")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--steps", steps, "decode-like steps per policy (0: skip)")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<std::unique_ptr<MpiRuntime>> mpi = MpiRuntime::Init(&argc, &argv);
  if (!mpi.ok()) {
    std::fprintf(stderr, "%s\n", mpi.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Communicator>> world_or = (*mpi)->World();
  if (!world_or.ok()) {
    std::fprintf(stderr, "%s\n", world_or.status().ToString().c_str());
    return 1;
  }
  auto& world = dynamic_cast<MpiCommunicator&>(**world_or);
  if (policy == "dedicated") world.set_poll_policy(PollPolicy::Dedicated());
  if (policy == "shared") world.set_poll_policy(PollPolicy::Shared());
  PollPolicy chosen = world.poll_policy();
  if (spin_us >= 0) chosen.spin = absl::Microseconds(spin_us);
  if (yield_us >= 0) chosen.yield = absl::Microseconds(yield_us);
  if (sleep_us >= 0) chosen.sleep = absl::Microseconds(sleep_us);
  world.set_poll_policy(chosen);
  const MPI_Comm raw = world.mpi_comm();
  const int rank = world.rank(), n = world.size();
  if (rank == 0) {
    std::printf("comm_bench: %d ranks, %d on this host, %u hardware threads: %s; polling %s; %d iterations\n", n,
                (*mpi)->local_size(), std::thread::hardware_concurrency(),
                (*mpi)->Oversubscribed() ? "oversubscribed" : "dedicated cores", PolicyName(chosen).c_str(), iters);
    std::printf("%-12s %8s  %-26s %8s %8s %8s   %8s %8s %8s   %6s\n", "op", "bytes", "tessera variant", "med us",
                "p90 us", "mean us", "raw med", "raw p90", "raw mean", "ratio");
  }
  const absl::Duration timeout = absl::Seconds(30);
  for (size_t bytes : sizes) {
    const size_t count = bytes / sizeof(float);
    std::vector<float> data(count, 1.0f), scratch(count, 1.0f);
    const Latency raw_allreduce = Time(raw, warmup, iters, [&] {
      std::fill(scratch.begin(), scratch.end(), 1.0f);
      return MPI_Allreduce(MPI_IN_PLACE, scratch.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM, raw) ==
             MPI_SUCCESS;
    });
    const Latency raw_iallreduce = Time(raw, warmup, iters, [&] {
      std::fill(scratch.begin(), scratch.end(), 1.0f);
      MPI_Request req;
      if (MPI_Iallreduce(MPI_IN_PLACE, scratch.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM, raw, &req) !=
          MPI_SUCCESS) {
        return false;
      }
      return MPI_Wait(&req, MPI_STATUS_IGNORE) == MPI_SUCCESS;
    });
    auto ours = [&] {
      std::fill(data.begin(), data.end(), 1.0f);
      return world.AllReduceSum(std::span<float>(data), timeout).ok();
    };
    world.set_p2p_allreduce_limit(MpiCommunicator::kDefaultP2pAllReduceLimit);
    Row(rank, "all-reduce", bytes,
        bytes <= MpiCommunicator::kDefaultP2pAllReduceLimit ? "default: recursive doubling" : "default: Iallreduce",
        Time(raw, warmup, iters, ours), raw_allreduce);
    world.set_p2p_allreduce_limit(0);
    Row(rank, "all-reduce", bytes, "forced MPI_Iallreduce", Time(raw, warmup, iters, ours), raw_allreduce);
    world.set_p2p_allreduce_limit(MpiCommunicator::kDefaultP2pAllReduceLimit);
    Row(rank, "all-reduce", bytes, "(raw MPI_Iallreduce+Wait)", raw_iallreduce, raw_allreduce);

    std::vector<std::byte> send(bytes / n), recv(send.size() * n);
    const Latency raw_allgather = Time(raw, warmup, iters, [&] {
      const int c = static_cast<int>(send.size());
      return MPI_Allgather(send.data(), c, MPI_BYTE, recv.data(), c, MPI_BYTE, raw) == MPI_SUCCESS;
    });
    Row(rank, "all-gather", recv.size(), "ring (p2p)",
        Time(raw, warmup, iters,
             [&] {
               return world.AllGather(std::span<const std::byte>(send), std::span<std::byte>(recv), timeout).ok();
             }),
        raw_allgather);

    std::vector<std::byte> step(bytes);
    const Latency raw_bcast = Time(raw, warmup, iters, [&] {
      return MPI_Bcast(step.data(), static_cast<int>(step.size()), MPI_BYTE, 0, raw) == MPI_SUCCESS;
    });
    Row(rank, "broadcast", bytes, "binomial tree (p2p)",
        Time(raw, warmup, iters, [&] { return world.Broadcast(std::span<std::byte>(step), 0, timeout).ok(); }),
        raw_bcast);

    // Ping-pong between ranks 0 and 1: half a round trip per sample.
    if (n >= 2) {
      std::vector<std::byte> msg(bytes);
      const int peer = rank == 0 ? 1 : 0;
      const bool player = rank < 2;
      const Latency raw_pp = Time(raw, warmup, iters, [&] {
        if (!player) return true;
        const int c = static_cast<int>(msg.size());
        if (rank == 0) {
          return MPI_Send(msg.data(), c, MPI_BYTE, peer, 0, raw) == MPI_SUCCESS &&
                 MPI_Recv(msg.data(), c, MPI_BYTE, peer, 0, raw, MPI_STATUS_IGNORE) == MPI_SUCCESS;
        }
        return MPI_Recv(msg.data(), c, MPI_BYTE, peer, 0, raw, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
               MPI_Send(msg.data(), c, MPI_BYTE, peer, 0, raw) == MPI_SUCCESS;
      });
      const Latency ours_pp = Time(raw, warmup, iters, [&] {
        if (!player) return true;
        if (rank == 0) {
          return world.Send(msg, peer, 1, timeout).ok() && world.Recv(std::span<std::byte>(msg), peer, 1, timeout).ok();
        }
        return world.Recv(std::span<std::byte>(msg), peer, 1, timeout).ok() && world.Send(msg, peer, 1, timeout).ok();
      });
      auto half = [](Latency l) { return Latency{l.median_us / 2, l.p90_us / 2, l.mean_us / 2}; };
      Row(rank, "ping-pong/2", bytes, "Isend / Irecv", half(ours_pp), half(raw_pp));
    }
  }
  if (steps > 0) {
    for (bool uneven : {false, true}) {
      DecodeSteps(world, steps, compute_us, uneven, {chosen, PollPolicy::Dedicated(), PollPolicy::Shared()});
    }
  }
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Main(argc, argv); }
