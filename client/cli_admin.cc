// `tessera admin`: the coordinator's admin socket from the command line.
//
//   tessera admin -c tcp://HOST:5557 status [--json]
//   tessera admin plan preview|diff --group N (--layers 0,10,24 | --shares 0.6,0.4 | --auto)
//   tessera admin rebalance --group N (...) [--wait] [--drain-timeout-ms MS]
//   tessera admin drain|undrain|remove --group N
//
// Exit codes: 0 done, 1 refused (or a rebalance rolled back), 2 bad usage,
// 3 no answer.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/cli.h"
#include "client/cli_admin.h"
#include "client/cli_auth.h"
#include "client/lib/admin_client.h"
#include "client/lib/rebalance_wait.h"
#include "google/protobuf/util/json_util.h"

namespace tessera::cli {
namespace {

constexpr int kOk = 0;
constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr int kNoAnswer = 3;

struct AdminArgs {
  std::string coordinator = "tcp://127.0.0.1:5557";
  int64_t timeout_ms = 5000;
  AuthFlags auth;
  // Subcommand arguments.
  bool json = false;
  int64_t group = -1;
  std::vector<int64_t> layers;
  std::vector<double> shares;
  bool auto_balance = false;
  bool wait = false;
  int64_t drain_timeout_ms = 0;
  int64_t wait_timeout_s = 600;
};

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return kUsage;
}

// A Status from the transport: 2 for what the command line got wrong, 3
// for silence, 1 otherwise.
int TransportError(const absl::Status& st) {
  std::cerr << "error: " << st.message() << (absl::IsDeadlineExceeded(st) ? kNoAnswerHint : "") << "\n";
  if (absl::IsInvalidArgument(st)) return kUsage;
  if (absl::IsDeadlineExceeded(st)) return kNoAnswer;
  return kRefused;
}

int Refused(const proto::AdminError& e) {
  std::cerr << "error: " << e.message() << " (" << proto::ErrorCode_Name(e.code()) << ")\n";
  return kRefused;
}

absl::StatusOr<std::unique_ptr<AdminClient>> Connect(const AdminArgs& a) {
  auto keys = ResolveAuthFlags(a.auth);
  if (!keys.ok()) return keys.status();
  AdminClientOptions options;
  options.endpoint = a.coordinator;
  options.timeout = absl::Milliseconds(a.timeout_ms);
  options.curve = *std::move(keys);
  return AdminClient::Connect(options);
}

// One request, its reply (an AdminError included), or the exit code.
struct Answer {
  proto::AdminReply reply;
  int exit_code = kOk;
  bool ok() const { return exit_code == kOk; }
};
Answer Ask(AdminClient& admin, const proto::AdminRequest& request) {
  Answer out;
  absl::StatusOr<proto::AdminReply> reply = admin.Call(request);
  if (!reply.ok()) {
    out.exit_code = TransportError(reply.status());
    return out;
  }
  out.reply = *std::move(reply);
  if (out.reply.has_error()) out.exit_code = Refused(out.reply.error());
  return out;
}

// --group, checked here rather than by CLI11 so every usage error says what
// to give.
bool CheckGroup(const AdminArgs& a, int& exit_code) {
  if (a.group >= 1) return true;
  exit_code = Usage("give --group N (a group id from `tessera admin status`)");
  return false;
}

// The spec from --layers / --shares / --auto, or a usage error.
bool BuildSpec(const AdminArgs& a, proto::PlanSpec& spec, int& exit_code) {
  if (!CheckGroup(a, exit_code)) return false;
  const bool fixed = !a.layers.empty() || !a.shares.empty();
  if (!fixed && !a.auto_balance) {
    exit_code = Usage("give --layers B0,B1,...,Bpp (cut points), --shares W0,...,Wtp (tensor shares) or --auto");
    return false;
  }
  if (fixed && a.auto_balance) {
    exit_code = Usage("--auto excludes --layers and --shares");
    return false;
  }
  for (double w : a.shares) {
    if (!(w > 0)) {
      exit_code = Usage(absl::StrFormat("--shares: every share must be > 0 (got %g)", w));
      return false;
    }
  }
  spec.mutable_layer_bounds()->Add(a.layers.begin(), a.layers.end());
  spec.mutable_tp_shares()->Add(a.shares.begin(), a.shares.end());
  spec.set_auto_balance(a.auto_balance);
  return true;
}

int PrintJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (auto st = google::protobuf::util::MessageToJsonString(m, &json, options); !st.ok()) {
    std::cerr << "error: " << st.ToString() << "\n";
    return kRefused;
  }
  std::cout << json;
  return kOk;
}

