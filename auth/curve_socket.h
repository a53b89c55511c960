// CURVE socket options, set before a socket binds or connects.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "auth/curve_keys.h"
#include "zmq.hpp"

namespace tessera::auth {

// The server side: `socket` does CURVE with `server` as its identity and
// asks the context's ZAP handler about each client under `domain`. ZAP
// domain enforcement is on too, so a server socket of that context whose
// handler went missing refuses instead of letting everyone in.
absl::Status ConfigureCurveServerSocket(zmq::socket_t& socket, const CurveKeyPair& server, absl::string_view domain);

// The client side: `socket` talks CURVE to the server whose public key is
// keys.server_key, as keys.client. Nothing when `keys` is empty (plain TCP).
absl::Status ConfigureCurveClientSocket(zmq::socket_t& socket, const CurveClientKeys& keys);

}  // namespace tessera::auth
