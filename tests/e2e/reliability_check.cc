// Reliability checks against a running cluster (reliability_test.sh starts
// it and injects the faults):
//
//   reliability_check run --coordinator EP --model M [--requests 100] [--tokens 24:40] [--seed 1]
//       [--fault-after-tokens N --fault-cmd CMD] [--expect-served-by NAME]
//     Submits every request at once (all streaming, ignore_eos, greedy and
//     sampled with seeds) and, once N tokens have streamed in, runs CMD
//     (sh -c, on a thread of its own while the answers keep coming): the
//     fault lands mid-stream. Every request must complete with the tokens
//     and text of the single-rank engine, its chunks' indexes contiguous
//     from 0 with no repeat or gap; the coordinator's ledger must balance
//     (accepted = completed + failed + cancelled, none failed or cancelled).
//
//   reliability_check wait --coordinator EP --group NAME --state ready|dead [--timeout-s 60] [--epoch E]
//     Polls the status until the group called NAME is in that state and
//     prints its epoch (stdout). --timeout-s 0 checks once. --epoch: the
//     group must also still be at that epoch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "client/lib/client.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/model.h"
#include "tests/e2e/reference_run.h"

#include "tests/e2e/check_that.h"

namespace tessera {
namespace {


double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::vector<proto::GenerateRequest> StreamingRequests(int n, int min_tokens, int max_tokens, int64_t vocab,
                                                      uint64_t seed) {
  static const char* kTexts[] = {"Once upon a time", "The", "A long time ago in a village by the sea there lived",
                                 "Hello", "In the beginning the robot said that"};
  std::mt19937_64 rng(seed);
  std::vector<proto::GenerateRequest> out;
  for (int i = 0; i < n; ++i) {
    proto::GenerateRequest r;
    r.set_request_id("rel-" + std::to_string(seed) + "-" + std::to_string(i));
    if (i % 3 == 2) {
      const int len = 1 + static_cast<int>(rng() % 40);
      for (int k = 0; k < len; ++k) r.add_prompt_tokens(static_cast<int32_t>(3 + rng() % (vocab - 3)));
    } else {
      r.set_prompt(kTexts[rng() % std::size(kTexts)]);
    }
    r.set_max_tokens(min_tokens + static_cast<int>(rng() % (max_tokens - min_tokens + 1)));
    switch (i % 4) {
      case 0: break;  // greedy
      case 1: r.mutable_sampling()->set_temperature(0.8f); r.mutable_sampling()->set_top_k(40); break;
      case 2: r.mutable_sampling()->set_temperature(1.0f); r.mutable_sampling()->set_top_p(0.9f); break;
      case 3: r.mutable_sampling()->set_temperature(1.3f); break;
    }
    r.mutable_sampling()->set_seed(rng() % 1000);
    r.set_stream(true);
    // Long enough that a fault lands mid-stream: no early end at EOS.
    r.set_ignore_eos(true);
    out.push_back(r);
  }
  return out;
}

struct Outcome {
  std::vector<proto::TokenChunk> chunks;
  std::optional<proto::GenerateResult> result;
  std::optional<proto::Error> error;
};

const proto::GroupStatus* FindGroup(const proto::ClusterStatus& st, const std::string& name) {
  const proto::GroupStatus* found = nullptr;
  for (const auto& g : st.groups()) {
    if (g.name() == name && (found == nullptr || g.id() > found->id())) found = &g;  // the latest of that name
  }
  return found;
}

std::optional<proto::ClusterStatus> WaitForIdle(Client& client, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto st = client.Status();
    if (st.ok() && st->in_flight() == 0 && st->queue_depth() == 0) return *st;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return std::nullopt;
}

struct RunArgs {
  std::string endpoint, model_path;
  int requests = 100;
  int min_tokens = 24, max_tokens = 40;
  uint64_t seed = 1;
  int64_t fault_after_tokens = 0;
  std::string fault_cmd;
  std::vector<std::string> served_by;
  int timeout_s = 150;
};

int Run(const RunArgs& a) {
  auto model = LoadModel(a.model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 2;
  }
  const Model& m = **model;
  auto backend = MakeCpuBackend({.threads = 1});
  const auto reqs = StreamingRequests(a.requests, a.min_tokens, a.max_tokens, m.config.vocab_size, a.seed);
  // The references first, so the fault's timing does not depend on them.
  std::map<std::string, Expected> expected;
  for (const auto& r : reqs) expected[r.request_id()] = SingleRank(m, *backend, r);

  ClientOptions co;
  co.endpoint = a.endpoint;
  co.reply_timeout = absl::Seconds(30);
  auto client = Client::Connect(co);
  auto status_client = Client::Connect(co);
  if (!client.ok() || !status_client.ok()) {
    std::fprintf(stderr, "connect: %s\n", (client.ok() ? status_client.status() : client.status()).ToString().c_str());
    return 2;
  }
  auto before = WaitForIdle(**status_client, absl::Seconds(30));
  if (!before) {
    std::fprintf(stderr, "the cluster was not idle before the run\n");
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  std::map<std::string, Outcome> answers;
  for (const auto& r : reqs) {
    auto s = (*client)->Submit(r);
    CHECK_THAT(s.ok(), "submit %s: %s", r.request_id().c_str(), s.ToString().c_str());
  }
  int64_t streamed = 0;
  size_t done = 0;
  std::thread fault;
  std::atomic<int> fault_rc{-1};
  double fault_at = -1;
  int mid_stream = 0;  // requests with some chunks and no answer when the fault fired
  const absl::Time deadline = absl::Now() + absl::Seconds(a.timeout_s);
  while (done < reqs.size() && absl::Now() < deadline) {
    auto reply = (*client)->Next(absl::Milliseconds(200));
    if (!reply.ok()) {
      CHECK_THAT(false, "next: %s", reply.status().ToString().c_str());
      break;
    }
    if (!reply->has_value()) continue;
    const proto::ClientReply& r = **reply;
    Outcome& o = answers[r.request_id()];
    if (r.has_chunk()) {
      o.chunks.push_back(r.chunk());
      streamed += r.chunk().tokens_size();
    }
    if (r.has_result()) { o.result = r.result(); ++done; }
    if (r.has_error()) { o.error = r.error(); ++done; }
    if (!a.fault_cmd.empty() && fault_at < 0 && streamed >= a.fault_after_tokens) {
      fault_at = Since(start);
      for (const auto& [id, out] : answers) mid_stream += (!out.chunks.empty() && !out.result && !out.error) ? 1 : 0;
      std::printf("fault after %ld streamed tokens (%.2f s), %d requests mid-stream: %s\n",
                  static_cast<long>(streamed), fault_at, mid_stream, a.fault_cmd.c_str());
      std::fflush(stdout);
      fault = std::thread([&fault_rc, cmd = a.fault_cmd] { fault_rc = std::system(cmd.c_str()); });
    }
  }
  const double secs = Since(start);
  if (fault.joinable()) fault.join();
  CHECK_THAT(done == reqs.size(), "%zu of %zu requests answered within %d s", done, reqs.size(), a.timeout_s);
  if (!a.fault_cmd.empty()) {
    CHECK_THAT(fault_at >= 0, "the fault never fired: only %ld tokens streamed", static_cast<long>(streamed));
    CHECK_THAT(fault_rc == 0, "the fault command exited with %d", fault_rc.load());
    CHECK_THAT(mid_stream > 0, "no request was mid-stream when the fault fired");
  }

  int equal = 0;
  std::map<std::string, int> per_group;
  for (const auto& r : reqs) {
    const std::string& id = r.request_id();
    const Outcome& o = answers[id];
    if (!o.result) {
      CHECK_THAT(false, "%s: no result (%s)", id.c_str(),
                 o.error ? (proto::ErrorCode_Name(o.error->code()) + ": " + o.error->message()).c_str() : "no answer");
      continue;
    }
    const Expected& e = expected[id];
    const std::vector<int32_t> got(o.result->tokens().begin(), o.result->tokens().end());
    CHECK_THAT(got == e.tokens, "%s: %zu tokens differ from the single-rank run's %zu (first difference at %ld)",
               id.c_str(), got.size(), e.tokens.size(),
               static_cast<long>(std::mismatch(got.begin(), got.end(), e.tokens.begin(), e.tokens.end()).first -
                                 got.begin()));
    CHECK_THAT(o.result->text() == e.text, "%s: text differs from the single-rank run's", id.c_str());
    CHECK_THAT(o.result->finish_reason() == proto::FINISH_LENGTH, "%s: finish reason %s", id.c_str(),
               proto::FinishReason_Name(o.result->finish_reason()).c_str());
    // Each token exactly once: chunk indexes contiguous from 0, and the
    // chunks' tokens and text are the result's.
    std::vector<int32_t> streamed_tokens;
    std::string text;
    bool contiguous = true;
    for (const auto& c : o.chunks) {
      if (c.index() != static_cast<int32_t>(streamed_tokens.size())) {
        CHECK_THAT(false, "%s: chunk at index %d after %zu tokens (%s)", id.c_str(), c.index(),
                   streamed_tokens.size(),
                   c.index() < static_cast<int32_t>(streamed_tokens.size()) ? "a repeat" : "a gap");
        contiguous = false;
      }
      streamed_tokens.insert(streamed_tokens.end(), c.tokens().begin(), c.tokens().end());
      text += c.text();
    }
    CHECK_THAT(streamed_tokens == got, "%s: the chunks carry %zu tokens, the result %zu, or they differ", id.c_str(),
               streamed_tokens.size(), got.size());
    CHECK_THAT(o.result->text().compare(0, text.size(), text) == 0, "%s: streamed text is not the result's prefix",
               id.c_str());
    if (got == e.tokens && o.result->text() == e.text && contiguous && streamed_tokens == got) ++equal;
    ++per_group[o.result->group()];
  }
  std::printf("%d streaming requests in %.1f s, %ld tokens streamed, %d equal to the single-rank run with "
              "contiguous chunks;",
              a.requests, secs, static_cast<long>(streamed), equal);
  for (const auto& [g, c] : per_group) std::printf(" %s finished %d", g.c_str(), c);
  std::printf("\n");

  auto after = WaitForIdle(**status_client, absl::Seconds(30));
  CHECK_THAT(after.has_value(), "the cluster did not return to idle");
  if (after) {
    const uint64_t accepted = after->accepted() - before->accepted();
    const uint64_t completed = after->completed() - before->completed();
    const uint64_t failed = after->failed() - before->failed();
    const uint64_t cancelled = after->cancelled() - before->cancelled();
    std::printf("ledger of this run: accepted %lu, completed %lu, failed %lu, cancelled %lu, busy %lu\n",
                static_cast<unsigned long>(accepted), static_cast<unsigned long>(completed),
                static_cast<unsigned long>(failed), static_cast<unsigned long>(cancelled),
                static_cast<unsigned long>(after->rejected_busy() - before->rejected_busy()));
    CHECK_THAT(after->accepted() == after->completed() + after->failed() + after->cancelled(),
               "since the start: accepted %lu != completed %lu + failed %lu + cancelled %lu",
               static_cast<unsigned long>(after->accepted()), static_cast<unsigned long>(after->completed()),
               static_cast<unsigned long>(after->failed()), static_cast<unsigned long>(after->cancelled()));
    CHECK_THAT(accepted == static_cast<uint64_t>(a.requests) && completed == accepted && failed == 0 &&
                   cancelled == 0,
               "this run's ledger does not show every request accepted once and completed");
    for (const std::string& name : a.served_by) {
      const proto::GroupStatus* g = FindGroup(*after, name);
      const proto::GroupStatus* g0 = FindGroup(*before, name);
      const uint64_t ran = g == nullptr ? 0 : g->completed() - (g0 == nullptr ? 0 : g0->completed());
      std::printf("group %s completed %lu sequences in this run\n", name.c_str(), static_cast<unsigned long>(ran));
      CHECK_THAT(g != nullptr && ran > 0 && per_group[name] > 0, "group %s served nothing in this run",
                 name.c_str());
    }
  }
  if (g_failures > 0) {
    std::fprintf(stderr, "reliability_check run: %d check(s) failed\n", g_failures);
    return 1;
  }
  return 0;
}

int Wait(const std::string& endpoint, const std::string& name, const std::string& state_name, int timeout_s,
         int64_t epoch) {
  const proto::GroupState want = state_name == "ready" ? proto::GROUP_READY : proto::GROUP_DEAD;
  ClientOptions co;
  co.endpoint = endpoint;
  co.reply_timeout = absl::Seconds(5);
  auto client = Client::Connect(co);
  if (!client.ok()) {
    std::fprintf(stderr, "connect: %s\n", client.status().ToString().c_str());
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  std::string last = "no status";
  while (true) {
    auto st = (*client)->Status();
    if (st.ok()) {
      const proto::GroupStatus* g = FindGroup(*st, name);
      if (g == nullptr) {
        last = "not registered";
      } else {
        last = absl::StrCat(proto::GroupState_Name(g->state()), " at epoch ", g->epoch());
        if (g->state() == want) {
          if (epoch >= 0 && g->epoch() != static_cast<uint64_t>(epoch)) {
            std::fprintf(stderr, "FAILED: group %s is %s, expected epoch %ld\n", name.c_str(), last.c_str(),
                         static_cast<long>(epoch));
            return 1;
          }
          std::fprintf(stderr, "group %s: %s after %.1f s\n", name.c_str(), last.c_str(), Since(start));
          std::printf("%lu\n", static_cast<unsigned long>(g->epoch()));
          return 0;
        }
      }
    }
    if (Since(start) >= timeout_s) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::fprintf(stderr, "FAILED: group %s not %s within %d s (%s)\n", name.c_str(), state_name.c_str(), timeout_s,
               last.c_str());
  return 1;
}

int Main(int argc, char** argv) {
  CLI::App app{"reliability_check: dead and stuck workers against a running tessera cluster"};
  app.require_subcommand(1);
  RunArgs r;
  std::string tokens = "24:40";
  CLI::App* run = app.add_subcommand("run", "Concurrent streaming requests, a fault mid-stream, exact answers");
  run->add_option("--coordinator", r.endpoint)->required();
  run->add_option("--model", r.model_path)->required();
  run->add_option("--requests", r.requests)->check(CLI::Range(1, 100000));
  run->add_option("--tokens", tokens, "Tokens each request generates: LO:HI");
  run->add_option("--seed", r.seed);
  run->add_option("--fault-after-tokens", r.fault_after_tokens)->check(CLI::NonNegativeNumber);
  run->add_option("--fault-cmd", r.fault_cmd, "Shell command run once that many tokens have streamed");
  run->add_option("--expect-served-by", r.served_by, "A group that must complete some of this run's requests");
  run->add_option("--timeout-s", r.timeout_s)->check(CLI::PositiveNumber);

  std::string endpoint, group, state;
  int timeout_s = 60;
  int64_t epoch = -1;
  CLI::App* wait = app.add_subcommand("wait", "Wait until a group is ready or dead; print its epoch");
  wait->add_option("--coordinator", endpoint)->required();
  wait->add_option("--group", group)->required();
  wait->add_option("--state", state)->required()->check(CLI::IsMember({"ready", "dead"}));
  wait->add_option("--timeout-s", timeout_s)->check(CLI::NonNegativeNumber);
  wait->add_option("--epoch", epoch, "The epoch the group must still have");
  CLI11_PARSE(app, argc, argv);

  if (*run) {
    if (std::sscanf(tokens.c_str(), "%d:%d", &r.min_tokens, &r.max_tokens) != 2 || r.min_tokens < 1 ||
        r.max_tokens < r.min_tokens) {
      std::fprintf(stderr, "--tokens: expected LO:HI with 1 <= LO <= HI, got '%s'\n", tokens.c_str());
      return 2;
    }
    return Run(r);
  }
  return Wait(endpoint, group, state, timeout_s, epoch);
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Main(argc, argv); }
