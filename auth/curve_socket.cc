#include "auth/curve_socket.h"

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace tessera::auth {
namespace {

// ZMQ_ZAP_ENFORCE_DOMAIN is a draft option in libzmq 4.3's header (hidden
// without ZMQ_BUILD_DRAFT_API), though Debian's libzmq5 implements it.
constexpr int kZapEnforceDomain = 93;

}  // namespace

absl::Status ConfigureCurveServerSocket(zmq::socket_t& socket, const CurveKeyPair& server, absl::string_view domain) {
  if (auto st = CheckCurveAvailable(); !st.ok()) return st;
  if (auto st = CheckZ85Key(server.secret_key, "the server's secret key"); !st.ok()) return st;
  if (domain.empty()) return absl::InvalidArgumentError("a CURVE server socket needs a ZAP domain");
  try {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, std::string(server.secret_key));
    socket.set(zmq::sockopt::zap_domain, std::string(domain));
  } catch (const zmq::error_t& e) {
    return absl::InternalError(absl::StrCat("setting CURVE server options: ", e.what()));
  }
  const int one = 1;
  if (zmq_setsockopt(socket.handle(), kZapEnforceDomain, &one, sizeof(one)) != 0) {
    // Without it libzmq lets every CURVE handshake through whenever no ZAP
    // handler answers (one not bound yet, or gone): authentication on must
    // fail closed, so such a libzmq cannot serve with keys.
    return absl::FailedPreconditionError(
        absl::StrCat("this libzmq cannot enforce the ZAP domain (ZMQ_ZAP_ENFORCE_DOMAIN: ", zmq_strerror(zmq_errno()),
                     "), so CURVE authentication could be bypassed; use libzmq 4.3 or later"));
  }
  return absl::OkStatus();
}

absl::Status ConfigureCurveClientSocket(zmq::socket_t& socket, const CurveClientKeys& keys) {
  if (!keys.enabled()) return absl::OkStatus();
  if (auto st = CheckClientKeys(keys); !st.ok()) return st;
  try {
    socket.set(zmq::sockopt::curve_serverkey, keys.server_key);
    socket.set(zmq::sockopt::curve_publickey, keys.client.public_key);
    socket.set(zmq::sockopt::curve_secretkey, keys.client.secret_key);
  } catch (const zmq::error_t& e) {
    return absl::InternalError(absl::StrCat("setting CURVE client options: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace tessera::auth
