// `tessera status`: what a coordinator is doing: model, queue, counters and
// one row per replica group.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "client/cli.h"
#include "client/cli_admin.h"
#include "client/cli_cluster.h"
#include "google/protobuf/util/json_util.h"

namespace tessera::cli {
namespace {

struct StatusArgs {
  std::string coordinator = "tcp://127.0.0.1:5555";
  bool json = false;
  int64_t timeout_ms = 2000;
  AuthFlags auth;
};

std::string Uptime(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
}

void PrintText(const std::string& endpoint, const proto::ClusterStatus& s) {
  std::printf("coordinator %s: model %s, up %s\n", endpoint.c_str(), s.model().empty() ? "?" : s.model().c_str(),
              Uptime(s.uptime_s()).c_str());
  std::printf("queue %d/%d waiting, %d in flight\n", s.queue_depth(), s.queue_limit(), s.in_flight());
  std::printf("requests: %llu accepted, %llu completed, %llu rejected busy, %llu failed, %llu cancelled\n",
              static_cast<unsigned long long>(s.accepted()), static_cast<unsigned long long>(s.completed()),
              static_cast<unsigned long long>(s.rejected_busy()), static_cast<unsigned long long>(s.failed()),
              static_cast<unsigned long long>(s.cancelled()));
  if (s.groups().empty()) {
    std::printf("groups: none registered (start one: mpirun -np N tessera-worker --coordinator tcp://HOST:5556 ...)\n");
    return;
  }
  std::printf("%-4s %-20s %-10s %-6s %-6s %-8s %-12s %-14s %-10s %s\n", "ID", "NAME", "STATE", "TPxPP", "EPOCH",
              "RUNNING", "OUTSTANDING", "KV FREE/TOTAL", "HEARTBEAT", "DONE");
  for (const proto::GroupStatus& g : s.groups()) {
    const std::string shape = absl::StrFormat("%dx%d", g.tp(), g.pp());
    const std::string kv = absl::StrFormat("%d/%d", g.kv_blocks_free(), g.kv_blocks_total());
    const std::string beat = absl::StrFormat("%.1f s", g.heartbeat_age_s());
    std::printf("%-4llu %-20s %-10s %-6s %-6llu %-8d %-12lld %-14s %-10s %llu\n",
                static_cast<unsigned long long>(g.id()), g.name().c_str(), GroupStateName(g.state()).c_str(),
                shape.c_str(), static_cast<unsigned long long>(g.epoch()), g.running(),
                static_cast<long long>(g.outstanding_tokens()), kv.c_str(), beat.c_str(),
                static_cast<unsigned long long>(g.completed()));
  }
}

int RunStatus(const StatusArgs& a) {
  auto client = ConnectCoordinator(a.coordinator, absl::Milliseconds(a.timeout_ms), /*max_attempts=*/2, a.auth);
  if (!client.ok()) return ReportError(client.status());
  auto status = (*client)->Status();
  if (!status.ok()) return ReportError(status.status());
  if (!a.json) {
    PrintText(a.coordinator, *status);
    return 0;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (auto st = google::protobuf::util::MessageToJsonString(*status, &json, options); !st.ok()) {
    std::cerr << "error: " << st.ToString() << "\n";
    return 1;
  }
  std::cout << json;
  return 0;
}

}  // namespace

void AddStatusCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<StatusArgs>();
  CLI::App* cmd = app.add_subcommand("status", "Show a coordinator's model, queue, counters and replica groups");
  cmd->add_option("-c,--coordinator", a->coordinator, "The coordinator's client endpoint")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the ClusterStatus message as JSON");
  cmd->add_option("--timeout-ms", a->timeout_ms, "Wait this long for an answer, twice")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{3600} * 1000));
  AddAuthFlags(*cmd, a->auth);
  cmd->callback([a, &exit_code] { exit_code = RunStatus(*a); });
}

}  // namespace tessera::cli
