// `tessera generate --coordinator`: one request on a cluster, streamed.
// The text printed is what the single-rank form prints for the same model,
// prompt and sampling flags; the figures line holds what the coordinator
// measured.
#include <cstdio>
#include <iostream>
#include <string>

#include "client/cli_cluster.h"
#include "client/cli_generate.h"
#include "client/lib/client.h"
#include "worker/sampler.h"

namespace tessera::cli {
namespace {

void PrintFigures(const proto::GenerateResult& r) {
  const proto::Timings& t = r.timings();
  const double tok_s = t.tpot_ms() > 0 ? 1000.0 / t.tpot_ms() : 0.0;
  std::string extra;
  if (r.finish_reason() == proto::FINISH_EOS) extra += " | stopped at end-of-sequence";
  if (r.finish_reason() == proto::FINISH_CANCELLED) extra += " | cancelled";
  if (r.from_record()) extra += " | from the coordinator's record";
  std::printf("[prompt: %d tokens, TTFT %.1f ms | generation: %d tokens, %.1f tok/s (TPOT %.2f ms) | queue %.1f ms | "
              "group %s%s]\n",
              r.usage().prompt_tokens(), t.ttft_ms(), r.usage().completion_tokens(), tok_s, t.tpot_ms(),
              t.queue_ms(), r.group().empty() ? "?" : r.group().c_str(), extra.c_str());
}

}  // namespace

int RunRemoteGenerate(const GenerateArgs& a) {
  const SamplingParams sampling{a.temp, a.top_k, a.top_p, a.seed};
  if (auto st = ValidateSamplingParams(sampling); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 2;
  }
  if (a.request_id.size() > 128) {
    std::cerr << "error: --request-id is " << a.request_id.size() << " bytes; at most 128\n";
    return 2;
  }
  CatchInterrupt();
  auto client = ConnectCoordinator(a.coordinator, absl::Milliseconds(a.timeout_ms), /*max_attempts=*/4, a.auth);
  if (!client.ok()) return ReportError(client.status());

  proto::GenerateRequest request;
  request.set_request_id(a.request_id.empty() ? NewRequestId() : a.request_id);
  request.set_prompt(a.prompt);
  request.set_max_tokens(static_cast<int32_t>(a.n));
  request.set_stream(!a.no_stream);
  request.set_ignore_eos(a.ignore_eos);
  proto::SamplingOptions* s = request.mutable_sampling();
  s->set_temperature(a.temp);
  s->set_top_k(a.top_k);
  s->set_top_p(a.top_p);
  s->set_seed(a.seed);

  std::fputs(a.prompt.c_str(), stdout);
  std::fflush(stdout);
  std::string streamed;
  auto result = (*client)->Generate(request, [&streamed](const proto::TokenChunk& chunk) {
    std::fwrite(chunk.text().data(), 1, chunk.text().size(), stdout);
    std::fflush(stdout);
    streamed += chunk.text();
  });
  if (!result.ok()) {
    std::fputs("\n", stdout);
    std::fflush(stdout);
    return ReportError(result.status());
  }
  // The result's text is whole; chunks may have left out a UTF-8 tail.
  if (result->text().compare(0, streamed.size(), streamed) == 0) {
    std::fwrite(result->text().data() + streamed.size(), 1, result->text().size() - streamed.size(), stdout);
  }
  std::fputs("\n", stdout);
  PrintFigures(*result);
  std::fflush(stdout);
  if (result->finish_reason() == proto::FINISH_CANCELLED || InterruptRequested()) {
    std::cerr << "interrupted: request " << request.request_id()
              << (result->finish_reason() == proto::FINISH_CANCELLED ? " cancelled" : " ended before the cancel")
              << "\n";
    return 130;
  }
  return 0;
}

}  // namespace tessera::cli
