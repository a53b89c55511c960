// `tessera submit`: a JSON-lines file of requests through a coordinator,
// `concurrency` at a time, results written in input order. Request ids
// default to "<file stem>-<line>-<hash of the line>", so running a job again
// is answered from the coordinator's record for every request it already
// finished, and an edited line runs as the new request it is.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli.h"
#include "client/cli_cluster.h"
#include "client/cli_jobs_file.h"
#include "client/lib/batch.h"
#include "worker/sampler.h"

namespace tessera::cli {
namespace {

struct SubmitArgs {
  std::string coordinator = "tcp://127.0.0.1:5555";
  std::string file;
  std::string out;
  int concurrency = 16;
  JobDefaults defaults;
  int64_t timeout_ms = 60000;
  int max_attempts = 30;
  AuthFlags auth;
};

// Writes result lines in input order as soon as every earlier one is known.
class OrderedWriter {
 public:
  OrderedWriter(std::ofstream& out, size_t lines) : out_(out), lines_(lines) {}
  void Put(size_t slot, std::string line) {
    lines_[slot] = std::move(line);
    while (next_ < lines_.size() && lines_[next_].has_value()) {
      out_ << *lines_[next_] << '\n';
      lines_[next_].reset();
      ++next_;
    }
    out_.flush();
  }

 private:
  std::ofstream& out_;
  std::vector<std::optional<std::string>> lines_;
  size_t next_ = 0;
};

// On a terminal a bar redrawn in place; elsewhere (a log file) a line per
// tenth of the job.
class Progress {
 public:
  Progress(int64_t total, int64_t bad_lines)
      : total_(total), bad_(bad_lines), tty_(isatty(fileno(stderr)) == 1), start_(absl::Now()) {}

  void Update(const BatchStats& s, bool final = false) {
    const int64_t done = s.ok + s.failed + bad_;
    const absl::Time now = absl::Now();
    const double elapsed = absl::ToDoubleSeconds(now - start_);
    const double tok_s = elapsed > 0 ? static_cast<double>(s.streamed_tokens) / elapsed : 0.0;
    const int tenth = total_ > 0 ? static_cast<int>(done * 10 / total_) : 10;
    if (tty_) {
      if (!final && now - last_draw_ < absl::Milliseconds(100)) return;
      last_draw_ = now;
      constexpr int kWidth = 30;
      const int filled = total_ > 0 ? static_cast<int>(done * kWidth / total_) : kWidth;
      std::fprintf(stderr, "\r[%s%s] %lld/%lld  %lld failed  %lld tokens  %.1f tok/s  %.1f s\x1b[K",
                   std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), static_cast<long long>(done),
                   static_cast<long long>(total_), static_cast<long long>(s.failed + bad_),
                   static_cast<long long>(s.streamed_tokens), tok_s, elapsed);
      if (final) std::fputc('\n', stderr);
    } else if (tenth > last_tenth_ || (final && done != last_done_)) {
      last_tenth_ = tenth;
      std::fprintf(stderr, "%lld/%lld done, %lld failed, %lld tokens, %.1f tok/s, %.1f s\n",
                   static_cast<long long>(done), static_cast<long long>(total_),
                   static_cast<long long>(s.failed + bad_), static_cast<long long>(s.streamed_tokens), tok_s,
                   elapsed);
    }
    last_done_ = done;
    std::fflush(stderr);
  }