int RunStatus(const AdminArgs& a) {
  auto admin = Connect(a);
  if (!admin.ok()) return TransportError(admin.status());
  proto::AdminRequest request;
  request.mutable_status();
  Answer answer = Ask(**admin, request);
  if (!answer.ok()) return answer.exit_code;
  if (a.json) return PrintJson(answer.reply.status());
  PrintAdminStatus(a.coordinator, answer.reply.status());
  return kOk;
}

int RunPlan(const AdminArgs& a, bool diff) {
  proto::AdminRequest request;
  proto::PlanRequest* p = diff ? request.mutable_plan_diff() : request.mutable_plan_preview();
  int exit_code = kOk;
  if (!BuildSpec(a, *p->mutable_spec(), exit_code)) return exit_code;
  p->set_group_id(static_cast<uint64_t>(a.group));
  auto admin = Connect(a);
  if (!admin.ok()) return TransportError(admin.status());
  Answer answer = Ask(**admin, request);
  if (!answer.ok()) return answer.exit_code;
  if (a.json) return PrintJson(answer.reply.plan());
  const proto::PlanReport& r = answer.reply.plan();
  if (diff) std::printf("%s\n\n", r.diff().c_str());
  std::printf("%s\n", r.table().c_str());
  std::printf("group %llu: %.1f MiB of weights to load; predicted step %.3f ms (now %.3f ms)\n",
              static_cast<unsigned long long>(r.group_id()), static_cast<double>(r.moved_bytes()) / (1 << 20),
              r.proposed().predicted_step_seconds() * 1e3, r.current().predicted_step_seconds() * 1e3);
  return kOk;
}

const proto::GroupStatus* FindGroup(const proto::ClusterStatus& s, uint64_t id) {
  for (const proto::GroupStatus& g : s.groups()) {
    if (g.id() == id) return &g;
  }
  return nullptr;
}

// Waits for the rebalance of `before.id()` to end (client/lib/rebalance_wait.h):
// 0 when the plan switched (or nothing was started: the reply said why), 1
// when it rolled back or the group went, 3 when it still runs at the end of
// --wait-timeout-s.
int WaitForRebalanceEnd(AdminClient& admin, const AdminArgs& a, const proto::GroupStatus& before) {
  const uint64_t id = before.id();
  RebalanceWaitOptions options;
  options.timeout = absl::Seconds(a.wait_timeout_s);
  absl::StatusOr<RebalanceWaitResult> waited = WaitForRebalance(admin, before, options);
  if (!waited.ok()) return TransportError(waited.status());
  const proto::GroupStatus& g = waited->group;
  switch (waited->end) {
    case RebalanceEnd::kSwitched:
      std::printf("group %llu: %s\n", static_cast<unsigned long long>(id), g.last_rebalance().c_str());
      return kOk;
    case RebalanceEnd::kNotStarted:
      return kOk;
    case RebalanceEnd::kRolledBack:
      std::cerr << "error: group " << id << ": " << g.last_rebalance() << "\n";
      return kRefused;
    case RebalanceEnd::kGroupDied:
    case RebalanceEnd::kGroupGone:
      std::cerr << "error: group " << id << (waited->end == RebalanceEnd::kGroupGone ? " was removed" : " died")
                << " during the rebalance" << (g.last_rebalance().empty() ? "" : " (" + g.last_rebalance() + ")")
                << "; its requests run on the other groups\n";
      return kRefused;
    case RebalanceEnd::kStillRunning:
      std::cerr << "error: group " << id << " still rebalancing after " << a.wait_timeout_s
                << " s: " << g.last_rebalance() << "\n";
      return kNoAnswer;
  }
  return kRefused;
}

int RunRebalance(const AdminArgs& a) {
  proto::AdminRequest request;
  proto::RebalanceRequest* r = request.mutable_rebalance();
  int exit_code = kOk;
  if (!BuildSpec(a, *r->mutable_spec(), exit_code)) return exit_code;
  r->set_group_id(static_cast<uint64_t>(a.group));
  r->set_drain_timeout_ms(a.drain_timeout_ms);
  auto admin = Connect(a);
  if (!admin.ok()) return TransportError(admin.status());
  // With --wait, the group as it was: the rebalance has ended when its count
  // of finished rebalances passes this one's.
  proto::GroupStatus before;
  if (a.wait) {
    proto::AdminRequest status;
    status.mutable_status();
    Answer answer = Ask(**admin, status);
    if (!answer.ok()) return answer.exit_code;
    const proto::GroupStatus* g = FindGroup(answer.reply.status(), static_cast<uint64_t>(a.group));
    if (g != nullptr) before = *g;
  }
  Answer answer = Ask(**admin, request);
  if (!answer.ok()) return answer.exit_code;
  std::printf("%s\n", answer.reply.result().message().c_str());
  if (!a.wait) return kOk;
  std::fflush(stdout);
  before.set_id(static_cast<uint64_t>(a.group));
  return WaitForRebalanceEnd(**admin, a, before);
}

