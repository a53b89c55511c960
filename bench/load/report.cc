#include "bench/load/report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace tessera::bench {
namespace {

// "%*.*f", or "-" right-aligned when there is no value.
std::string Cell(double v, int width, int precision) {
  char buf[64];
  if (std::isnan(v) || std::isinf(v)) {
    std::snprintf(buf, sizeof buf, "%*s", width, "-");
  } else {
    std::snprintf(buf, sizeof buf, "%*.*f", width, precision, v);
  }
  return buf;
}

nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json SummaryToJson(const Summary& s) {
  return {{"count", s.count}, {"mean", Number(s.mean)}, {"min", Number(s.min)}, {"max", Number(s.max)},
          {"p50", Number(s.p50)}, {"p90", Number(s.p90)}, {"p99", Number(s.p99)}};
}

// A gnuplot single-quoted string literal ('' stands for one quote).
std::string GnuplotQuote(const std::string& s) { return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'"); }

std::string DataValue(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace

void PrintTable(std::FILE* out, const BenchOptions& o, const RunInfo& info, const std::vector<LevelStats>& levels) {
  std::fprintf(out, "tessera-bench%s%s: model %s, %d group(s) ready, prompt %s tokens, output %s tokens%s, %s\n",
               o.label.empty() ? "" : " ", o.label.c_str(), info.model.empty() ? "?" : info.model.c_str(),
               info.groups_ready, FormatIntRange(o.prompt_len).c_str(), FormatIntRange(o.max_tokens).c_str(),
               o.ignore_eos ? " (ignore EOS)" : "",
               o.rate > 0 ? absl::StrCat("Poisson ", o.rate, " req/s").c_str() : "closed loop");
  std::fprintf(out, "latencies in ms; goodput: req/s with TTFT <= %s ms and TPOT <= %s ms\n",
               o.slo_ttft_ms > 0 ? absl::StrCat(o.slo_ttft_ms).c_str() : "inf",
               o.slo_tpot_ms > 0 ? absl::StrCat(o.slo_tpot_ms).c_str() : "inf");
  std::fprintf(out, "%5s %5s %4s %10s %6s %9s %8s %9s %8s %8s %8s %9s %9s %8s\n", "conc", "req", "err",
               "out tok/s", "ratio", "TTFT p50", "p99", "TPOT p50", "p99", "ITL p50", "p99", "e2e p50", "p99",
               "goodput");
  for (const LevelStats& l : levels) {
    std::fprintf(out, "%5d %5d %4d %s %s %s %s %s %s %s %s %s %s %s\n", l.concurrency, l.requests, l.errors,
                 Cell(l.output_tok_s, 10, 1).c_str(), Cell(l.ratio_to_first, 6, 2).c_str(),
                 Cell(l.ttft_ms.p50, 9, 1).c_str(), Cell(l.ttft_ms.p99, 8, 1).c_str(),
                 Cell(l.tpot_ms.p50, 9, 2).c_str(), Cell(l.tpot_ms.p99, 8, 2).c_str(),
                 Cell(l.itl_ms.p50, 8, 2).c_str(), Cell(l.itl_ms.p99, 8, 2).c_str(),
                 Cell(l.e2e_ms.p50, 9, 1).c_str(), Cell(l.e2e_ms.p99, 9, 1).c_str(),
                 Cell(l.goodput_rps, 8, 2).c_str());
  }
  for (const LevelStats& l : levels) {
    if (l.errors_by_code.empty()) continue;
    std::vector<std::string> parts;
    for (const auto& [code, n] : l.errors_by_code) parts.push_back(absl::StrCat(code, " ", n));
    std::fprintf(out, "errors at concurrency %d: %s\n", l.concurrency, absl::StrJoin(parts, ", ").c_str());
  }
  for (const LevelStats& l : levels) {
    if (l.from_record == 0) continue;
    std::fprintf(out, "warning: %d answer(s) at concurrency %d came from the coordinator's record, not a run\n",
                 l.from_record, l.concurrency);
  }
}

nlohmann::json OptionsToJson(const BenchOptions& o) {
  return {{"coordinator", o.coordinator},
          {"concurrency", o.concurrency},
          {"requests", o.requests},
          {"warmup", o.warmup},
          {"rate", o.rate},
          {"prompt_len", {{"lo", o.prompt_len.lo}, {"hi", o.prompt_len.hi}}},
          {"max_tokens", {{"lo", o.max_tokens.lo}, {"hi", o.max_tokens.hi}}},
          {"temperature", o.temperature},
          {"top_k", o.top_k},
          {"top_p", o.top_p},
          {"seed", o.seed},
          {"ignore_eos", o.ignore_eos},
          {"vocab", o.vocab},
          {"min_token", o.min_token},
          {"slo_ttft_ms", o.slo_ttft_ms},
          {"slo_tpot_ms", o.slo_tpot_ms},
          {"connections", o.connections},
          {"timeout_s", o.timeout_s},
          {"label", o.label}};
}

nlohmann::json LevelToJson(const LevelStats& l) {
  return {{"concurrency", l.concurrency},
          {"requests", l.requests},
          {"succeeded", l.succeeded},
          {"errors", l.errors},
          {"errors_by_code", l.errors_by_code},
          {"wall_s", l.wall_s},
          {"output_tokens", l.output_tokens},
          {"prompt_tokens", l.prompt_tokens},
          {"output_tok_s", Number(l.output_tok_s)},
          {"ratio_to_first", Number(l.ratio_to_first)},
          {"requests_s", Number(l.requests_s)},
          {"from_record", l.from_record},
          {"slo_met", l.slo_met},
          {"goodput_rps", Number(l.goodput_rps)},
          {"ttft_ms", SummaryToJson(l.ttft_ms)},
          {"tpot_ms", SummaryToJson(l.tpot_ms)},
          {"itl_ms", SummaryToJson(l.itl_ms)},
          {"e2e_ms", SummaryToJson(l.e2e_ms)},
          {"coordinator",
           {{"queue_ms", SummaryToJson(l.server_queue_ms)},
            {"ttft_ms", SummaryToJson(l.server_ttft_ms)},
            {"tpot_ms", SummaryToJson(l.server_tpot_ms)}}}};
}

nlohmann::json RunToJson(const BenchOptions& o, const RunInfo& info, const std::vector<LevelStats>& levels) {
  nlohmann::json j = {{"tool", "tessera-bench"},
                      {"label", o.label},
                      {"started_at", info.started_at},
                      {"model", info.model},
                      {"groups_ready", info.groups_ready},
                      {"options", OptionsToJson(o)},
                      {"levels", nlohmann::json::array()}};
  for (const LevelStats& l : levels) j["levels"].push_back(LevelToJson(l));
  return j;
}

absl::Status WriteJson(const std::string& path, const nlohmann::json& json) {
  std::ofstream f(path);
  if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  f << json.dump(2) << "\n";
  f.close();
  if (!f) return absl::UnavailableError(absl::StrCat("writing ", path, " failed"));
  return absl::OkStatus();
}

std::string PlotScript(const std::string& png_path, const std::string& label, const std::vector<LevelStats>& levels) {
  std::string s =
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
      "  set terminal pngcairo size 900,900 noenhanced font ',10'\n"
      "} else {\n"
      "  set terminal png size 900,900 noenhanced\n"
      "}\n";
  absl::StrAppend(&s, "set output ", GnuplotQuote(png_path), "\n");
  absl::StrAppend(&s, "$levels << EOD\n");
  for (const LevelStats& l : levels) {
    absl::StrAppend(&s, l.concurrency, " ", DataValue(l.output_tok_s), " ", DataValue(l.ttft_ms.p50), " ",
                    DataValue(l.tpot_ms.p50), "\n");
  }
  absl::StrAppend(&s, "EOD\n");
  absl::StrAppend(&s, "set multiplot layout 2,1 title ",
                  GnuplotQuote(label.empty() ? "tessera-bench" : absl::StrCat("tessera-bench: ", label)), "\n");
  absl::StrAppend(&s,
                  "set logscale x 2\n"
                  "set lmargin 10\n"
                  "set rmargin 10\n"
                  "set xlabel 'concurrency (requests in flight)'\n"
                  "set grid\n"
                  "set key top left\n"
                  "set ylabel 'output tokens/s'\n"
                  "set yrange [0:*]\n"
                  "plot $levels using 1:2 with linespoints lw 2 pt 7 title 'output tok/s'\n"
                  "set ylabel 'TTFT p50 (ms)'\n"
                  "set y2label 'TPOT p50 (ms)'\n"
                  "set ytics nomirror\n"
                  "set y2tics\n"
                  "set y2range [0:*]\n"
                  "plot $levels using 1:3 axes x1y1 with linespoints lw 2 pt 7 title 'TTFT p50 (left)', \\\n"
                  "     $levels using 1:4 axes x1y2 with linespoints lw 2 pt 5 title 'TPOT p50 (right)'\n"
                  "unset multiplot\n");
  return s;
}

absl::Status WritePlot(const std::string& png_path, const std::string& label, const std::vector<LevelStats>& levels) {
  if (!OnPath("gnuplot")) {
    return absl::FailedPreconditionError(
        "gnuplot is not installed (Debian: apt-get install gnuplot-nox; deploy/install-deps.sh installs it)");
  }
  std::FILE* pipe = popen("gnuplot", "w");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot start gnuplot: ", std::strerror(errno)));
  const std::string script = PlotScript(png_path, label, levels);
  std::fwrite(script.data(), 1, script.size(), pipe);
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("gnuplot failed to write ", png_path, " (its messages are above)"));
  }
  return absl::OkStatus();
}

}  // namespace tessera::bench
