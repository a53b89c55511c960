// The coordinator's authentication: CURVE on its client and admin sockets,
// each peer's public key checked by a ZAP handler against the list of its
// socket (client keys and admin keys are separate lists, so a client key
// never opens the admin socket).
//
//   auto auth = ServerAuth::Start(context, files);   // before any bind
//   ConfigureCurveServer(clients, auth->get(), kClientDomain);
//
// Fail closed: with a secret key file both lists are required, and a
// missing, unreadable, malformed or empty one is an error, as are lists
// without the key. The lists are read once; changing them takes a restart.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/curve_keys.h"
#include "auth/zap_handler.h"
#include "zmq.hpp"

namespace tessera::auth {

// ZAP domains of the coordinator's sockets.
inline constexpr char kClientDomain[] = "client";
inline constexpr char kAdminDomain[] = "admin";

struct ServerAuthFiles {
  std::string secret_key;   // --curve-key: the coordinator's NAME.key_secret; empty: no authentication
  std::string client_keys;  // --client-keys: who may use the client socket
  std::string admin_keys;   // --admin-keys: who may use the admin socket
};

class ServerAuth {
 public:
  // nullptr (and OK) when `files` is all empty: authentication off. Else the
  // keys are read, checked, and the ZAP handler is bound in `context`; call
  // it before binding any server socket of that context.
  static absl::StatusOr<std::unique_ptr<ServerAuth>> Start(zmq::context_t& context, const ServerAuthFiles& files);

  // The CURVE server options for one socket; `domain` must be kClientDomain
  // or kAdminDomain.
  absl::Status Configure(zmq::socket_t& socket, absl::string_view domain) const;

  const std::string& public_key() const { return keys_.public_key; }
  const ZapHandler& zap() const { return *zap_; }

 private:
  ServerAuth(CurveKeyPair keys, std::unique_ptr<ZapHandler> zap) : keys_(std::move(keys)), zap_(std::move(zap)) {}

  CurveKeyPair keys_;
  std::unique_ptr<ZapHandler> zap_;
};

// `socket` as a CURVE server of `domain` when `auth` is set; nothing when it
// is null (authentication off). One call per server socket, before its bind.
absl::Status ConfigureCurveServer(zmq::socket_t& socket, const ServerAuth* auth, absl::string_view domain);

}  // namespace tessera::auth