int RunGroupOp(const AdminArgs& a, const std::string& op) {
  int exit_code = kOk;
  if (!CheckGroup(a, exit_code)) return exit_code;
  proto::AdminRequest request;
  const uint64_t id = static_cast<uint64_t>(a.group);
  if (op == "drain") request.mutable_drain()->set_group_id(id);
  if (op == "undrain") request.mutable_undrain()->set_group_id(id);
  if (op == "remove") request.mutable_remove()->set_group_id(id);
  auto admin = Connect(a);
  if (!admin.ok()) return TransportError(admin.status());
  Answer answer = Ask(**admin, request);
  if (!answer.ok()) return answer.exit_code;
  std::printf("%s\n", answer.reply.result().message().c_str());
  return kOk;
}

CLI::Option* AddGroupOption(CLI::App& cmd, AdminArgs& a) {
  return cmd.add_option("-g,--group", a.group, "The group's id (`tessera admin status` lists them)");
}

void AddSpecOptions(CLI::App& cmd, AdminArgs& a) {
  cmd.add_option("--layers", a.layers, "Layer cut points, pp + 1 of them from 0 to the layer count (e.g. 0,10,24)")
      ->delimiter(',');
  cmd.add_option("--shares", a.shares, "Tensor shares of each stage's tp ranks, tp of them > 0 (e.g. 0.6,0.4)")
      ->delimiter(',');
  cmd.add_flag("--auto", a.auto_balance, "Move layers from slow stages to fast ones, from measured step times");
}

}  // namespace

void AddAdminCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<AdminArgs>();
  CLI::App* admin = app.add_subcommand(
      "admin", "Administer a running cluster: status, plans, rebalance, drain, undrain, remove");
  admin->require_subcommand(1);
  // Its options may follow the subcommand too (`tessera admin status -c ...`).
  admin->fallthrough();
  admin->add_option("-c,--coordinator", a->coordinator, "The coordinator's admin endpoint (its --admin)")
      ->capture_default_str();
  admin->add_option("--timeout-ms", a->timeout_ms, "Wait this long for each answer")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600} * 1000));
  AddAuthFlags(*admin, a->auth);
  admin->footer("Exit codes: 0 done, 1 refused (or rolled back), 2 bad usage, 3 no answer.");

  CLI::App* status = admin->add_subcommand("status", "Groups, plans, stage step times, rank memory, queue");
  status->add_flag("--json", a->json, "Print the ClusterStatus message as JSON");
  status->callback([a, &exit_code] { exit_code = RunStatus(*a); });

  CLI::App* plan = admin->add_subcommand("plan", "The plan a spec would give a group, without applying it");
  plan->require_subcommand(1);
  CLI::App* preview = plan->add_subcommand("preview", "The proposed plan's table and the bytes it would load");
  CLI::App* diff = plan->add_subcommand("diff", "What would change, rank by rank, against the running plan");
  for (CLI::App* cmd : {preview, diff}) {
    AddGroupOption(*cmd, *a);
    AddSpecOptions(*cmd, *a);
    cmd->add_flag("--json", a->json, "Print the PlanReport message as JSON");
  }
  preview->callback([a, &exit_code] { exit_code = RunPlan(*a, /*diff=*/false); });
  diff->callback([a, &exit_code] { exit_code = RunPlan(*a, /*diff=*/true); });

  CLI::App* rebalance = admin->add_subcommand(
      "rebalance", "Drain a group, load the tensors whose owner changes, switch to the new plan, serve");
  AddGroupOption(*rebalance, *a);
  AddSpecOptions(*rebalance, *a);
  rebalance->add_flag("--wait", a->wait, "Wait until the group serves the new plan (or rolled back)");
  rebalance->add_option("--drain-timeout-ms", a->drain_timeout_ms,
                        "How long running requests may take to finish before they move to other groups "
                        "(0: the coordinator's --drain-timeout-ms)")
      ->check(CLI::Range(int64_t{0}, int64_t{24} * 3600 * 1000));
  rebalance->add_option("--wait-timeout-s", a->wait_timeout_s, "Give up waiting after this long (exit 3)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{86400}));
  rebalance->callback([a, &exit_code] { exit_code = RunRebalance(*a); });

  const std::vector<std::pair<std::string, std::string>> ops = {
      {"drain", "Stop giving a group new requests; its running ones finish"},
      {"undrain", "Give a drained group new requests again"},
      {"remove", "Drain a group, move what still runs elsewhere, shut it down"},
  };
  for (const auto& [name, help] : ops) {
    CLI::App* cmd = admin->add_subcommand(name, help);
    AddGroupOption(*cmd, *a);
    cmd->callback([a, &exit_code, name = name] { exit_code = RunGroupOp(*a, name); });
  }
}

}  // namespace tessera::cli
