// A fake group leader for the coordinator tests: a DEALER in a thread
// speaking proto/worker_api.proto, running sequences with FakeToken.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/model_fingerprint.h"
#include "proto/worker_api.pb.h"
#include "tests/unit/coordinator/test_cluster.h"
#include "zmq.hpp"

namespace tessera::testing {

struct FakeGroupOptions {
  std::string name = "fake";
  std::string fingerprint;          // empty: the tiny model's
  int tp = 1;
  int pp = 1;
  int64_t memory_bytes = int64_t{1} << 30;
  int64_t kv_blocks = 0;            // 0: the plan's kv_tokens / 16
  int32_t max_sequences = 8;
  Millis step = 2ms;                // one token per running sequence per step
  Millis heartbeat = 50ms;
  Millis cancel_ack_delay = 0ms;    // a cancelled sequence stops at once; its done comes this much later
                                    // (or at AckCancels(), whichever is first)
  std::string reshard_error;        // non-empty: Reshard is answered not ok with it (a rollback)
  int64_t reshard_kv_blocks = -1;   // >= 0: the KV blocks an ok Resharded announces (0: one that cannot serve)
};

// A group leader that registers, gets its plan, says Ready and then runs
// sequences with FakeToken, one token per sequence per step. A Reshard is
// answered at once (ok unless options say otherwise, or a sequence still
// runs) and the group goes on under its epoch.
class FakeGroup {
 public:
  FakeGroup(zmq::context_t& context, const std::string& endpoint, FakeGroupOptions options)
      : options_(std::move(options)), socket_(context, zmq::socket_type::dealer) {
    if (options_.fingerprint.empty()) options_.fingerprint = ModelFingerprint(Reference());
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeGroup() {
    stop_ = true;
    thread_.join();
  }

  // Waits for Ready to have been sent (true) or a rejection (false).
  bool WaitReady(Millis timeout = 5000ms) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](FakeGroup* g) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g->mu_) {
                               return g->ready_sent_ || g->rejected_.has_value();
                             },
                             this),
                         absl::FromChrono(timeout));
    return ready_sent_;
  }
  std::optional<proto::RegisterRejected> rejected() {
    absl::MutexLock lock(&mu_);
    return rejected_;
  }
  // The done of every cancelled sequence whose acknowledgement is being
  // held back (cancel_ack_delay) goes out at the next step.
  void AckCancels() {
    absl::MutexLock lock(&mu_);
    const auto now = std::chrono::steady_clock::now();
    for (auto& [seq, s] : seqs_) {
      if (s.ack_at) s.ack_at = now;
    }
  }
  // A paused group runs no steps (no tokens, no held-back cancel
  // acknowledgements) but reads its messages and sends heartbeats: a test
  // holds a sequence mid-run with it.
  void SetPaused(bool paused) { paused_ = paused; }
  // A silent group ignores everything and sends nothing (not even
  // heartbeats), like a hung process.
  void SetSilent(bool silent) { silent_ = silent; }
  std::vector<proto::StartSequence> starts() {
    absl::MutexLock lock(&mu_);
    return starts_;
  }
  std::vector<uint64_t> cancels() {
    absl::MutexLock lock(&mu_);
    return cancels_;
  }
  bool got_shutdown() {
    absl::MutexLock lock(&mu_);
    return shutdown_;
  }
  std::vector<proto::Reshard> reshards() {
    absl::MutexLock lock(&mu_);
    return reshards_;
  }
  int max_running() {
    absl::MutexLock lock(&mu_);
    return max_running_;
  }
  int running() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(seqs_.size());
  }
  const std::string& name() const { return options_.name; }
  bool ready() {
    absl::MutexLock lock(&mu_);
    return ready_sent_;
  }

 private:
  struct Seq {
    uint64_t seed = 0;
    int64_t pos = 0;  // position of the next token
    int32_t remaining = 0;
    std::optional<std::chrono::steady_clock::time_point> ack_at;  // cancelled: done/CANCELLED due then
  };

  void Send(const proto::WorkerMessage& m) {
    std::string bytes = m.SerializeAsString();
    socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }

  void Loop() {
    const proto::WorkerMessage reg =
        Registration(options_.name, options_.tp, options_.pp, options_.memory_bytes, options_.fingerprint);
    Send(reg);
    auto next_step = std::chrono::steady_clock::now();
    auto next_heartbeat = next_step;
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 1ms);
      zmq::message_t msg;
      while (socket_.recv(msg, zmq::recv_flags::dontwait)) {
        proto::CoordinatorMessage m;
        if (!m.ParseFromArray(msg.data(), static_cast<int>(msg.size())) || silent_) continue;
        Handle(m);
      }
      if (silent_ || !ready()) continue;
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_step && !paused_) {
        next_step = now + options_.step;
        LockedStep();
      }
      if (now >= next_heartbeat) {
        next_heartbeat = now + options_.heartbeat;
        absl::MutexLock lock(&mu_);
        proto::WorkerMessage hb;
        hb.set_version(proto::PROTOCOL_VERSION_1);
        hb.mutable_heartbeat()->set_group_id(group_id_);
        hb.mutable_heartbeat()->set_epoch(epoch_);
        hb.mutable_heartbeat()->set_running(static_cast<int32_t>(seqs_.size()));
        Send(hb);
      }
    }
  }

  void Handle(const proto::CoordinatorMessage& m) {
    absl::MutexLock lock(&mu_);
    if (m.has_plan()) {
      group_id_ = m.plan().group_id();
      epoch_ = m.plan().epoch();
      proto::WorkerMessage ready;
      ready.set_version(proto::PROTOCOL_VERSION_1);
      proto::Ready* rd = ready.mutable_ready();
      rd->set_group_id(group_id_);
      rd->set_epoch(epoch_);
      rd->set_kv_blocks(options_.kv_blocks > 0 ? options_.kv_blocks : (m.plan().plan().kv_tokens() + 15) / 16);
      rd->set_block_size(16);
      rd->set_max_sequences(options_.max_sequences);
      rd->set_max_batch_tokens(512);
      Send(ready);
      ready_sent_ = true;
    } else if (m.has_rejected()) {
      rejected_ = m.rejected();
    } else if (m.has_start()) {
      starts_.push_back(m.start());
      Seq s;
      s.seed = m.start().sampling().seed();
      s.pos = m.start().tokens_size();
      s.remaining = m.start().max_new_tokens();
      seqs_[m.start().seq()] = s;
      max_running_ = std::max(max_running_, static_cast<int>(seqs_.size()));
    } else if (m.has_cancel()) {
      cancels_.push_back(m.cancel().seq());
      auto it = seqs_.find(m.cancel().seq());
      if (it != seqs_.end() && !it->second.ack_at) {
        if (options_.cancel_ack_delay > 0ms) {
          it->second.ack_at = std::chrono::steady_clock::now() + options_.cancel_ack_delay;
        } else {
          seqs_.erase(it);
          proto::WorkerMessage w = Updates();
          proto::SequenceUpdate* u = w.mutable_updates()->add_updates();
          u->set_seq(m.cancel().seq());
          u->set_done(true);
          u->set_finish(proto::FINISH_CANCELLED);
          Send(w);
        }
      }
    } else if (m.has_shutdown()) {
      shutdown_ = true;
    } else if (m.has_reshard()) {
      reshards_.push_back(m.reshard());
      proto::WorkerMessage w;
      w.set_version(proto::PROTOCOL_VERSION_1);
      proto::Resharded* r = w.mutable_resharded();
      r->set_group_id(m.reshard().group_id());
      r->set_epoch(m.reshard().epoch());
      const bool busy = !seqs_.empty();
      r->set_ok(options_.reshard_error.empty() && !busy);
      r->set_message(busy ? "sequences still running" : options_.reshard_error);
      r->set_kv_blocks(options_.reshard_kv_blocks >= 0 ? options_.reshard_kv_blocks
                       : options_.kv_blocks > 0      ? options_.kv_blocks
                                                     : (m.reshard().plan().kv_tokens() + 15) / 16);
      r->set_block_size(16);
      r->set_seconds(0.001);
      epoch_ = m.reshard().epoch();
      Send(w);
    }
  }

  proto::WorkerMessage Updates() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    proto::WorkerMessage w;
    w.set_version(proto::PROTOCOL_VERSION_1);
    w.mutable_updates()->set_group_id(group_id_);
    w.mutable_updates()->set_epoch(epoch_);
    return w;
  }

  void LockedStep() {
    absl::MutexLock lock(&mu_);
    Step();
  }

  // One token for every running sequence; done/CANCELLED for cancelled ones
  // whose acknowledgement is due.
  void Step() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (seqs_.empty()) return;
    proto::WorkerMessage w = Updates();
    const int64_t vocab = Reference().config.vocab_size;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = seqs_.begin(); it != seqs_.end();) {
      Seq& s = it->second;
      if (s.ack_at) {
        if (now >= *s.ack_at) {
          proto::SequenceUpdate* u = w.mutable_updates()->add_updates();
          u->set_seq(it->first);
          u->set_done(true);
          u->set_finish(proto::FINISH_CANCELLED);
          it = seqs_.erase(it);
        } else {
          ++it;
        }
        continue;
      }
      proto::SequenceUpdate* u = w.mutable_updates()->add_updates();
      u->set_seq(it->first);
      u->add_tokens(FakeToken(s.seed, s.pos, vocab));
      ++s.pos;
      if (--s.remaining <= 0) {
        u->set_done(true);
        u->set_finish(proto::FINISH_LENGTH);
        it = seqs_.erase(it);
      } else {
        ++it;
      }
    }
    if (w.updates().updates_size() > 0) Send(w);
  }

  FakeGroupOptions options_;
  zmq::socket_t socket_;  // used by the loop thread only
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> silent_{false};
  std::atomic<bool> paused_{false};

  absl::Mutex mu_;
  bool ready_sent_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<proto::RegisterRejected> rejected_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::StartSequence> starts_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> cancels_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<proto::Reshard> reshards_ ABSL_GUARDED_BY(mu_);
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Seq> seqs_ ABSL_GUARDED_BY(mu_);
  uint64_t group_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tessera::testing
