// The sharded engine under mpirun, one process a rank, over MPI: the group's
// logits (F32) and greedy tokens (F32 and Q8_0) against the single-rank
// engine run by the leader itself.
//
//   mpirun --oversubscribe -np 6 sharded_mpi_test --tp 3 --pp 2 --type f32 --layers 5 --heads 6 --kv-heads 3
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "comm/mpi_runtime.h"
#include "gtest/gtest.h"
#include "tests/unit/worker/single_rank_reference.h"
#include "worker/group_generate.h"
#include "worker/group_startup.h"

namespace tessera::testing {
namespace {

struct Params {
  int tp = 1, pp = 1;
  std::string type = "f32";
  int64_t layers = 4, heads = 4, kv_heads = 2;
  bool uneven = false;  // a profiles file that makes stage 0 and tp rank 0 twice as fast
  int sequences = 1;    // > 1: several sequences, up to pp steps in flight
  int64_t vocab = 512;  // large vocabularies make answers pass MPI's eager limit
};
Params g_params;
MpiRuntime* g_mpi = nullptr;

std::string UnevenProfiles(int n) {
  std::string json = R"({"ranks": [)";
  for (int r = 0; r < n; ++r) {
    const bool fast = r == 0;
    absl::StrAppend(&json, r ? "," : "", R"({"name": ")", fast ? "fast" : "slow",
                    R"(", "memory_gib": 4, "compute_gflops": )", fast ? 200 : 100,
                    R"(, "bandwidth_gbs": )", fast ? 20 : 10, "}");
  }
  return json + "]}";
}

TEST(ShardedMpiTest, MatchesTheSingleRankEngine) {
  const Params& p = g_params;
  auto type = ParseDType(p.type);
  ASSERT_TRUE(type.ok()) << type.status();
  ModelSpec spec = Spec(*type, p.layers, p.heads, p.kv_heads, 1000 + p.tp * 10 + p.pp);
  spec.vocab_size = p.vocab;
  const std::string path = ::testing::TempDir() + absl::StrCat("/sharded_mpi_", p.tp, "x", p.pp, "_", p.type, "_",
                                                               p.layers, "_", p.heads, "_", p.kv_heads, "_", p.sequences, "_",
                                                               p.vocab, ".gguf");
  auto world = g_mpi->World();
  ASSERT_TRUE(world.ok()) << world.status();
  (*world)->set_default_timeout(absl::Seconds(60));
  if ((*world)->rank() == 0) {
    ASSERT_TRUE(MakeModelFile(spec, path).ok());
  }
  ASSERT_TRUE((*world)->Barrier().ok());

  GroupOptions g;
  g.model_path = path;
  g.tp = p.tp;
  g.pp = p.pp;
  g.threads = 1;
  g.oversubscribed = true;
  g.probe = false;
  g.kv_tokens = 256;
  if (p.uneven && (*world)->rank() == 0) g.profiles_json = UnevenProfiles(p.tp * p.pp);
  auto member = StartGroupMember(**world, g);
  ASSERT_TRUE(member.ok()) << member.status();
  GroupMember& m = **member;
  if (!m.layout.leader()) {
    EXPECT_TRUE(m.runner->Serve().ok());
    return;
  }
  if (p.uneven) {
    // The plan really is uneven: the fast rank holds more than its share.
    const proto::RankShard& fast = m.plan.ranks(0);
    const proto::RankShard& last = m.plan.ranks(m.plan.ranks_size() - 1);
    EXPECT_TRUE(fast.weight_bytes() > last.weight_bytes()) << fast.DebugString() << last.DebugString();
  }
  constexpr int kSteps = 32;
  std::vector<GroupRequest> reqs;
  std::vector<Reference> refs;
  for (int i = 0; i < p.sequences; ++i) {
    GroupRequest r;
    r.seq_id = 3 + i;
    r.prompt = Prompt(spec.vocab_size, 9 + 2 * i, static_cast<uint32_t>(p.tp * 7 + p.pp + 100 * i));
    r.max_tokens = kSteps;
    refs.push_back(RunSingleRank(path, r.prompt, kSteps));
    reqs.push_back(std::move(r));
  }
  GroupLeader leader(*m.runner, *m.comms.group);
  std::vector<std::vector<std::vector<float>>> logits(reqs.size());
  GroupGenerateOptions go;
  go.gather_logits = *type == DType::kF32;
  go.on_logits = [&](size_t i, int64_t, std::span<const float> l) { logits[i].emplace_back(l.begin(), l.end()); };
  auto out = GenerateOnGroup(leader, reqs, go);
  if (!out.ok()) {
    // The other ranks wait for steps without a limit: end the job rather
    // than leave them to ctest's timeout.
    std::fprintf(stderr, "the group failed: %s\n", out.status().ToString().c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  // Non-fatal checks only from here, so Stop always runs.
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ((*out)[i].tokens, refs[i].tokens) << "sequence " << i;
    if (!go.gather_logits) continue;
    EXPECT_EQ(logits[i].size(), refs[i].logits.size()) << "sequence " << i;
    for (size_t step = 0; step < std::min(logits[i].size(), refs[i].logits.size()); ++step) {
      const std::vector<float>& want = refs[i].logits[step];
      float scale = 0.0f;
      for (float v : want) scale = std::max(scale, std::fabs(v));
      EXPECT_EQ(logits[i][step].size(), want.size());
      size_t bad = 0;
      for (size_t v = 0; v < std::min(want.size(), logits[i][step].size()); ++v) {
        if (!(std::fabs(logits[i][step][v] - want[v]) <= 1e-4f * scale)) ++bad;
      }
      EXPECT_EQ(bad, 0u) << "sequence " << i << " step " << step << ": logits beyond 1e-4 of the largest";
    }
  }
  EXPECT_TRUE(leader.Stop().ok());
  std::printf("tp %d x pp %d, %s, %lld layers, %lld/%lld heads, %d sequence(s), vocab %lld: %d greedy tokens %s\n",
              p.tp, p.pp, p.type.c_str(), static_cast<long long>(p.layers), static_cast<long long>(p.heads),
              static_cast<long long>(p.kv_heads), p.sequences, static_cast<long long>(p.vocab), kSteps,
              ::testing::Test::HasFailure() ? "DIFFER" : "match the single rank");
}

}  // namespace
}  // namespace tessera::testing

int main(int argc, char** argv) {
  auto mpi = tessera::MpiRuntime::Init(&argc, &argv);
  if (!mpi.ok()) {
    std::fprintf(stderr, "%s\n", std::string(mpi.status().message()).c_str());
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  tessera::testing::Params& p = tessera::testing::g_params;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--tp") p.tp = std::atoi(next().c_str());
    else if (a == "--pp") p.pp = std::atoi(next().c_str());
    else if (a == "--type") p.type = next();
    else if (a == "--layers") p.layers = std::atoll(next().c_str());
    else if (a == "--heads") p.heads = std::atoll(next().c_str());
    else if (a == "--kv-heads") p.kv_heads = std::atoll(next().c_str());
    else if (a == "--uneven") p.uneven = true;
    else if (a == "--sequences") p.sequences = std::atoi(next().c_str());
    else if (a == "--vocab") p.vocab = std::atoll(next().c_str());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  tessera::testing::g_mpi = mpi->get();
  return RUN_ALL_TESTS();
}
