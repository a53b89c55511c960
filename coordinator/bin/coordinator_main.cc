// tessera-coordinator: the front queue in front of the replica groups.
//
//   tessera-coordinator --model M.gguf --listen tcp://*:5555 --workers tcp://*:5556 --admin tcp://127.0.0.1:5557
//
// Clients (tessera generate --coordinator, the client library) connect to
// --listen; group leaders (tessera-worker --coordinator) to --workers;
// administrators (tessera admin) to --admin, which listens on loopback
// unless told otherwise.
// SIGINT/SIGTERM: groups get Shutdown, waiting clients ERROR_UNAVAILABLE,
// exit 0.
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "coordinator/coordinator.h"
#include "glog/logging.h"
#include "model/model.h"

namespace {

tessera::Coordinator* g_coordinator = nullptr;

extern "C" void OnSignal(int) {
  if (g_coordinator != nullptr) g_coordinator->Stop();  // async-signal-safe
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tessera-coordinator: routes client requests to replica groups"};
  std::string model_path;
  tessera::CoordinatorOptions options;
  int64_t heartbeat_timeout_ms = 10000;
  int64_t queue_timeout_ms = 60000;
  int64_t drain_timeout_ms = 30000;
  int64_t reshard_timeout_ms = 600000;
  bool verbose = false;
  app.add_option("-m,--model", model_path, "The .gguf model the groups serve (its tokenizer is used here)")
      ->required();
  app.add_option("--listen", options.listen, "Client endpoint (ROUTER)")->capture_default_str();
  app.add_option("--workers", options.workers, "Group leader endpoint (ROUTER)")->capture_default_str();
  app.add_option("--admin", options.admin,
                 "Admin endpoint (ROUTER, for `tessera admin`); \"\" turns it off. Loopback by default: admin "
                 "commands drain and remove groups, so bind it to another address only with CURVE on "
                 "(--curve-key, --admin-keys)")
      ->capture_default_str();
  app.add_option("--queue-limit", options.queue_limit,
                 "Requests waiting for a group before new ones are answered BUSY")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 24));
  app.add_option("--default-max-tokens", options.default_max_tokens, "Tokens to generate when a request says 0")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--kv-tokens", options.kv_tokens,
                 "KV budget (positions) planned for a group that asks for none (0: 4 x the context)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--record-limit", options.record_limit,
                 "Finished requests remembered, so a repeated request id is answered, not run again")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 24));
  app.add_option("--record-bytes", options.record_bytes,
                 "Bytes the remembered answers may take (the least recently used go first)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--heartbeat-timeout-ms", heartbeat_timeout_ms,
                 "A group silent this long is declared dead; its requests run elsewhere")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  app.add_option("--queue-timeout-ms", queue_timeout_ms,
                 "A request no group took within this long is answered UNAVAILABLE")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  app.add_option("--drain-timeout-ms", drain_timeout_ms,
                 "How long a rebalance or remove lets a group's running requests finish before the rest move "
                 "to other groups")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 32));
  app.add_option("--reshard-timeout-ms", reshard_timeout_ms,
                 "How long a group may take to load a new plan and answer; past it the group is shut down and "
                 "declared dead, and its requests run elsewhere (its heartbeats alone do not keep it)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  CLI::Option* curve_key = app.add_option("--curve-key", options.curve_key,
                 "This coordinator's secret key file (NAME.key_secret from `tessera keygen`): turns on CURVE "
                 "encryption and authentication on the client and admin sockets (the worker socket stays plain); "
                 "needs --client-keys and --admin-keys");
  CLI::Option* client_keys = app.add_option("--client-keys", options.client_keys,
                 "Public keys (one per line, optional label after it, '#' comments) let in on the client socket");
  CLI::Option* admin_keys = app.add_option("--admin-keys", options.admin_keys,
                 "Public keys let in on the admin socket (a separate list: client keys do not open it)");
  app.add_flag("-v,--verbose", verbose, "Log every request and dropped message");
  CLI11_PARSE(app, argc, argv);
  // An empty path given on purpose (an unset variable in a launch script)
  // must not quietly mean "authentication off": fail closed.
  for (const CLI::Option* o : {curve_key, client_keys, admin_keys}) {
    if (o->count() > 0 && o->as<std::string>().empty()) {
      std::cerr << "error: " << o->get_name() << " was given an empty path; leave the flag out to run without "
                << "authentication\n";
      return 1;
    }
  }

  FLAGS_logtostderr = true;
  if (verbose) FLAGS_v = 1;
  google::InitGoogleLogging(argv[0]);
  options.heartbeat_timeout = absl::Milliseconds(heartbeat_timeout_ms);
  options.queue_timeout = absl::Milliseconds(queue_timeout_ms);
  options.drain_timeout = absl::Milliseconds(drain_timeout_ms);
  options.reshard_timeout = absl::Milliseconds(reshard_timeout_ms);

  auto model = tessera::LoadModel(model_path);
  if (!model.ok()) {
    std::cerr << "error: " << model_path << ": " << model.status().message() << "\n";
    return 1;
  }
  auto coordinator = tessera::Coordinator::Create(options, *std::move(model));
  if (!coordinator.ok()) {
    std::cerr << "error: " << coordinator.status().message() << "\n";
    return 1;
  }
  g_coordinator = coordinator->get();
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const absl::Status st = (*coordinator)->Run();
  g_coordinator = nullptr;
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }
  return 0;
}