 private:
  int64_t total_;
  int64_t bad_;
  bool tty_;
  absl::Time start_;
  absl::Time last_draw_ = absl::InfinitePast();
  int last_tenth_ = 0;
  int64_t last_done_ = -1;
};

double Percentile(std::vector<double> sorted, double p) {
  if (sorted.empty()) return 0.0;
  std::sort(sorted.begin(), sorted.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

int RunSubmit(const SubmitArgs& a) {
  const JobDefaults& d = a.defaults;
  if (auto st = ValidateSamplingParams(SamplingParams{d.temperature, d.top_k, d.top_p, d.seed}); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 2;
  }
  std::ifstream in(a.file);
  if (!in) {
    std::cerr << "error: cannot read " << a.file << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::error_code ec;
  if (std::filesystem::equivalent(a.file, a.out, ec)) {
    std::cerr << "error: --out " << a.out << " is the input file\n";
    return 2;
  }
  const std::string stem = std::filesystem::path(a.file).stem().string();

  // Every non-blank input line gets one output slot, in order.
  std::vector<std::string> ids;                   // per slot
  std::vector<proto::GenerateRequest> requests;   // the good lines
  std::vector<size_t> slot_of;                    // request index -> slot
  std::vector<std::pair<size_t, absl::Status>> bad;  // slot, why
  std::map<std::string, int> first_line_of_id;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    JobLine job = ParseJobLine(line, DefaultJobId(stem, number, line), a.defaults);
    const size_t slot = ids.size();
    ids.push_back(job.id);
    absl::Status why = job.request.status();
    if (auto [it, fresh] = first_line_of_id.emplace(job.id, number); !fresh && why.ok()) {
      why = absl::InvalidArgumentError(absl::StrCat("id \"", job.id, "\" repeats line ", it->second));
    }
    if (!why.ok()) {
      std::cerr << a.file << ":" << number << ": " << why.message() << "\n";
      bad.emplace_back(slot, absl::Status(why.code(), absl::StrCat("line ", number, ": ", std::string(why.message()))));
      continue;
    }
    slot_of.push_back(slot);
    requests.push_back(*std::move(job.request));
  }
  if (in.bad()) {
    std::cerr << "error: cannot read " << a.file << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::ofstream out(a.out, std::ios::trunc);
  if (!out) {
    std::cerr << "error: cannot write " << a.out << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  OrderedWriter writer(out, ids.size());
  for (auto& [slot, why] : bad) writer.Put(slot, ErrorLine(ids[slot], why));

  CatchInterrupt();
  auto client = ConnectCoordinator(a.coordinator, absl::Milliseconds(a.timeout_ms), /*max_attempts=*/1, a.auth);
  if (!client.ok()) return ReportError(client.status());
  BatchOptions options;
  options.concurrency = a.concurrency;
  options.max_attempts = a.max_attempts;
  options.reply_timeout = absl::Milliseconds(a.timeout_ms);
  options.interrupted = InterruptRequested;

  Progress progress(static_cast<int64_t>(ids.size()), static_cast<int64_t>(bad.size()));
  std::vector<double> latencies_ms;
  const absl::Time start = absl::Now();
  BatchStats stats;
  const absl::Status run = RunBatch(
      **client, requests, options,
      [&](size_t index, BatchOutcome outcome) {
        const size_t slot = slot_of[index];
        if (outcome.result.ok()) {
          latencies_ms.push_back(absl::ToDoubleMilliseconds(outcome.latency));
          writer.Put(slot, ResultLine(ids[slot], *outcome.result));
        } else {
          writer.Put(slot, ErrorLine(ids[slot], outcome.result.status()));
        }
      },
      [&](const BatchStats& s) {
        stats = s;
        progress.Update(s);
      });
  const double wall_s = absl::ToDoubleSeconds(absl::Now() - start);
  progress.Update(stats, /*final=*/true);
  if (!run.ok()) std::cerr << "error: " << run.message() << "\n";

  const int64_t failed = stats.failed + static_cast<int64_t>(bad.size());
  std::printf("requests: %lld ok, %lld failed, %lld busy retries, %lld resent after silence\n",
              static_cast<long long>(stats.ok), static_cast<long long>(failed),
              static_cast<long long>(stats.busy_retries), static_cast<long long>(stats.resends));
  std::printf("output: %lld tokens in %.2f s = %.1f tok/s\n", static_cast<long long>(stats.output_tokens), wall_s,
              wall_s > 0 ? static_cast<double>(stats.output_tokens) / wall_s : 0.0);
  if (!latencies_ms.empty()) {
    std::printf("latency (first send to result, %zu requests): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
                latencies_ms.size(), Percentile(latencies_ms, 50), Percentile(latencies_ms, 90),
                Percentile(latencies_ms, 99));
  }
  std::printf("results: %s\n", a.out.c_str());
  if (InterruptRequested()) return 130;
  return failed == 0 && run.ok() ? 0 : 1;
}

}  // namespace

void AddSubmitCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<SubmitArgs>();
  CLI::App* cmd = app.add_subcommand(
      "submit", "Run a JSON-lines file of requests on a cluster; write one result line per request, in input order");
  cmd->add_option("-c,--coordinator", a->coordinator, "The coordinator's client endpoint")->capture_default_str();
  cmd->add_option("-f,--file", a->file,
                  "Requests, one JSON object per line: {\"id\"?, \"prompt\" | \"prompt_tokens\", \"max_tokens\"?, "
                  "\"temperature\"?, \"top_k\"?, \"top_p\"?, \"seed\"?, \"ignore_eos\"?}; ids default to "
                  "<file stem>-<line>-<8 hex digits of the line's hash>")
      ->required();
  cmd->add_option("-o,--out", a->out, "Results, one JSON object per input line")->required();
  cmd->add_option("--concurrency", a->concurrency, "Requests out at once")->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("-n,--max-tokens", a->defaults.max_tokens, "Default tokens to generate")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--temp", a->defaults.temperature, "Default sampling temperature (0: greedy)")
      ->capture_default_str()->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-k", a->defaults.top_k, "Default top-k (0: all)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a->defaults.top_p, "Default nucleus mass in (0, 1]")->capture_default_str();
  cmd->add_option("--seed", a->defaults.seed, "Default sampling seed")->capture_default_str();
  cmd->add_flag("--ignore-eos", a->defaults.ignore_eos, "By default keep generating past end-of-sequence");
  cmd->add_option("--timeout-ms", a->timeout_ms,
                  "Silence on the socket (no token, no answer) after which every request out is sent again "
                  "(same id); after 3 such resends in a row they fail")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{24} * 3600 * 1000));
  cmd->add_option("--max-attempts", a->max_attempts, "Tries of a request the coordinator answers BUSY or UNAVAILABLE")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  AddAuthFlags(*cmd, a->auth);
  cmd->callback([a, &exit_code] { exit_code = RunSubmit(*a); });
}

}  // namespace tessera::cli
