#include "coordinator/coordinator.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/server_auth.h"
#include "coordinator/coordinator_core.h"
#include "glog/logging.h"
#include "zmq.hpp"

namespace tessera {
namespace {

// High-water marks, in messages per peer connection.
// - Client send: a streaming request costs one message per token update, and
//   one client socket may carry hundreds of streams; 100k queued messages
//   (~10 MB) is far beyond what a client that keeps reading ever has
//   waiting, so reaching it (EAGAIN under ROUTER_MANDATORY) means the client
//   stopped reading: its request is cancelled instead of buffering forever.
// - Client receive: the loop drains continuously; the mark only bounds the
//   memory a flooding client can take before ZeroMQ stops reading its TCP
//   connection (back-pressure, nothing is dropped).
// - Group send: the coordinator sends a group at most max_sequences starts
//   plus their cancels, so a live leader never gets near the mark; reaching
//   it means the leader stopped reading and the group is declared dead.
// - Group receive: one update message per step per group, drained as they
//   come.
constexpr int kClientSendHwm = 100000;
constexpr int kClientRecvHwm = 10000;
constexpr int kGroupSendHwm = 100000;
constexpr int kGroupRecvHwm = 100000;
// Admin: one request, one reply per peer at a time; a status answer is a few
// kilobytes per group. Requests are tiny: 1 MiB is far beyond any.
constexpr int kAdminSendHwm = 1000;
constexpr int kAdminRecvHwm = 1000;
constexpr int64_t kAdminMaxMessageBytes = int64_t{1} << 20;
// The largest client message taken: a prompt filling any context many
// times over. A bigger one closes that client's connection (ZeroMQ drops it
// unanswered), so one peer cannot make the coordinator hold gigabytes; a
// text prompt longer than could fit is refused before it is tokenized
// (request_validator.h).
constexpr int64_t kClientMaxMessageBytes = int64_t{16} << 20;
// On close, queued messages (Shutdown to groups, last answers) get this long
// to leave; a dead peer never holds the exit longer.
constexpr int kLingerMs = 1000;
// Messages handled from one socket before looking at the other, and the
// longest such a batch may take: neither clients nor groups can starve the
// other side, and timeouts are checked on time.
constexpr int kBatch = 256;
constexpr std::chrono::milliseconds kBatchTime{20};
// More frames than any valid message has: the rest are read and dropped.
constexpr size_t kMaxFrames = 8;

// Whether a bound endpoint (ZMQ_LAST_ENDPOINT) is reachable from this host
// only: ipc, inproc, or tcp on a loopback address.
bool HostLocal(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  for (const char* prefix : {"tcp://127.", "tcp://[::1]:", "tcp://localhost:"}) {
    if (endpoint.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

class ZmqCoordinator final : public Coordinator, public Outbox {
 public:
  ZmqCoordinator(const CoordinatorOptions& options, std::unique_ptr<Model> model)
      : options_(options),
        model_(std::move(model)),
        context_(1),
        clients_(context_, zmq::socket_type::router),
        workers_(context_, zmq::socket_type::router),
        admin_(context_, zmq::socket_type::router) {}

  ~ZmqCoordinator() override {
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  absl::Status Init() {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
    try {
      Configure(clients_, kClientSendHwm, kClientRecvHwm);
      clients_.set(zmq::sockopt::maxmsgsize, kClientMaxMessageBytes);
      Configure(workers_, kGroupSendHwm, kGroupRecvHwm);
      Configure(admin_, kAdminSendHwm, kAdminRecvHwm);
      admin_.set(zmq::sockopt::maxmsgsize, kAdminMaxMessageBytes);
    } catch (const zmq::error_t& e) {
      return absl::InternalError(absl::StrCat("configuring the sockets: ", e.what()));
    }
    // CURVE on the client and admin sockets (auth/server_auth.h): the ZAP
    // handler is bound before the sockets it guards; the worker socket stays
    // plain (it lives inside the cluster's network).
    auto started = auth::ServerAuth::Start(context_, {options_.curve_key, options_.client_keys, options_.admin_keys});
    if (!started.ok()) return started.status();
    auth_ = *std::move(started);
    if (auto st = auth::ConfigureCurveServer(clients_, auth_.get(), auth::kClientDomain); !st.ok()) return st;
    if (auto st = auth::ConfigureCurveServer(admin_, auth_.get(), auth::kAdminDomain); !st.ok()) return st;
    if (auto st = Bind(clients_, options_.listen, "client", client_endpoint_); !st.ok()) return st;
    if (auto st = Bind(workers_, options_.workers, "worker", worker_endpoint_); !st.ok()) return st;
    if (auth_ != nullptr && !HostLocal(worker_endpoint_)) {
      // Whoever reaches it can join as a group, receive prompts and answer
      // them: CURVE on the client socket protects nothing if this one is
      // open to the same network.
      LOG(WARNING) << "CURVE guards the client and admin sockets only: the worker socket " << worker_endpoint_
                   << " takes unauthenticated, unencrypted connections. Keep it on the cluster's private "
                   << "network, behind a firewall; never expose it where clients can reach it";
    }
    if (!options_.admin.empty()) {
      if (auto st = Bind(admin_, options_.admin, "admin", admin_endpoint_); !st.ok()) return st;
    }
    workers_read_at_ = std::chrono::steady_clock::now();
    core_ = std::make_unique<CoordinatorCore>(options_, *model_, *this, workers_read_at_);
    return absl::OkStatus();
  }

  absl::Status Run() override;
  void Stop() override {
    stop_.store(true, std::memory_order_release);
    const uint64_t one = 1;
    // write() is async-signal-safe; a full counter still wakes the loop.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  const std::string& client_endpoint() const override { return client_endpoint_; }
  const std::string& worker_endpoint() const override { return worker_endpoint_; }
  const std::string& admin_endpoint() const override { return admin_endpoint_; }

  SendOutcome ToClient(std::string_view identity, bool delimiter, const proto::ClientReply& reply) override {
    payload_.clear();
    reply.SerializeToString(&payload_);
    return SendFrames(clients_, identity, delimiter);
  }
  SendOutcome ToGroup(std::string_view identity, const proto::CoordinatorMessage& message) override {
    payload_.clear();
    message.SerializeToString(&payload_);
    return SendFrames(workers_, identity, false);
  }
  SendOutcome ToAdmin(std::string_view identity, bool delimiter, const proto::AdminReply& reply) override {
    payload_.clear();
    reply.SerializeToString(&payload_);
    return SendFrames(admin_, identity, delimiter);
  }

 private:
  static void Configure(zmq::socket_t& s, int send_hwm, int recv_hwm) {
    // A send to a peer that is gone fails (EHOSTUNREACH) and a send to a
    // peer at its high-water mark fails (EAGAIN) instead of a silent drop.
    s.set(zmq::sockopt::router_mandatory, 1);
    s.set(zmq::sockopt::sndhwm, send_hwm);
    s.set(zmq::sockopt::rcvhwm, recv_hwm);
    s.set(zmq::sockopt::linger, kLingerMs);
  }

  static absl::Status Bind(zmq::socket_t& s, const std::string& endpoint, const char* what, std::string& bound) {
    try {
      s.bind(endpoint);
      bound = s.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot bind the ", what, " endpoint ", endpoint, ": ", e.what()));
    }
    return absl::OkStatus();
  }

  SendOutcome SendFrames(zmq::socket_t& s, std::string_view identity, bool delimiter) {
    try {
      // Only the identity frame can fail with EAGAIN/EHOSTUNREACH: once the
      // ROUTER accepted it, the rest of the message follows.
      if (!s.send(zmq::const_buffer(identity.data(), identity.size()),
                  zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        return SendOutcome::kFull;
      }
      if (delimiter) s.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      s.send(zmq::const_buffer(payload_.data(), payload_.size()), zmq::send_flags::dontwait);
      return SendOutcome::kSent;
    } catch (const zmq::error_t& e) {
      if (e.num() != EHOSTUNREACH) LOG(WARNING) << "send: " << e.what();
      return SendOutcome::kUnreachable;
    }
  }

  // Reads one whole message (identity first) if one is waiting; the views in
  // views_ stay valid until the next call.
  bool ReceiveOne(zmq::socket_t& s) {
    size_t n = 0;
    for (;;) {
      zmq::message_t& m = n < kMaxFrames ? frames_[n] : overflow_;
      const auto got = s.recv(m, n == 0 ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
      if (!got) return false;  // nothing waiting (only possible for the first frame)
      const bool more = m.more();
      ++n;
      if (!more) break;
    }
    views_.clear();
    for (size_t i = 0; i < std::min(n, kMaxFrames); ++i) {
      views_.emplace_back(static_cast<const char*>(frames_[i].data()), frames_[i].size());
    }
    // A longer message keeps a frame count that tells it is malformed.
    if (n > kMaxFrames) views_.emplace_back();
    return true;
  }

  // A batch of messages from one socket (see kBatch, kBatchTime).
  void ReadWorkers() {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + kBatchTime;
    for (int i = 0; i < kBatch; ++i) {
      const auto before = Clock::now();
      if (!ReceiveOne(workers_)) {
        workers_read_at_ = before;  // what the groups sent before this is handled
        return;
      }
      core_->OnWorkerMessage(views_, Clock::now());
      if (Clock::now() >= deadline) return;
    }
  }
  void ReadClients() {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + kBatchTime;
    for (int i = 0; i < kBatch && ReceiveOne(clients_); ++i) {
      core_->OnClientMessage(views_, Clock::now());
      if (Clock::now() >= deadline) return;
    }
  }
  void ReadAdmin() {
    if (admin_endpoint_.empty()) return;
    // Admin requests are few; a handful per pass keeps a flood of them from
    // delaying the serving sockets.
    for (int i = 0; i < 16 && ReceiveOne(admin_); ++i) core_->OnAdminMessage(views_, std::chrono::steady_clock::now());
  }

  CoordinatorOptions options_;
  std::unique_ptr<Model> model_;
  zmq::context_t context_;
  // Declared after the context so it goes first: its ZAP thread and socket
  // must be gone before the context terminates. Null: no authentication.
  std::unique_ptr<auth::ServerAuth> auth_;
  zmq::socket_t clients_;
  zmq::socket_t workers_;
  zmq::socket_t admin_;  // bound only when options_.admin is set
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::string client_endpoint_;
  std::string worker_endpoint_;
  std::string admin_endpoint_;
  std::unique_ptr<CoordinatorCore> core_;
  // When the loop last found the group leaders' socket empty.
  std::chrono::steady_clock::time_point workers_read_at_;

  zmq::message_t frames_[kMaxFrames];
  zmq::message_t overflow_;
  std::vector<std::string_view> views_;
  std::string payload_;
};

absl::Status ZmqCoordinator::Run() {
  using Clock = std::chrono::steady_clock;
  // Timeouts are checked a few times per timeout period, at most every
  // 100 ms; messages never wait for this clock.
  const auto shortest = std::min(options_.heartbeat_timeout, options_.queue_timeout);
  const auto tick = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   absl::ToChronoMilliseconds(shortest) / 8),
                               std::chrono::milliseconds(1), std::chrono::milliseconds(100));
  LOG(INFO) << "model " << core_->model_name() << " (fingerprint " << core_->fingerprint() << ")";
  LOG(INFO) << "listening on " << client_endpoint_ << " for clients and " << worker_endpoint_
            << " for group leaders";
  if (!admin_endpoint_.empty()) LOG(INFO) << "admin socket on " << admin_endpoint_;

  zmq::pollitem_t items[] = {
      {workers_.handle(), 0, ZMQ_POLLIN, 0},
      {clients_.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, wake_fd_, ZMQ_POLLIN, 0},
      {admin_.handle(), 0, ZMQ_POLLIN, 0},
  };
  // The admin socket is polled only when bound.
  const int n_items = admin_endpoint_.empty() ? 3 : 4;
  auto next_tick = Clock::now() + tick;
  views_.reserve(kMaxFrames + 1);
  try {
    while (!stop_.load(std::memory_order_acquire)) {
      const auto wait = std::max(std::chrono::milliseconds(0),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - Clock::now()));
      try {
        zmq::poll(items, n_items, wait);
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
      }
      if (items[2].revents & ZMQ_POLLIN) {
        uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof(count));
      }
      // Group updates first: they carry tokens clients wait for and free
      // slots queued requests wait for.
      ReadWorkers();
      ReadClients();
      ReadAdmin();
      if (Clock::now() >= next_tick) {
        // Groups are judged on what they sent until just now, whatever the
        // client batch cost: read their socket again first.
        ReadWorkers();
        const auto now = Clock::now();
        core_->Tick(now, workers_read_at_);
        next_tick = now + tick;
      }
    }
    core_->Shutdown("coordinator shutting down", Clock::now());
  } catch (const zmq::error_t& e) {
    LOG(ERROR) << "event loop: " << e.what();
    clients_.close();
    workers_.close();
    admin_.close();
    return absl::InternalError(absl::StrCat("coordinator event loop: ", e.what()));
  }
  clients_.close();
  workers_.close();
  admin_.close();
  LOG(INFO) << "stopped";
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(const CoordinatorOptions& options,
                                                                 std::unique_ptr<Model> model) {
  if (model == nullptr || model->tokenizer == nullptr) {
    return absl::InvalidArgumentError("the coordinator needs a model with a tokenizer");
  }
  if (options.queue_limit < 0 || options.record_limit < 0 || options.record_bytes < 0 ||
      options.default_max_tokens < 1 ||
      options.kv_tokens < 0 || options.heartbeat_timeout <= absl::ZeroDuration() ||
      options.queue_timeout <= absl::ZeroDuration() || options.drain_timeout < absl::ZeroDuration() ||
      options.reshard_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "coordinator options: queue and record limits, --record-bytes and --kv-tokens must be >= 0, the default "
        "max tokens >= 1, the heartbeat, queue and reshard timeouts > 0 and the drain timeout >= 0");
  }
  auto c = std::make_unique<ZmqCoordinator>(options, std::move(model));
  if (auto st = c->Init(); !st.ok()) return st;
  return std::unique_ptr<Coordinator>(std::move(c));
}

}  // namespace tessera
