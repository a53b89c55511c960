// Runs a whole replica group in one process: one thread per rank over the
// loopback communicator, each rank going through the real startup (model
// file, plan, shard) and stage loop. The leader generates; the harness
// returns what it saw.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/loopback.h"
#include "model/model_maker.h"
#include "worker/group_generate.h"
#include "worker/group_startup.h"
#include "worker/reshard.h"

namespace tessera::testing {

struct GroupRun {
  absl::Status status;                     // the leader's outcome
  std::vector<absl::Status> rank_status;   // every rank's outcome (startup or serving)
  std::vector<GroupOutput> outputs;
  // logits[request][i]: the full logits that chose token i of the request.
  std::vector<std::vector<std::vector<float>>> logits;
  proto::ShardPlan plan;
  // The second round (GroupRunOptions::then), run on the same group.
  absl::Status then_status;
  std::vector<GroupOutput> then_outputs;
};

struct GroupRunOptions {
  int tp = 1, pp = 1;
  std::vector<std::string> model_paths;  // one per rank (a bad one on purpose), or one for all
  std::string profiles_json;
  bool gather_logits = true;
  int64_t kv_tokens = 0;
  absl::Duration timeout = absl::Seconds(20);
  // Called on the leader's thread once the group is up (fault injection).
  std::function<void(LoopbackHub&)> after_startup;
  // Requests run after the first round on the same group, when the first
  // round ended with the group still usable.
  std::vector<GroupRequest> then;
};

// A rank other than the leader, as tessera-worker runs one: serves steps,
// takes part in each reshard, until a stop step or a broken group.
inline absl::Status ServeFollower(GroupMember& m, absl::Duration timeout, const ReshardFaults& faults = {}) {
  while (true) {
    auto exit = m.runner->Serve();
    if (!exit.ok()) return exit.status();
    if (!exit->reshard) return absl::OkStatus();
    auto outcome = ReshardMember(m, *exit, timeout, faults);
    if (!outcome.ok()) return outcome.status();
  }
}

// The file name carries the pid: ctest -j runs each test case in its own
// process, and two writing one path race on the rename into place.
inline std::string WriteModel(const ModelSpec& spec, const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name + "." + std::to_string(::getpid()) + ".gguf";
  absl::Status s = MakeModelFile(spec, path);
  EXPECT_TRUE(s.ok()) << s;
  return path;
}

inline GroupRun RunGroup(const GroupRunOptions& o, const std::vector<GroupRequest>& requests) {
  const int n = o.tp * o.pp;
  auto hub = LoopbackHub::Create(n);
  auto comms = hub->ConnectAll();
  GroupRun run;
  run.rank_status.resize(static_cast<size_t>(n));
  run.logits.resize(requests.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      Communicator& world = *comms[static_cast<size_t>(r)];
      world.set_default_timeout(o.timeout);
      GroupOptions g;
      g.model_path = o.model_paths.size() == 1 ? o.model_paths[0] : o.model_paths[static_cast<size_t>(r)];
      g.tp = o.tp;
      g.pp = o.pp;
      g.threads = 1;
      g.profiles_json = o.profiles_json;
      g.oversubscribed = true;  // equal nominal profiles unless the JSON says otherwise
      g.kv_tokens = o.kv_tokens;
      g.startup_timeout = o.timeout;
      auto member = StartGroupMember(world, g);
      if (!member.ok()) {
        run.rank_status[static_cast<size_t>(r)] = member.status();
        if (r == 0) run.status = member.status();
        return;
      }
      GroupMember& m = **member;
      m.comms.group->set_default_timeout(o.timeout);
      if (m.comms.tp) m.comms.tp->set_default_timeout(o.timeout);
      if (!m.layout.leader()) {
        run.rank_status[static_cast<size_t>(r)] = ServeFollower(m, o.timeout);
        return;
      }
      run.plan = m.plan;
      if (o.after_startup) o.after_startup(*hub);
      GroupLeader leader(*m.runner, *m.comms.group);
      GroupGenerateOptions go;
      go.gather_logits = o.gather_logits;
      go.on_logits = [&](size_t i, int64_t, std::span<const float> l) {
        run.logits[i].emplace_back(l.begin(), l.end());
      };
      auto out = GenerateOnGroup(leader, requests, go);
      const bool usable = out.ok() || IsStepRefusal(out.status());
      if (usable && !o.then.empty()) {
        go.on_logits = nullptr;
        auto then = GenerateOnGroup(leader, o.then, go);
        run.then_status = then.status();
        if (then.ok()) run.then_outputs = *std::move(then);
      }
      if (out.ok()) {
        run.outputs = *std::move(out);
        run.status = leader.Stop();
      } else {
        run.status = out.status();
        // A refused step leaves the group usable: stop it cleanly. A broken
        // group cannot be stopped; like mpirun aborting a job, end every
        // rank (their waits fail at once).
        if (IsStepRefusal(out.status())) {
          (void)leader.Stop();
        } else {
          for (int k = 0; k < n; ++k) hub->Kill(k);
        }
      }
      run.rank_status[0] = run.status;
    });
  }
  for (std::thread& t : threads) t.join();
  return run;
}

}  // namespace tessera::testing
