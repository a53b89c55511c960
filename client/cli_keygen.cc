// `tessera keygen --out DIR/NAME`: a CURVE key pair for a coordinator, a
// client or an administrator. NAME.key_secret stays with its owner (mode
// 0600); NAME.key, the public key, goes to whoever must recognise it: a
// coordinator's to its clients (--server-key), a client's or admin's into
// the coordinator's --client-keys or --admin-keys list.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "auth/key_files.h"
#include "client/cli.h"

namespace tessera::cli {
namespace {

struct KeygenArgs {
  std::string out;
  bool force = false;
};

int RunKeygen(const KeygenArgs& a) {
  auto r = auth::WriteNewKeyPair(a.out, a.force);
  if (!r.ok()) {
    std::cerr << "error: " << r.status().message() << "\n";
    return absl::IsAlreadyExists(r.status()) || absl::IsInvalidArgument(r.status()) ? 2 : 1;
  }
  std::printf("secret key: %s (keep it private)\npublic key: %s\n%s\n", r->secret_path.c_str(),
              r->public_path.c_str(), r->keys.public_key.c_str());
  return 0;
}

}  // namespace

void AddKeygenCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand(
      "keygen", "Make a CURVE key pair: OUT.key_secret (private, mode 0600) and OUT.key (the public key to share)");
  cmd->add_option("-o,--out", a->out, "DIR/NAME: where to write NAME.key_secret and NAME.key")->required();
  cmd->add_flag("--force", a->force, "Replace existing files (whoever used the old key is refused from then on)");
  cmd->callback([a, &exit_code] { exit_code = RunKeygen(*a); });
}

}  // namespace tessera::cli
