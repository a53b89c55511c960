// A ZAP (ZeroMQ RFC 27) handler: decides who may connect to a context's
// CURVE server sockets by their public key.
//
// libzmq asks the handler bound to inproc://zeromq.zap.01 in the server
// socket's context about every CURVE handshake, with the socket's
// ZMQ_ZAP_DOMAIN and the client's public key. This one answers 200 when the
// key is in that domain's list and 400 otherwise (also for an unknown domain
// or a mechanism other than CURVE): a refused peer's connection is closed,
// none of its messages ever reach the socket. Refusals are logged, at most a
// few per window with a count of the rest, so a peer retrying in a loop
// cannot flood the log.
//
// One thread of its own owns the REP socket. Start() binds it before
// returning, so server sockets bound afterwards never see a handshake
// without it; the destructor stops and joins the thread and closes its
// sockets (linger 0), so the context can then terminate. A ZeroMQ error
// refuses the handshake at hand and the handler binds afresh after a short
// pause (refusing, never letting in, meanwhile); only a stop or the
// context's termination ends the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "auth/key_list.h"
#include "zmq.hpp"

namespace tessera::auth {

class ZapHandler {
 public:
  // ZAP domain -> the keys let in on the sockets of that domain.
  using Domains = absl::flat_hash_map<std::string, KeyList>;

  // Errors: another handler already bound in `context`, or a domain without
  // keys (fail closed).
  static absl::StatusOr<std::unique_ptr<ZapHandler>> Start(zmq::context_t& context, Domains domains);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Handshakes answered so far (for tests and status).
  int64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }
  int64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  ZapHandler(Domains domains, zmq::socket_t stop) : domains_(std::move(domains)), stop_(std::move(stop)) {}

  // Answers handshakes until a stop or the context's end. A failure while
  // answering one costs that handshake only: the REP socket (whose state a
  // half-answered request leaves unusable) is bound afresh from `context`.
  void Serve(zmq::context_t& context, zmq::socket_t requests, zmq::socket_t stop);

  const Domains domains_;
  zmq::socket_t stop_;  // the destructor's end of the stop pipe
  std::thread thread_;
  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> refused_{0};
};

}  // namespace tessera::auth
