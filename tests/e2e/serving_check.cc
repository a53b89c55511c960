// The serving path end to end, against a running cluster (serving_test.sh
// starts a coordinator and two replica groups): every answer must equal the
// single-rank engine's run of the same request, computed here in-process;
// repeated request ids run once; cancellation and client disconnects free
// the sequences' KV blocks; overload gives BUSY answers and loses nothing;
// broken frames get an error answer while other clients are served.
//
//   serving_check --coordinator tcp://127.0.0.1:PORT --model M.gguf [--requests 64]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "auth/curve_socket.h"
#include "auth/key_files.h"
#include "client/lib/client.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/model.h"
#include "tests/e2e/reference_run.h"
#include "zmq.hpp"

#include "tests/e2e/check_that.h"

namespace tessera {
namespace {


std::vector<proto::GenerateRequest> MixedRequests(int n, int64_t vocab, uint64_t seed) {
  static const char* kTexts[] = {"Once upon a time", "The", "A long time ago in a village by the sea there lived",
                                 "Hello", "In the beginning the robot said that",
                                 "One two three four five six seven eight nine ten eleven twelve"};
  std::mt19937_64 rng(seed);
  std::vector<proto::GenerateRequest> out;
  for (int i = 0; i < n; ++i) {
    proto::GenerateRequest r;
    r.set_request_id("e2e-" + std::to_string(seed) + "-" + std::to_string(i));
    if (i % 3 == 2) {
      const int len = 1 + static_cast<int>(rng() % 90);  // token prompts, 1..90 long
      for (int k = 0; k < len; ++k) r.add_prompt_tokens(static_cast<int32_t>(3 + rng() % (vocab - 3)));
    } else {
      r.set_prompt(kTexts[rng() % std::size(kTexts)]);
    }
    r.set_max_tokens(1 + static_cast<int>(rng() % 40));
    switch (i % 4) {
      case 0: break;  // greedy
      case 1: r.mutable_sampling()->set_temperature(0.8f); r.mutable_sampling()->set_top_k(40); break;
      case 2: r.mutable_sampling()->set_temperature(1.0f); r.mutable_sampling()->set_top_p(0.9f); break;
      case 3: r.mutable_sampling()->set_temperature(1.3f); break;
    }
    r.mutable_sampling()->set_seed(rng() % 1000);
    r.set_stream(i % 2 == 0);
    r.set_ignore_eos(i % 5 == 0);
    out.push_back(r);
  }
  return out;
}

struct Outcome {
  std::vector<proto::TokenChunk> chunks;
  std::optional<proto::GenerateResult> result;
  std::optional<proto::Error> error;
};

// Submits every request at once on one socket and collects every answer.
std::map<std::string, Outcome> RunAll(Client& client, const std::vector<proto::GenerateRequest>& reqs,
                                      absl::Duration timeout) {
  std::map<std::string, Outcome> out;
  for (const auto& r : reqs) {
    auto s = client.Submit(r);
    CHECK_THAT(s.ok(), "submit %s: %s", r.request_id().c_str(), s.ToString().c_str());
  }
  size_t done = 0;
  const absl::Time deadline = absl::Now() + timeout;
  while (done < reqs.size() && absl::Now() < deadline) {
    auto reply = client.Next(absl::Seconds(1));
    if (!reply.ok()) {
      CHECK_THAT(false, "next: %s", reply.status().ToString().c_str());
      break;
    }
    if (!reply->has_value()) continue;
    const proto::ClientReply& m = **reply;
    Outcome& o = out[m.request_id()];
    if (m.has_chunk()) o.chunks.push_back(m.chunk());
    if (m.has_result()) { o.result = m.result(); ++done; }
    if (m.has_error()) { o.error = m.error(); ++done; }
  }
  CHECK_THAT(done == reqs.size(), "%zu of %zu requests answered before the deadline", done, reqs.size());
  return out;
}

std::optional<proto::ClusterStatus> WaitForIdle(Client& client, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::optional<proto::ClusterStatus> last;
  while (absl::Now() < deadline) {
    auto st = client.Status();
    if (st.ok()) {
      last = *st;
      bool idle = st->in_flight() == 0 && st->queue_depth() == 0;
      for (const auto& g : st->groups()) {
        idle = idle && g.running() == 0 && g.kv_blocks_free() == g.kv_blocks_total();
      }
      if (idle) return last;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return std::nullopt;
}

void CheckConcurrent(Client& client, const Model& m, Backend& backend, int n) {
  const auto reqs = MixedRequests(n, m.config.vocab_size, 7);
  const auto start = std::chrono::steady_clock::now();
  auto answers = RunAll(client, reqs, absl::Minutes(10));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int equal = 0;
  std::map<std::string, int> per_group;
  for (const auto& r : reqs) {
    const Outcome& o = answers[r.request_id()];
    if (!o.result.has_value()) {
      CHECK_THAT(false, "%s: no result (%s)", r.request_id().c_str(),
                 o.error ? o.error->message().c_str() : "no answer");
      continue;
    }
    const Expected e = SingleRank(m, backend, r);
    const std::vector<int32_t> got(o.result->tokens().begin(), o.result->tokens().end());
    CHECK_THAT(got == e.tokens, "%s: %zu tokens differ from the single-rank run's %zu (first difference at %ld)",
               r.request_id().c_str(), got.size(), e.tokens.size(),
               static_cast<long>(std::mismatch(got.begin(), got.end(), e.tokens.begin(), e.tokens.end()).first -
                                 got.begin()));
    CHECK_THAT(o.result->text() == e.text, "%s: text differs", r.request_id().c_str());
    CHECK_THAT((o.result->finish_reason() == proto::FINISH_EOS) == e.eos, "%s: finish reason %d, eos expected %d",
               r.request_id().c_str(), o.result->finish_reason(), e.eos);
    if (r.stream()) {
      std::string text;
      int next = 0;
      for (const auto& c : o.chunks) {
        CHECK_THAT(c.index() == next, "%s: chunk at index %d, expected %d", r.request_id().c_str(), c.index(), next);
        next += c.tokens_size();
        text += c.text();
      }
      CHECK_THAT(next == o.result->tokens_size(), "%s: chunks carry %d tokens of %d", r.request_id().c_str(), next,
                 o.result->tokens_size());
      CHECK_THAT(text == o.result->text(), "%s: streamed text differs from the result's", r.request_id().c_str());
    } else {
      CHECK_THAT(o.chunks.empty(), "%s: chunks for a request that did not ask to stream", r.request_id().c_str());
    }
    if (got == e.tokens) ++equal;
    ++per_group[o.result->group()];
  }
  std::printf("concurrent: %d requests in %.1f s, %d equal to the single-rank run;", n, secs, equal);
  for (const auto& [g, c] : per_group) std::printf(" %s ran %d", g.c_str(), c);
  std::printf("\n");
  CHECK_THAT(per_group.size() >= 2, "only %zu group(s) served (both should share the load)", per_group.size());

  // The same ids again: answered from the record, not run again.
  auto before = client.Status();
  std::vector<proto::GenerateRequest> again(reqs.begin(), reqs.begin() + 8);
  auto repeat = RunAll(client, again, absl::Minutes(1));
  auto after = client.Status();
  for (const auto& r : again) {
    const Outcome& o = repeat[r.request_id()];
    CHECK_THAT(o.result.has_value() && o.result->from_record(), "%s: a repeat was not answered from the record",
               r.request_id().c_str());
    if (o.result && answers[r.request_id()].result) {
      CHECK_THAT(o.result->text() == answers[r.request_id()].result->text(), "%s: the record's text differs",
                 r.request_id().c_str());
    }
  }
  if (before.ok() && after.ok()) {
    uint64_t ran_before = 0, ran_after = 0;
    for (const auto& g : before->groups()) ran_before += g.completed();
    for (const auto& g : after->groups()) ran_after += g.completed();
    CHECK_THAT(ran_after == ran_before, "groups completed %lu more sequences for repeated ids",
               static_cast<unsigned long>(ran_after - ran_before));
  }
  std::printf("repeated ids: %zu answered from the record\n", again.size());
}

constexpr int kLongTokens = 480;

proto::GenerateRequest Long(const std::string& id) {
  proto::GenerateRequest r;
  r.set_request_id(id);
  r.set_prompt("A very long story begins");
  // Long enough that a cancel sent on the first chunk lands well before the
  // end even on the tiny model (~1 ms round trip against ~0.5 s of tokens).
  r.set_max_tokens(kLongTokens);
  r.set_ignore_eos(true);
  r.set_stream(true);
  return r;
}

void CheckCancelAndDisconnect(const ClientOptions& co) {
  auto client = Client::Connect(co);
  if (!client.ok()) return;
  // Cancel after the first chunk.
  const std::string id = NewRequestId();
  CHECK_THAT((*client)->Submit(Long(id)).ok(), "submit");
  bool cancelled = false, finished = false;
  for (int i = 0; i < 600 && !finished; ++i) {
    auto reply = (*client)->Next(absl::Milliseconds(100));
    if (!reply.ok() || !reply->has_value()) continue;
    const auto& m = **reply;
    if (m.has_chunk() && !cancelled) {
      auto other = Client::Connect(co);  // any client may cancel
      CHECK_THAT(other.ok() && (*other)->Cancel(id).ok(), "cancel");
      cancelled = true;
    }
    if (m.has_result()) {
      finished = true;
      CHECK_THAT(m.result().finish_reason() == proto::FINISH_CANCELLED, "finish reason %d after cancel",
                 m.result().finish_reason());
      CHECK_THAT(m.result().tokens_size() < kLongTokens, "a cancelled request generated all %d tokens",
                 m.result().tokens_size());
    }
  }
  CHECK_THAT(finished, "the cancelled request never ended");
  auto idle = WaitForIdle(**client, absl::Seconds(20));
  CHECK_THAT(idle.has_value(), "KV blocks not all free 20 s after a cancel");
  const uint64_t cancelled_before = idle ? idle->cancelled() : 0;
  std::printf("cancel: ended with FINISH_CANCELLED, every group's KV blocks free again\n");

  // A client that goes away mid-stream: the coordinator notices on its next
  // send and cancels the sequence.
  {
    auto gone = Client::Connect(co);
    CHECK_THAT(gone.ok(), "connect");
    if (gone.ok()) {
      CHECK_THAT((*gone)->Submit(Long(NewRequestId())).ok(), "submit");
      for (int i = 0; i < 600; ++i) {
        auto reply = (*gone)->Next(absl::Milliseconds(100));
        if (reply.ok() && reply->has_value() && (**reply).has_chunk()) break;
      }
    }
  }  // the socket closes here
  auto idle2 = WaitForIdle(**client, absl::Seconds(20));
  CHECK_THAT(idle2.has_value(), "KV blocks not all free 20 s after a client vanished");
  if (idle2) {
    CHECK_THAT(idle2->cancelled() > cancelled_before, "the vanished client's request was not cancelled");
  }
  std::printf("disconnect: the vanished client's sequence was cancelled and its KV blocks freed\n");
}

void CheckOverload(Client& client, const proto::ClusterStatus& st, int n) {
  std::vector<proto::GenerateRequest> reqs;
  for (int i = 0; i < n; ++i) {
    proto::GenerateRequest r;
    r.set_request_id("overload-" + std::to_string(i));
    r.set_prompt("Overload");
    r.set_max_tokens(6);
    r.set_ignore_eos(true);
    reqs.push_back(r);
  }
  auto answers = RunAll(client, reqs, absl::Minutes(5));
  int completed = 0, busy = 0, other = 0;
  for (const auto& r : reqs) {
    const Outcome& o = answers[r.request_id()];
    if (o.result && o.result->tokens_size() == 6) ++completed;
    else if (o.error && o.error->code() == proto::ERROR_BUSY) ++busy;
    else ++other;
  }
  std::printf("overload: sent %d = completed %d + busy %d (+ %d other; queue limit %d)\n", n, completed, busy, other,
              st.queue_limit());
  CHECK_THAT(other == 0 && completed + busy == n, "sent %d != completed %d + busy %d", n, completed, busy);
  CHECK_THAT(busy > 0, "no BUSY answer: the overload did not overload (raise the count or lower --queue-limit)");
}

void CheckMalformed(const ClientOptions& co, Client& client) {
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 5000);
  CHECK_THAT(auth::ConfigureCurveClientSocket(raw, co.curve).ok(), "CURVE options on the raw socket");
  raw.connect(co.endpoint);
  const std::string garbage = "\xff\x00not a protobuf at all\x13\x37";
  raw.send(zmq::buffer(garbage), zmq::send_flags::none);
  zmq::message_t reply;
  const bool got = raw.recv(reply, zmq::recv_flags::none).has_value();
  proto::ClientReply parsed;
  CHECK_THAT(got && parsed.ParseFromArray(reply.data(), static_cast<int>(reply.size())) && parsed.has_error() &&
                 parsed.error().code() == proto::ERROR_MALFORMED,
             "garbage bytes did not get an ERROR_MALFORMED answer");
  proto::GenerateRequest r;
  r.set_prompt("Still serving?");
  r.set_max_tokens(4);
  auto ok = client.Generate(r);
  CHECK_THAT(ok.ok(), "a request after garbage bytes failed: %s", ok.status().ToString().c_str());
  std::printf("malformed: garbage got ERROR_MALFORMED and the next request was served\n");
}

int Main(int argc, char** argv) {
  std::string endpoint, model_path;
  int requests = 64, overload = 400;
  CLI::App app{"serving_check: end-to-end checks against a running tessera cluster"};
  app.add_option("--coordinator", endpoint)->required();
  app.add_option("--model", model_path)->required();
  app.add_option("--requests", requests);
  app.add_option("--overload", overload);
  std::string server_key, key;  // CURVE: as `tessera generate --server-key --key`
  app.add_option("--server-key", server_key);
  app.add_option("--key", key);
  CLI11_PARSE(app, argc, argv);

  auto model = LoadModel(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 2;
  }
  auto backend = MakeCpuBackend({.threads = 1});
  ClientOptions co;
  co.endpoint = endpoint;
  co.reply_timeout = absl::Seconds(120);
  auto keys = auth::LoadClientKeys(server_key, key);
  if (!keys.ok()) {
    std::fprintf(stderr, "%s\n", keys.status().ToString().c_str());
    return 2;
  }
  co.curve = *std::move(keys);
  auto client = Client::Connect(co);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
    return 2;
  }
  auto st = (*client)->Status();
  if (!st.ok()) {
    std::fprintf(stderr, "status: %s\n", st.status().ToString().c_str());
    return 2;
  }
  CheckConcurrent(**client, **model, *backend, requests);
  CheckCancelAndDisconnect(co);
  CheckMalformed(co, **client);
  CheckOverload(**client, *st, overload);
  auto idle = WaitForIdle(**client, absl::Seconds(30));
  CHECK_THAT(idle.has_value(), "the cluster did not return to idle");
  if (idle) {
    CHECK_THAT(idle->accepted() == idle->completed() + idle->cancelled() + idle->failed(),
               "accepted %lu != completed + cancelled + failed", static_cast<unsigned long>(idle->accepted()));
    std::printf("ledger: accepted %lu, completed %lu, cancelled %lu, failed %lu, rejected busy %lu\n",
                static_cast<unsigned long>(idle->accepted()), static_cast<unsigned long>(idle->completed()),
                static_cast<unsigned long>(idle->cancelled()), static_cast<unsigned long>(idle->failed()),
                static_cast<unsigned long>(idle->rejected_busy()));
  }
  if (g_failures > 0) {
    std::fprintf(stderr, "serving_check: %d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("serving_check: all checks passed\n");
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Main(argc, argv); }
