#include "auth/zap_handler.h"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/curve_keys.h"
#include "glog/logging.h"

namespace tessera::auth {
namespace {

// Where libzmq looks for the handler of a context (RFC 27).
constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr char kZapVersion[] = "1.0";
// A request has 7 frames for CURVE; more are read and dropped.
constexpr size_t kMaxFrames = 16;
// Refusals logged per window; the rest are counted and summed up at the
// window's end. A misconfigured client retries its handshake every
// reconnect interval (100 ms by default), forever.
constexpr int kLogBurst = 5;
constexpr std::chrono::seconds kLogWindow{30};
// The loop wakes this often to write the summary even when nobody knocks.
constexpr std::chrono::milliseconds kIdleWake{1000};
// Enough of a key to tell it apart in a log, short enough to read.
constexpr size_t kKeyPrefix = 12;
// After a ZeroMQ error, how long the handler waits before binding afresh: a
// persistent error must not spin a core or flood the log.
constexpr std::chrono::milliseconds kRetryPause{200};

// The REP socket libzmq sends a context's ZAP requests to. Throws
// zmq::error_t (EADDRINUSE while another handler holds the endpoint).
zmq::socket_t BindRequests(zmq::context_t& context) {
  zmq::socket_t requests(context, zmq::socket_type::rep);
  requests.set(zmq::sockopt::linger, 0);
  requests.bind(kZapEndpoint);
  return requests;
}

class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;

  void Refused(const std::string& what) {
    Roll(Clock::now());
    if (logged_ < kLogBurst) {
      ++logged_;
      LOG(WARNING) << what;
    } else {
      ++suppressed_;
    }
  }
  // Ends the window if it is over, saying how many refusals went unlogged.
  void Roll(Clock::time_point now) {
    if (now - window_start_ < kLogWindow) return;
    if (suppressed_ > 0) {
      LOG(WARNING) << "ZAP: " << suppressed_ << " more refused handshakes in the last " << kLogWindow.count()
                   << " s were not logged";
    }
    window_start_ = now;
    logged_ = 0;
    suppressed_ = 0;
  }

 private:
  Clock::time_point window_start_ = Clock::now();
  int logged_ = 0;
  int64_t suppressed_ = 0;
};

struct Verdict {
  const char* code;        // "200", "400", "500"
  std::string text;        // status text, sent back to the peer's libzmq
  std::string user_id;     // the key's label (or its Z85) when let in
  std::string log;         // why, for the refusal log
};

std::string KeyPrefix(absl::string_view binary_key) {
  const std::string z85 = BinaryToZ85(binary_key);
  return z85.empty() ? std::string("(no key)") : absl::StrCat(z85.substr(0, kKeyPrefix), "...");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& context, Domains domains) {
  for (const auto& [domain, keys] : domains) {
    if (keys.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("ZAP domain '", domain, "' has no keys: nobody could connect"));
    }
  }
  static std::atomic<uint64_t> instances{0};
  const std::string stop_endpoint = absl::StrCat("inproc://tessera.zap.stop.", instances.fetch_add(1));
  try {
    zmq::socket_t requests;
    try {
      requests = BindRequests(context);
    } catch (const zmq::error_t& e) {
      if (e.num() != EADDRINUSE) throw;
      return absl::FailedPreconditionError(
          "another ZAP handler is already bound in this ZeroMQ context (one per context)");
    }
    zmq::socket_t stop_send(context, zmq::socket_type::pair);
    zmq::socket_t stop_receive(context, zmq::socket_type::pair);
    stop_send.set(zmq::sockopt::linger, 0);
    stop_receive.set(zmq::sockopt::linger, 0);
    stop_send.bind(stop_endpoint);
    stop_receive.connect(stop_endpoint);
    std::unique_ptr<ZapHandler> handler(new ZapHandler(std::move(domains), std::move(stop_send)));
    // The sockets move to the thread; thread start orders their setup here
    // before their use there (ZeroMQ sockets may migrate with a barrier).
    handler->thread_ = std::thread(
        [h = handler.get(), c = &context, r = std::move(requests), s = std::move(stop_receive)]() mutable {
          h->Serve(*c, std::move(r), std::move(s));
        });
    return handler;
  } catch (const zmq::error_t& e) {
    return absl::InternalError(absl::StrCat("starting the ZAP handler: ", e.what()));
  } catch (const std::system_error& e) {
    // No thread (out of threads or memory): the sockets went with the
    // lambda, and the handler's destructor has nothing to join.
    return absl::InternalError(absl::StrCat("starting the ZAP handler's thread: ", e.what()));
  }
}

ZapHandler::~ZapHandler() {
  if (thread_.joinable()) {
    try {
      stop_.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The context is being terminated: the thread's poll fails with ETERM.
    }
    thread_.join();
  }
  stop_.close();
}

