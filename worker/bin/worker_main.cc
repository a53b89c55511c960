// tessera-worker: one rank of a replica group, started by mpirun.
//
//   mpirun -np 6 tessera-worker --model M.gguf --tp 3 --pp 2 --coordinator tcp://HOST:5556
//   mpirun -np 6 tessera-worker --model M.gguf --tp 3 --pp 2 --prompt "..." -n 32
//
// The world splits into groups of tp x pp ranks. With --coordinator each
// group's leader registers, gets its plan from the coordinator and serves
// its sequences (continuous batching) until the coordinator says Shutdown.
// Without it (standalone) each group partitions the model itself and its
// leader generates from --prompt: group 0's leader prints the text exactly
// as `tessera generate` does, then a line of figures.
//
// A coordinator's Reshard switches every rank of a group to a new plan live
// (worker/reshard.h); --startup-timeout-ms bounds the ranks' wait for each
// other's new shards. Test hook: with TESSERA_TEST_RESHARD_FAIL_RANK=R in the
// environment, group rank R fails to load every new shard, so the e2e tests
// can see a rebalance roll back.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "comm/mpi_runtime.h"
#include "glog/logging.h"
#include "partition/partitioner.h"
#include "worker/bin/abort_job.h"
#include "worker/bin/coordinator_session.h"
#include "worker/group_generate.h"
#include "worker/device_probe.h"
#include "worker/group_startup.h"
#include "worker/reshard.h"
#include "worker/stage_runner.h"
#include "worker/resident_memory.h"

