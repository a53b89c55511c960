#include "auth/server_auth.h"

#include <tuple>

#include "absl/strings/str_cat.h"
#include "auth/curve_socket.h"
#include "auth/key_files.h"
#include "auth/key_list.h"
#include "glog/logging.h"

namespace tessera::auth {
namespace {

absl::Status Prefixed(absl::string_view flag, const absl::Status& st) {
  return absl::Status(st.code(), absl::StrCat(flag, ": ", st.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerAuth>> ServerAuth::Start(zmq::context_t& context, const ServerAuthFiles& files) {
  if (files.secret_key.empty()) {
    if (!files.client_keys.empty() || !files.admin_keys.empty()) {
      return absl::InvalidArgumentError(
          "--client-keys/--admin-keys without --curve-key: authentication needs the coordinator's secret key file "
          "(make one with `tessera keygen --out DIR/coordinator`)");
    }
    return std::unique_ptr<ServerAuth>();
  }
  if (files.client_keys.empty() || files.admin_keys.empty()) {
    return absl::InvalidArgumentError(
        "--curve-key needs both --client-keys and --admin-keys (files of public keys, one per line): with "
        "authentication on, the coordinator does not start without knowing whom to let in");
  }
  if (auto st = CheckCurveAvailable(); !st.ok()) return st;
  auto keys = ReadSecretKeyFile(files.secret_key);
  if (!keys.ok()) return Prefixed("--curve-key", keys.status());
  ZapHandler::Domains domains;
  for (auto [flag, path, domain] : {std::tuple{"--client-keys", &files.client_keys, kClientDomain},
                                    std::tuple{"--admin-keys", &files.admin_keys, kAdminDomain}}) {
    auto list = ReadKeyList(*path);
    if (!list.ok()) return Prefixed(flag, list.status());
    domains.emplace(domain, *std::move(list));
  }
  const size_t clients = domains.at(kClientDomain).size();
  const size_t admins = domains.at(kAdminDomain).size();
  auto zap = ZapHandler::Start(context, std::move(domains));
  if (!zap.ok()) return zap.status();
  LOG(INFO) << "CURVE authentication on for the client and admin sockets (server public key " << keys->public_key
            << "; " << clients << " client keys, " << admins << " admin keys); the worker socket stays plain";
  return std::unique_ptr<ServerAuth>(new ServerAuth(*std::move(keys), *std::move(zap)));
}

absl::Status ServerAuth::Configure(zmq::socket_t& socket, absl::string_view domain) const {
  if (domain != kClientDomain && domain != kAdminDomain) {
    return absl::InternalError(absl::StrCat("no key list for ZAP domain '", domain, "'"));
  }
  return ConfigureCurveServerSocket(socket, keys_, domain);
}

absl::Status ConfigureCurveServer(zmq::socket_t& socket, const ServerAuth* auth, absl::string_view domain) {
  if (auth == nullptr) return absl::OkStatus();
  return auth->Configure(socket, domain);
}

}  // namespace tessera::auth