void ZapHandler::Serve(zmq::context_t& context, zmq::socket_t requests, zmq::socket_t stop) {
  RefusalLog refusals;
  std::array<zmq::message_t, kMaxFrames> frames;
  zmq::message_t overflow;
  int64_t failures = 0;  // in a row
  for (;;) {
    try {
      if (!requests) {
        // The pause, spent listening for a stop so the destructor never
        // waits on a handler that cannot bind.
        zmq::pollitem_t stop_only[] = {{stop.handle(), 0, ZMQ_POLLIN, 0}};
        zmq::poll(stop_only, 1, kRetryPause);
        if (stop_only[0].revents & ZMQ_POLLIN) break;
        requests = BindRequests(context);
        LOG(WARNING) << "ZAP handler: answering CURVE handshakes again";
      }
      zmq::pollitem_t items[] = {{requests.handle(), 0, ZMQ_POLLIN, 0}, {stop.handle(), 0, ZMQ_POLLIN, 0}};
      try {
        zmq::poll(items, 2, kIdleWake);
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
        continue;
      }
      if (items[1].revents & ZMQ_POLLIN) break;
      refusals.Roll(RefusalLog::Clock::now());
      if (!(items[0].revents & ZMQ_POLLIN)) continue;

      size_t n = 0;
      for (bool more = true; more; ++n) {
        zmq::message_t& m = n < kMaxFrames ? frames[n] : overflow;
        if (!requests.recv(m, zmq::recv_flags::none)) break;
        more = m.more();
      }
      const size_t have = std::min(n, kMaxFrames);
      auto frame = [&](size_t i) {
        return i < have ? absl::string_view(static_cast<const char*>(frames[i].data()), frames[i].size())
                        : absl::string_view();
      };

      Verdict v{"500", "malformed ZAP request", "", ""};
      const std::string domain(frame(2));
      const std::string address(frame(3));
      const absl::string_view mechanism = frame(5);
      if (have < 6 || frame(0) != kZapVersion) {
        v.log = absl::StrCat("ZAP: a malformed request (", n, " frames) from libzmq; answered 500");
      } else if (mechanism != "CURVE") {
        v = {"400", "only CURVE is accepted", "", ""};
        v.log = absl::StrCat("ZAP refused a ", mechanism, " handshake on domain '", domain, "' from ", address,
                             ": only CURVE is accepted");
      } else if (have != 7 || frames[6].size() != kBinaryKeyLength) {
        v.log = absl::StrCat("ZAP: a CURVE request without a 32-byte key from ", address, "; answered 500");
      } else {
        const absl::string_view key = frame(6);
        auto it = domains_.find(domain);
        const std::string* label = it == domains_.end() ? nullptr : it->second.Find(key);
        if (label != nullptr) {
          v = {"200", "OK", label->empty() ? BinaryToZ85(key) : *label, ""};
        } else {
          v = {"400", "key not allowed", "", ""};
          v.log = absl::StrCat("ZAP refused key ", KeyPrefix(key),
                               " from ", address, " on domain '", domain, "': ",
                               it == domains_.end() ? "no key list for that domain"
                                                    : absl::StrCat("not in the ", domain, " key list"));
        }
      }
      if (v.code[0] == '2') {
        accepted_.fetch_add(1, std::memory_order_relaxed);
        VLOG(1) << "ZAP let in " << v.user_id << " from " << address << " on domain '" << domain << "'";
      } else {
        refused_.fetch_add(1, std::memory_order_relaxed);
        refusals.Refused(v.log);
      }
      // A REP socket must answer every request it read, malformed or not.
      const absl::string_view request_id = frame(1);
      requests.send(zmq::str_buffer(kZapVersion), zmq::send_flags::sndmore);
      requests.send(zmq::buffer(request_id.data(), request_id.size()), zmq::send_flags::sndmore);
      requests.send(zmq::buffer(v.code, std::strlen(v.code)), zmq::send_flags::sndmore);
      requests.send(zmq::buffer(v.text), zmq::send_flags::sndmore);
      requests.send(zmq::buffer(v.user_id), zmq::send_flags::sndmore);
      requests.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::none);  // no metadata
      failures = 0;
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;  // the context is ending: so is every CURVE socket
      ++failures;
      // Loud: until it binds again, libzmq refuses every CURVE handshake
      // (ZAP_ENFORCE_DOMAIN), so keyed clients cannot connect either.
      LOG(ERROR) << "ZAP handler: " << e.what() << " (" << failures
                 << " failure(s) in a row); refusing CURVE handshakes until it binds again in "
                 << kRetryPause.count() << " ms";
      requests.close();
    }
  }
  requests.close();
  stop.close();
}

}  // namespace tessera::auth
