#include "bench/load/options.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tessera::bench {
namespace {

absl::StatusOr<int> ParsePositive(absl::string_view text, absl::string_view what) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an integer (", what, ")"));
  }
  if (value <= 0) return absl::InvalidArgumentError(absl::StrCat(what, " must be positive, got ", value));
  return value;
}

// Adds a string-valued option whose text is turned into a typed value by
// `parse`; a parse error becomes CLI11's usage error, naming the flag.
template <typename T, typename Parse>
CLI::Option* AddParsed(CLI::App& app, const std::string& name, T& target, Parse parse,
                       const std::string& help, const std::string& shown_default) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, parse, name](const std::string& text) {
            auto value = parse(text);
            if (!value.ok()) throw CLI::ValidationError(name, std::string(value.status().message()));
            target = *std::move(value);
          },
          help)
      ->default_str(shown_default);
}

}  // namespace

absl::StatusOr<IntRange> ParseIntRange(const std::string& text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  if (parts.size() > 2) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is neither N nor LO:HI"));
  }
  auto lo = ParsePositive(parts[0], "a length");
  if (!lo.ok()) return lo.status();
  auto hi = parts.size() == 2 ? ParsePositive(parts[1], "a length") : lo;
  if (!hi.ok()) return hi.status();
  if (*lo > *hi) return absl::InvalidArgumentError(absl::StrCat("'", text, "': LO is above HI"));
  return IntRange{*lo, *hi};
}

std::string FormatIntRange(const IntRange& r) {
  return r.fixed() ? absl::StrCat(r.lo) : absl::StrCat(r.lo, ":", r.hi);
}

absl::StatusOr<std::vector<int>> ParseIntList(const std::string& text) {
  std::vector<int> values;
  std::set<int> seen;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    auto v = ParsePositive(part, "a list entry");
    if (!v.ok()) return v.status();
    if (!seen.insert(*v).second) return absl::InvalidArgumentError(absl::StrCat(*v, " is listed twice"));
    values.push_back(*v);
  }
  return values;
}

void RegisterOptions(CLI::App& app, BenchOptions& o) {
  app.add_option("--coordinator", o.coordinator, "The coordinator's client endpoint")->capture_default_str();
  AddParsed(app, "--concurrency", o.concurrency, ParseIntList,
            "Levels to sweep: requests in flight at once, comma-separated", "1,2,4,8,16");
  app.add_option("--requests", o.requests, "Recorded requests per level (default: 4 x concurrency, at least 8)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--warmup", o.warmup, "Unrecorded requests before each level")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--rate", o.rate,
                 "Poisson arrivals in requests/s, at most --concurrency in flight (default: closed loop)")
      ->check(CLI::NonNegativeNumber);
  AddParsed(app, "--prompt-len", o.prompt_len, ParseIntRange, "Prompt tokens: N, or LO:HI drawn uniformly", "64");
  AddParsed(app, "--max-tokens", o.max_tokens, ParseIntRange, "Tokens to generate: N, or LO:HI drawn uniformly",
            "64");
  app.add_option("--temp", o.temperature, "Sampling temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", o.top_k, "Top-k cut (0: none)")->capture_default_str();
  app.add_option("--top-p", o.top_p, "Nucleus cut (1: none)")->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the prompts, lengths, arrivals and sampling")->capture_default_str();
  app.add_flag("--ignore-eos,!--stop-at-eos", o.ignore_eos,
               "Generate exactly the drawn number of tokens (default on; --stop-at-eos turns it off)");
  app.add_option("--vocab", o.vocab, "Prompt token ids are drawn below this (the model's vocabulary size)")
      ->capture_default_str();
  app.add_option("--min-token", o.min_token, "Smallest prompt token id drawn (skips special tokens)")
      ->capture_default_str();
  app.add_option("--slo-ttft-ms", o.slo_ttft_ms, "Goodput's time-to-first-token objective (<= 0: none)")
      ->capture_default_str();
  app.add_option("--slo-tpot-ms", o.slo_tpot_ms, "Goodput's time-per-output-token objective (<= 0: none)")
      ->capture_default_str();
  app.add_option("--connections", o.connections, "Client sockets (one thread each) sharing the load")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "Seconds without any reply, requests in flight, before they count as TIMEOUT")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--connect-timeout", o.connect_timeout_s, "Seconds to wait for the coordinator's status answer")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--wait-ready", o.wait_ready_s, "Seconds to wait for a ready replica group before the sweep")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_flag("--only-wait", o.only_wait, "Exit 0 once a group is ready (with --wait-ready), running no sweep");
  app.add_option("--json", o.json, "Write every statistic and the options to this JSON file");
  app.add_option("--plot", o.plot, "Write a PNG (gnuplot): output tok/s and TTFT/TPOT p50 against concurrency");
  app.add_option("--label", o.label, "A name for this run in the table, JSON and plot");
  app.add_option("--server-key", o.server_key,
                 "The coordinator's public key (NAME.key or the Z85 key), for one started with --curve-key")
      ->envname("TESSERA_SERVER_KEY");
  app.add_option("--key", o.key, "This client's secret key file (NAME.key_secret), listed by the coordinator")
      ->envname("TESSERA_KEY");
}

absl::Status ValidateOptions(const BenchOptions& o) {
  if (o.concurrency.empty()) return absl::InvalidArgumentError("--concurrency: give at least one level");
  if (o.vocab <= 1 || o.min_token < 0 || o.min_token >= o.vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("--min-token ", o.min_token, " and --vocab ", o.vocab, " leave no token ids to draw"));
  }
  if (o.temperature < 0) return absl::InvalidArgumentError("--temp must not be negative");
  if (o.top_k < 0) return absl::InvalidArgumentError("--top-k must not be negative");
  if (o.top_p < 0 || o.top_p > 1) return absl::InvalidArgumentError("--top-p must be in [0, 1]");
  return absl::OkStatus();
}

int RequestsPerLevel(const BenchOptions& o, int concurrency) {
  return o.requests > 0 ? o.requests : std::max(8, 4 * concurrency);
}

}  // namespace tessera::bench
