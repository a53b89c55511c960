// Decode throughput of one replica group under mpirun, with what it costs to
// communicate: bytes each rank exchanges per token per layer, and the share
// of the run each rank spends inside communicator calls. The ratios the
// sharding issue asks for (tp=2 over tp=1, pp=2 over pp=1) come from running
// it for each shape: bench/group_bench.sh does that and prints them.
//
//   mpirun -np 2 group_bench --model M.gguf --tp 2 --threads 1 --sequences 1 --tokens 64
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "comm/mpi_runtime.h"
#include "partition/partitioner.h"
#include "worker/group_generate.h"
#include "worker/group_startup.h"
#include "worker/resident_memory.h"

namespace tessera {
namespace {

struct Args {
  std::string model;
  int tp = 1, pp = 1, threads = 1;
  int sequences = 1;
  int64_t tokens = 64;
  int64_t prompt_tokens = 4;
  int64_t warmup_tokens = 8;
  int in_flight = 0;  // steps in flight; 0 = pp (every stage busy)
  bool memory = false;
};

// Per-rank figures gathered to the leader.
struct RankFigures {
  double tp_bytes = 0, tp_seconds = 0, tp_ops = 0;
  double group_bytes = 0, group_seconds = 0;
  double compute_seconds = 0;
  double layers = 0;
};

int Run(const Args& a, MpiRuntime& mpi) {
  const int64_t baseline_rss = ResidentBytes();
  auto world = mpi.World();
  if (!world.ok()) return std::fprintf(stderr, "%s\n", world.status().ToString().c_str()), 1;
  GroupOptions g;
  g.model_path = a.model;
  g.tp = a.tp;
  g.pp = a.pp;
  g.threads = a.threads;
  g.local_ranks = mpi.local_size();
  g.oversubscribed = mpi.Oversubscribed();
  g.probe = false;  // equal ranks: the benchmark compares shapes, not devices
  g.kv_tokens = a.sequences * (a.prompt_tokens + a.warmup_tokens + a.tokens) + 64;
  auto member = StartGroupMember(**world, g);
  if (!member.ok()) {
    if ((*world)->rank() == 0) std::fprintf(stderr, "error: %s\n", std::string(member.status().message()).c_str());
    return 1;
  }
  GroupMember& m = **member;
  if (m.layout.groups != 1) {
    if (m.layout.leader()) std::fprintf(stderr, "error: run one group (-np tp*pp)\n");
    return 1;
  }
  const ModelConfig& c = m.model->config;

  double decode_tok_s = 0.0, wall = 0.0;
  if (m.layout.leader()) {
    GroupLeader leader(*m.runner, *m.comms.group);
    auto requests = [&](int64_t tokens, uint64_t salt) {
      std::vector<GroupRequest> reqs;
      for (int s = 0; s < a.sequences; ++s) {
        GroupRequest r;
        r.seq_id = static_cast<int64_t>(salt * 1000 + s);
        for (int64_t i = 0; i < a.prompt_tokens; ++i) {
          r.prompt.push_back(static_cast<int32_t>((salt * 7919 + s * 104729 + i * 31) % c.vocab_size));
        }
        r.max_tokens = tokens;
        reqs.push_back(std::move(r));
      }
      return reqs;
    };
    if (auto w = GenerateOnGroup(leader, requests(a.warmup_tokens, 1), {}); !w.ok()) {
      std::fprintf(stderr, "warmup: %s\n", w.status().ToString().c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    // Every rank zeroes its counters at the measured run's first step.
    const auto reqs = requests(a.tokens, 2);
    GroupGenerateOptions go;
    go.reset_stats = true;
    go.max_in_flight = a.in_flight;
    const double t0 = MPI_Wtime();
    auto out = GenerateOnGroup(leader, reqs, go);
    wall = MPI_Wtime() - t0;
    if (!out.ok()) {
      std::fprintf(stderr, "run: %s\n", out.status().ToString().c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double last_first = 0, last_end = 0;
    int64_t decoded = 0;
    for (const GroupOutput& o : *out) {
      last_first = std::max(last_first, o.first_token_seconds);
      last_end = std::max(last_end, o.seconds);
      decoded += static_cast<int64_t>(o.tokens.size()) - 1;
    }
    decode_tok_s = decoded / (last_end - last_first);
    if (auto s = leader.Stop(); !s.ok()) MPI_Abort(MPI_COMM_WORLD, 1);
  } else if (auto s = m.runner->Serve(); !s.ok()) {
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  RankFigures mine;
  if (m.comms.tp) {
    mine.tp_bytes = static_cast<double>(m.comms.tp->stats().bytes_sent);
    mine.tp_seconds = m.comms.tp->stats().seconds;
    mine.tp_ops = static_cast<double>(m.comms.tp->stats().ops);
  }
  mine.group_bytes = static_cast<double>(m.comms.group->stats().bytes_sent);
  mine.group_seconds = m.comms.group->stats().seconds;
  mine.compute_seconds = m.runner->compute_seconds();
  mine.layers = static_cast<double>(m.shard->ranges.n_layers());
  std::vector<RankFigures> all(static_cast<size_t>(m.comms.group->size()));
  if (auto s = m.comms.group->AllGather(std::as_bytes(std::span<const RankFigures>(&mine, 1)),
                                        std::as_writable_bytes(std::span<RankFigures>(all)));
      !s.ok()) {
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::string memory;
  if (a.memory) {
    auto report = GatherResidentMemory(*m.comms.group, m.layout, m.plan, baseline_rss);
    if (report.ok()) memory = *report;
  }
  if (!m.layout.leader()) return 0;
  std::printf("%s", FormatPlan(m.plan).c_str());
  std::printf("RESULT tp=%d pp=%d threads=%d sequences=%d in_flight=%d decode_tok_s=%.2f wall_s=%.3f\n", a.tp, a.pp,
              a.threads, a.sequences, a.in_flight > 0 ? a.in_flight : a.pp, decode_tok_s, wall);
  // Positions every rank ran in the measured run (prompt, then each token
  // but the last fed back).
  const double tokens = static_cast<double>(a.sequences) * (a.prompt_tokens + a.tokens - 1);
  for (size_t r = 0; r < all.size(); ++r) {
    const RankFigures& f = all[r];
    const double busy = wall;
    std::printf("  rank %zu: tp all-reduce %.0f bytes/token/layer (%.1f ops/token), pipeline %.0f bytes/token, "
                "communicating %.1f%% of the run, computing %.1f%%\n",
                r, f.layers > 0 ? f.tp_bytes / tokens / f.layers : 0.0, f.tp_ops / tokens, f.group_bytes / tokens,
                100.0 * (f.tp_seconds + f.group_seconds) / busy, 100.0 * f.compute_seconds / busy);
  }
  std::printf("%s", memory.c_str());
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  auto mpi = tessera::MpiRuntime::Init(&argc, &argv);
  if (!mpi.ok()) return 1;
  tessera::Args a;
  CLI::App app{"Decode throughput and communication of one tessera group (run under mpirun)"};
  app.add_option("-m,--model", a.model, "Model .gguf")->required();
  app.add_option("--tp", a.tp)->capture_default_str();
  app.add_option("--pp", a.pp)->capture_default_str();
  app.add_option("-t,--threads", a.threads, "Threads a rank")->capture_default_str();
  app.add_option("--sequences", a.sequences, "Sequences generated at once")->capture_default_str();
  app.add_option("-n,--tokens", a.tokens, "Tokens generated per sequence (measured run)")->capture_default_str();
  app.add_option("--prompt-tokens", a.prompt_tokens)->capture_default_str();
  app.add_option("--warmup-tokens", a.warmup_tokens)->capture_default_str();
  app.add_option("--in-flight", a.in_flight, "Steps in flight (0: pp, which keeps every stage busy)")
      ->capture_default_str();
  app.add_flag("--memory", a.memory, "Report each rank's resident memory against its plan");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return (*mpi)->world_rank() == 0 ? app.exit(e) : e.get_exit_code();
  }
  return tessera::Run(a, **mpi);
}