namespace tessera {
namespace {

struct Args {
  std::string model;
  int tp = 1, pp = 1;
  std::string prompt;
  int64_t n = 32;
  int threads = 1;
  float temp = 0.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool ignore_eos = false;
  std::string profiles;
  int64_t kv_tokens = 0;
  int64_t timeout_ms = 30000;
  int64_t step_timeout_ms = 120000;
  std::string isa;
  std::string device = "cpu";
  bool show_plan = false;
  bool report_memory = false;
  // Coordinator mode.
  std::string coordinator;
  std::string name;
  int max_sequences = 64;
  int64_t max_batch_tokens = 512;
  int64_t prefill_chunk = 256;
  int64_t heartbeat_ms = 1000;
  int64_t startup_timeout_ms = 300000;
};

int RunLeader(const Args& a, GroupMember& m) {
  const Model& model = *m.model;
  const bool speaks = m.layout.group == 0;
  if (a.show_plan && speaks) std::fprintf(stderr, "%s", FormatPlan(m.plan).c_str());
  GroupLeader leader(*m.runner, *m.comms.group);
  leader.set_step_timeout(absl::Milliseconds(a.step_timeout_ms));
  GroupRequest req;
  req.seq_id = 1;
  req.prompt = model.tokenizer->Encode(a.prompt, model.tokenizer->add_bos());
  req.max_tokens = a.n;
  req.sampling = SamplingParams{a.temp, a.top_k, a.top_p, a.seed};
  int rc = 0;
  if (req.prompt.empty()) {
    std::fprintf(stderr, "error: the prompt encodes to no tokens (give --prompt some text)\n");
    rc = 2;
  } else if (static_cast<int64_t>(req.prompt.size()) + a.n - 1 > model.config.context_length) {
    std::fprintf(stderr, "error: prompt of %zu tokens plus %lld new tokens exceeds the context of %lld\n",
                 req.prompt.size(), static_cast<long long>(a.n),
                 static_cast<long long>(model.config.context_length));
    rc = 2;
  }
  if (rc == 0) {
    GroupGenerateOptions go;
    go.eos = a.ignore_eos ? -1 : model.tokenizer->eos_id();
    StreamDecoder decoder(*model.tokenizer);
    if (speaks) {
      std::fputs(a.prompt.c_str(), stdout);
      std::fflush(stdout);
      go.on_token = [&](size_t, int32_t token) {
        const std::string text = decoder.Push(token);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
      };
    }
    m.comms.group->ResetStats();
    if (m.comms.tp) m.comms.tp->ResetStats();
    auto out = GenerateOnGroup(leader, {&req, 1}, go);
    if (speaks) {
      const std::string rest = decoder.Finish();
      std::fwrite(rest.data(), 1, rest.size(), stdout);
      std::fputs("\n", stdout);
    }
    if (!out.ok()) {
      if (!IsStepRefusal(out.status())) AbortJob(absl::StrCat(m.layout.Describe(), ": ", out.status().ToString()));
      std::fprintf(stderr, "error: %s\n", std::string(out.status().message()).c_str());
      rc = 1;
    } else {
      const GroupOutput& o = (*out)[0];
      const double prefill = o.first_token_seconds;
      const double decode = o.seconds - o.first_token_seconds;
      const size_t later = o.tokens.size() > 0 ? o.tokens.size() - 1 : 0;
      const std::string line = absl::StrFormat(
          "[prompt: %d tokens, %.1f tok/s | generation: %d tokens, %.1f tok/s | tp %d x pp %d, %d group%s, "
          "%s, %d thread%s a rank%s]\n",
          req.prompt.size(), prefill > 0 ? req.prompt.size() / prefill : 0.0, o.tokens.size(),
          decode > 0 ? later / decode : 0.0, a.tp, a.pp, m.layout.groups, m.layout.groups == 1 ? "" : "s",
          std::string(m.backend->name()), a.threads, a.threads == 1 ? "" : "s",
          o.stopped_at_eos ? " | stopped at end-of-sequence" : "");
      if (speaks) {
        std::fputs(line.c_str(), stdout);
      } else {
        std::fprintf(stderr, "group %d: %s", m.layout.group, line.c_str());
      }
    }
  }
  if (auto s = leader.Stop(); !s.ok()) AbortJob(absl::StrCat(m.layout.Describe(), ": stopping: ", s.ToString()));
  return rc;
}

int Run(const Args& a, MpiRuntime& mpi) {
  const int64_t baseline_rss = ResidentBytes();
  auto world = mpi.World();
  if (!world.ok()) AbortJob(absl::StrCat("rank ", mpi.world_rank(), ": ", world.status().ToString()));
  (*world)->set_default_timeout(absl::Milliseconds(a.timeout_ms));

  GroupOptions g;
  g.model_path = a.model;
  g.tp = a.tp;
  g.pp = a.pp;
  g.threads = a.threads;
  g.isa = a.isa;
  // "cuda" alone: the GPU of this rank's index on its host, so one command
  // line serves every rank of a multi-GPU host.
  g.device = a.device == "cuda" ? absl::StrCat("cuda:", mpi.local_rank()) : a.device;
  g.local_ranks = mpi.local_size();
  g.oversubscribed = mpi.Oversubscribed();
  g.kv_tokens = a.kv_tokens;
  g.probe = a.profiles.empty();
  const bool group_leader = a.tp > 0 && a.pp > 0 && mpi.world_rank() % (a.tp * a.pp) == 0;
  if (!a.profiles.empty() && group_leader) {
    auto text = ReadProfilesFile(a.profiles);
    if (text.ok()) {
      g.profiles_json = *std::move(text);
    } else {
      g.profiles_error = std::string(text.status().message());
    }
  }
  g.startup_timeout = absl::Milliseconds(a.startup_timeout_ms);
  std::unique_ptr<CoordinatorSession> session;
  if (!a.coordinator.empty() && group_leader) {
    CoordinatorArgs c;
    c.endpoint = a.coordinator;
    c.name = a.name;
    c.tp = a.tp;
    c.pp = a.pp;
    c.group = mpi.world_rank() / (a.tp * a.pp);
    c.groups = mpi.world_size() / (a.tp * a.pp);
    c.kv_tokens = a.kv_tokens;
    c.max_sequences = a.max_sequences;
    c.max_batch_tokens = a.max_batch_tokens;
    c.prefill_chunk = a.prefill_chunk;
    c.heartbeat_ms = a.heartbeat_ms;
    c.reshard_timeout_ms = a.startup_timeout_ms;
    c.step_timeout_ms = a.step_timeout_ms;
    c.show_plan = a.show_plan;
    session = std::make_unique<CoordinatorSession>(c);
    // Answer before the other ranks stop waiting for the plan, so they hear
    // the coordinator's (or the link's) reason rather than a timeout.
    g.plan_source = session->MakePlanSource(g.startup_timeout * 9 / 10);
  }
  auto member = StartGroupMember(**world, g);
  if (!member.ok()) {
    // Every rank of the group got the same message; one of them says it.
    if (group_leader) std::fprintf(stderr, "error: %s\n", std::string(member.status().message()).c_str());
    if (session) session->StartupFailed(member.status());
    return 1;
  }
  GroupMember& m = **member;
  LOG(INFO) << m.layout.Describe() << ": " << m.backend->name() << "; " << m.tp_transport;
  // No wait inside a step (a tp collective, a step's hidden states from the
  // previous stage) can honestly outlast the whole step. The pipeline's
  // sends are different: with several steps in flight, one is taken only
  // after its receiver finished the steps ahead of it, so they get the step
  // timeout once per stage (a stuck stage is the leader's step timeout's).
  const absl::Duration peer_timeout = absl::Milliseconds(std::min(a.timeout_ms, a.step_timeout_ms));
  m.comms.group->set_default_timeout(peer_timeout);
  if (m.comms.tp) m.comms.tp->set_default_timeout(peer_timeout);
  m.runner->set_pipeline_send_timeout(PipelineSendTimeout(absl::Milliseconds(a.step_timeout_ms), m.layout.pp));
  LOG(INFO) << m.layout.Describe() << ": " << m.shard->ranges.DebugString() << ", "
            << m.shard->weight_bytes / (1 << 20) << " MiB of weights";

  int rc = 0;
  if (m.layout.leader()) {
    rc = session ? session->Serve(m) : RunLeader(a, m);
  } else {
    // Serves until a stop; a reshard step means: switch plans with the whole
    // group (or roll back with it), then serve on.
    const ReshardFaults faults = ReshardFaultsFromEnvironment();
    while (true) {
      auto exit = m.runner->Serve();
      if (!exit.ok()) AbortJob(absl::StrCat(m.layout.Describe(), ": ", exit.status().ToString()));
      if (!exit->reshard) break;
      auto outcome = ReshardMember(m, *exit, absl::Milliseconds(a.startup_timeout_ms), faults);
      if (!outcome.ok()) AbortJob(absl::StrCat(m.layout.Describe(), ": resharding: ", outcome.status().ToString()));
    }
  }
  if (a.report_memory) {
    auto report = GatherResidentMemory(*m.comms.group, m.layout, m.plan, baseline_rss);
    if (!report.ok()) AbortJob(report.status().ToString());
    if (m.layout.leader() && m.layout.group == 0) std::fputs(report->c_str(), stderr);
  }
  return rc;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = false;
  FLAGS_minloglevel = 1;  // warnings and errors; --verbose lowers it
  auto mpi = tessera::MpiRuntime::Init(&argc, &argv);
  if (!mpi.ok()) {
    std::fprintf(stderr, "tessera-worker: %s\n", std::string(mpi.status().message()).c_str());
    return 1;
  }
  tessera::Args a;
  bool verbose = false;
  CLI::App app{"tessera-worker: one rank of a tensor x pipeline parallel group, started by mpirun.\n"
               "  mpirun -np 6 tessera-worker --model M.gguf --tp 3 --pp 2 --prompt \"Once upon\" -n 32"};
  app.add_option("-m,--model", a.model, "Path to a .gguf model (every rank maps it; each reads only its slices)")
      ->required();
  app.add_option("--tp", a.tp, "Tensor-parallel ranks per stage")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--pp", a.pp, "Pipeline stages per group")->capture_default_str()->check(CLI::Range(1, 1024));
  CLI::Option* coordinator =
      app.add_option("--coordinator", a.coordinator,
                     "The coordinator's worker endpoint, e.g. tcp://HOST:5556: register and serve its requests");
  app.add_option("-p,--prompt", a.prompt, "Prompt text (standalone mode)")->excludes(coordinator);
  app.add_option("-n,--max-tokens", a.n, "Tokens to generate")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("-t,--threads", a.threads, "Compute threads of each rank")->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--temp", a.temp, "Sampling temperature (0: greedy)")->capture_default_str()
      ->check(CLI::Range(0.0f, 100.0f));
  app.add_option("--top-k", a.top_k, "Keep the k most likely tokens (0: all)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", a.top_p, "Nucleus sampling mass in (0, 1]")->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--seed", a.seed, "Sampling seed")->capture_default_str();
  app.add_flag("--ignore-eos", a.ignore_eos, "Keep generating past the end-of-sequence token");
  app.add_option("--profiles", a.profiles,
                 "JSON device profiles of the group's ranks (default: each rank probes its CPU)");
  app.add_option("--kv-tokens", a.kv_tokens,
                 "KV cache budget in positions (default: the model's context; with --coordinator, its choice)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout-ms", a.timeout_ms, "How long a rank waits for a peer before calling it dead")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  app.add_option("--step-timeout-ms", a.step_timeout_ms,
                 "How long the leader waits for a step's answer (every stage's compute of it) before it calls "
                 "the group broken and ends the job; also caps --timeout-ms while serving (a pipeline stage's "
                 "sends wait up to this times the stage count). Keep it above the longest honest step (a "
                 "--prefill-chunk of prompt through every stage of a big model); ranks waiting for the next "
                 "step wait without limit")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  app.add_option("--device", a.device,
                 "Where this rank computes: cpu, cuda:N (GPU N) or cuda (the GPU of the rank's index on its "
                 "host); a stage whose tp ranks are all on GPUs all-reduces over NCCL")
      ->capture_default_str();
  app.add_option("--isa", a.isa, "Force a kernel path: scalar, avx2 or avx2-vnni")
      ->check(CLI::IsMember({"scalar", "avx2", "avx2-vnni"}));
  app.add_flag("--show-plan", a.show_plan, "Print the shard plan (stderr)");
  app.add_flag("--report-memory", a.report_memory, "Print each rank's resident memory against its plan (stderr)");
  app.add_flag("-v,--verbose", verbose, "Log each rank's progress (stderr)");
  app.add_option("--name", a.name, "The group's name at the coordinator (default host:pid)")->needs(coordinator);
  app.add_option("--max-sequences", a.max_sequences, "Sequences batched at once (coordinator mode)")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-batch-tokens", a.max_batch_tokens, "Tokens a step, decode and prefill (coordinator mode)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--prefill-chunk", a.prefill_chunk, "Prompt tokens of one sequence a step (coordinator mode)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--heartbeat-ms", a.heartbeat_ms, "Heartbeat period to the coordinator")
      ->capture_default_str()->check(CLI::Range(int64_t{10}, int64_t{600000}));
  app.add_option("--startup-timeout-ms", a.startup_timeout_ms,
                 "How long ranks wait for each other (and the leader for its plan) while starting, and for "
                 "each other's new shards in a reshard")
      ->capture_default_str()->check(CLI::Range(int64_t{100}, int64_t{3600000}));
  int rc = 0;
  try {
    app.parse(argc, argv);
    if (a.coordinator.empty() && app.count("--prompt") == 0) throw CLI::RequiredError("--prompt");
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same arguments; one message is enough.
    if ((*mpi)->world_rank() == 0) rc = app.exit(e);
    else rc = e.get_exit_code();
    return rc;
  }
  if (verbose) {
    FLAGS_minloglevel = 0;
    FLAGS_logtostderr = true;
  }
  return tessera::Run(a, **mpi);
}
