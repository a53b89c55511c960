// What the coordinator's own hop costs a request and a streamed token, in
// microseconds, against the transport alone (the target: <= 100 us
// at p50).
//
//   coordinator_hop_bench [--model M.gguf] [--requests 2000] [--tokens 32] [--warmup 100] [--cpu N]
//
// One process, loopback TCP, one steady clock. A Coordinator (default
// options, tcp://127.0.0.1:*) runs in a thread; a fake group leader (a
// DEALER speaking proto/worker_api.proto: Register, Ready, then it answers
// every StartSequence) runs in another; the main thread is the client (a
// DEALER speaking proto/client_api.proto). Two legs, each timed from the
// moment the sender calls send (its bytes already serialized) to the moment
// the receiver's recv returns (before it parses anything):
//  1. request hop: the client sends a GenerateRequest (prompt_tokens,
//     max_tokens 1) -> the group receives the StartSequence. This covers the
//     coordinator's parse, validation, admission, routing, in-flight entry
//     and the StartSequence it writes. The group then finishes the sequence
//     and the client waits for the result before the next request.
//  2. token hop: the group sends a SequenceUpdate holding one token -> the
//     client receives the TokenChunk. This covers the update's parse, the
//     in-flight lookup, detokenization and the chunk it writes. Requests
//     stream --tokens tokens; the group sends the next token only once the
//     client has the previous chunk, so no hop ever waits behind another.
//
// The baseline is a bare relay over the same topology: two ROUTER sockets in
// a thread of their own (own ZeroMQ context, like the coordinator), polled
// like the coordinator polls, moving each message (the very same bytes the
// client and group send in the coordinator path) to the other side by the
// peer identity they last saw, without parsing it. A message then crosses the
// same two TCP connections, the same four I/O-thread handoffs and the same
// wake-up of a polling thread; what is left when the relay's figure is taken
// from the coordinator's is the coordinator's own work. The same peers' code,
// the same payloads and the same timestamps serve both paths, and the two
// paths take turns in blocks of requests so that a change of machine load
// (other processes on a small machine) weighs on both alike.
//
// The reported "own hop" is p50(coordinator) - p50(relay) per leg: a
// difference of medians, not the median of a per-message difference (which
// cannot be observed: one message takes only one of the paths).
//
// Where the threads land matters more than the coordinator's work on a small
// busy machine: a run places the eight threads involved (three peers' loops,
// four ZeroMQ I/O threads, the relay) on the cores once, and which path gets
// the lucky placement moves either path's p50 by tens of microseconds, so
// unpinned runs on 2 busy cores scatter from -10 to +50 us. --cpu N pins the
// whole process to core N: every hop is then the same chain of same-core
// wake-ups on both paths, and the difference is the coordinator's own work
// (runs agree within a few microseconds). Unpinned, on a machine with cores
// to spare, is the deployment's picture; pinned is the stable comparison.
#include <glog/logging.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "model/model.h"
#include "model/model_fingerprint.h"
#include "model/model_maker.h"
#include "proto/client_api.pb.h"
#include "proto/worker_api.pb.h"
#include "zmq.hpp"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReceiveTimeout = 5000ms;  // any single hop slower than this is a failure, not a sample
constexpr int kPromptTokens = 16;
constexpr int kBlock = 50;  // requests per turn of one path

enum class Middle { kCoordinator, kRelay };

absl::Status Failed(const std::string& what) { return absl::InternalError(what); }

// Blocks until a message arrives (nullopt after kReceiveTimeout).
std::optional<zmq::message_t> ReceiveOne(zmq::socket_t& s, std::chrono::milliseconds timeout = kReceiveTimeout) {
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
  zmq::message_t m;
  if (!s.recv(m, zmq::recv_flags::dontwait)) return std::nullopt;
  return m;
}

void SendBytes(zmq::socket_t& s, const std::string& bytes) { s.send(zmq::buffer(bytes), zmq::send_flags::none); }

// Two ROUTERs that move each message to the other side unparsed: a client's
// to the group identity last seen, a group's to the client identity last
// seen. A group message with no client to go to returns to its sender (the
// group's hello, which tells it the relay knows its identity).
class BareRelay {
 public:
  BareRelay() : context_(1), clients_(context_, zmq::socket_type::router), groups_(context_, zmq::socket_type::router) {
    for (zmq::socket_t* s : {&clients_, &groups_}) {
      s->set(zmq::sockopt::router_mandatory, 1);
      s->set(zmq::sockopt::linger, 0);
      s->bind("tcp://127.0.0.1:*");
    }
    client_endpoint_ = clients_.get(zmq::sockopt::last_endpoint);
    group_endpoint_ = groups_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~BareRelay() {
    stop_ = true;
    thread_.join();
  }
  const std::string& client_endpoint() const { return client_endpoint_; }
  const std::string& group_endpoint() const { return group_endpoint_; }

 private:
  // Moves one message (identity, payload) from `from` to `to`; false when
  // nothing is waiting.
  static bool Forward(zmq::socket_t& from, std::string& from_id, zmq::socket_t& to, const std::string& to_id) {
    zmq::message_t id, payload;
    if (!from.recv(id, zmq::recv_flags::dontwait)) return false;
    (void)from.recv(payload, zmq::recv_flags::none);
    if (from_id.size() != id.size() || std::memcmp(from_id.data(), id.data(), id.size()) != 0) {
      from_id.assign(static_cast<const char*>(id.data()), id.size());
    }
    zmq::socket_t& dest = to_id.empty() ? from : to;
    const std::string& dest_id = to_id.empty() ? from_id : to_id;
    try {
      dest.send(zmq::buffer(dest_id), zmq::send_flags::sndmore);
      dest.send(payload, zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      std::fprintf(stderr, "relay: %s\n", e.what());
    }
    return true;
  }

  void Loop() {
    zmq::pollitem_t items[] = {{groups_.handle(), 0, ZMQ_POLLIN, 0}, {clients_.handle(), 0, ZMQ_POLLIN, 0}};
    while (!stop_) {
      zmq::poll(items, 2, 100ms);
      while (Forward(groups_, group_id_, clients_, client_id_)) {
      }
      while (Forward(clients_, client_id_, groups_, group_id_)) {
      }
    }
  }

  zmq::context_t context_;
  zmq::socket_t clients_, groups_;  // the relay thread's
  std::string client_endpoint_, group_endpoint_;
  std::string client_id_, group_id_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// What the fake group needs to know of the model.
struct ModelFacts {
  std::string name;
  std::string fingerprint;
  std::vector<int32_t> plain_tokens;  // ids that decode to printable ASCII: prompts and generated tokens
};

// The fake group leader. Connect() registers on the caller's thread; the
// socket then moves to the serving thread (thread creation orders the two).
class FakeLeader {
 public:
  FakeLeader(zmq::context_t& context, Middle middle, const ModelFacts& facts)
      : middle_(middle), facts_(facts), socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
  }
  ~FakeLeader() { Stop(); }

  // Coordinator: Register -> PlanAssignment -> Ready. Relay: a hello that
  // comes back.
  absl::Status Connect(const std::string& endpoint) {
    socket_.connect(endpoint);
    if (middle_ == Middle::kRelay) {
      SendBytes(socket_, "hello");
      if (!ReceiveOne(socket_)) return Failed("the relay did not answer the group's hello");
    } else {
      proto::WorkerMessage reg;
      reg.set_version(proto::PROTOCOL_VERSION_1);
      proto::Register* r = reg.mutable_registration();
      r->set_name("hop-bench");
      r->mutable_model()->set_name(facts_.name);
      r->mutable_model()->set_fingerprint(facts_.fingerprint);
      r->set_tp(1);
      r->set_pp(1);
      proto::DeviceProfile* p = r->add_profiles();
      p->set_name("fake");
      p->set_memory_bytes(int64_t{1} << 36);  // any model a benchmark loads fits
      p->set_compute_flops(1e11);
      p->set_memory_bandwidth(1e10);
      SendBytes(socket_, reg.SerializeAsString());
      std::optional<zmq::message_t> m = ReceiveOne(socket_);
      proto::CoordinatorMessage cm;
      if (!m || !cm.ParseFromArray(m->data(), static_cast<int>(m->size())) || !cm.has_plan()) {
        return Failed(cm.has_rejected() ? "the coordinator rejected the group: " + cm.rejected().message()
                                        : "the coordinator sent the group no plan");
      }
      group_id_ = cm.plan().group_id();
      epoch_ = cm.plan().epoch();
      proto::WorkerMessage ready;
      ready.set_version(proto::PROTOCOL_VERSION_1);
      proto::Ready* rd = ready.mutable_ready();
      rd->set_group_id(group_id_);
      rd->set_epoch(epoch_);
      rd->set_kv_blocks((cm.plan().plan().kv_tokens() + 15) / 16);
      rd->set_block_size(16);
      rd->set_max_sequences(8);
      rd->set_max_batch_tokens(512);
      SendBytes(socket_, ready.SerializeAsString());
    }
    thread_ = std::thread([this] { Serve(); });
    return absl::OkStatus();
  }

  // The client has the chunk of the last update: the group may send the next.
  void Ack() {
    absl::MutexLock lock(&mu_);
    ++acks_;
  }

  // Joins the thread; the timestamps are the caller's to read from here on.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);  // wakes a wait for an acknowledgement
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<Clock::time_point>& starts_at() const { return starts_at_; }    // after Stop()
  const std::vector<Clock::time_point>& updates_at() const { return updates_at_; }  // after Stop()

 private:
  // Every start: the time it arrived, then `n` one-token updates, each after
  // the client acknowledged the previous one.
  void Serve() {
    int64_t acks_needed = 0;
    size_t next_token = 0;
    while (!stop_) {
      std::optional<zmq::message_t> m = ReceiveOne(socket_, 100ms);
      if (!m) continue;
      const Clock::time_point arrived = Clock::now();
      uint64_t seq = 0;
      int n = 0;
      if (middle_ == Middle::kRelay) {
        proto::ClientRequest req;  // the client's own bytes, relayed
        if (!req.ParseFromArray(m->data(), static_cast<int>(m->size())) || !req.has_generate()) continue;
        n = req.generate().max_tokens();
      } else {
        proto::CoordinatorMessage cm;
        if (!cm.ParseFromArray(m->data(), static_cast<int>(m->size())) || !cm.has_start()) continue;
        seq = cm.start().seq();
        n = cm.start().max_new_tokens();
      }
      starts_at_.push_back(arrived);
      for (int i = 0; i < n && !stop_; ++i) {
        if (i > 0 && !WaitForAck(++acks_needed)) return;
        proto::WorkerMessage w;
        w.set_version(proto::PROTOCOL_VERSION_1);
        w.mutable_updates()->set_group_id(group_id_);
        w.mutable_updates()->set_epoch(epoch_);
        proto::SequenceUpdate* u = w.mutable_updates()->add_updates();
        u->set_seq(seq);
        u->add_tokens(facts_.plain_tokens[next_token++ % facts_.plain_tokens.size()]);
        if (i + 1 == n) {
          u->set_done(true);
          u->set_finish(proto::FINISH_LENGTH);
        }
        const std::string bytes = w.SerializeAsString();
        updates_at_.push_back(Clock::now());
        SendBytes(socket_, bytes);
      }
    }
  }

  bool WaitForAck(int64_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return acks_ >= n || stop_; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::FromChrono(kReceiveTimeout)) && !stop_;
  }

  const Middle middle_;
  const ModelFacts& facts_;
  zmq::socket_t socket_;  // Connect()'s caller's, then the serving thread's
  uint64_t group_id_ = 0, epoch_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  int64_t acks_ ABSL_GUARDED_BY(mu_) = 0;
  // The serving thread's until Stop() joins it.
  std::vector<Clock::time_point> starts_at_, updates_at_;
};

// One way from client to group and back, and what its client measured.
struct Path {
  Middle middle;
  const char* name;
  std::unique_ptr<FakeLeader> leader;
  std::unique_ptr<zmq::socket_t> client;
  size_t starts = 0, updates = 0;  // what the leader has been sent / has sent so far
  std::vector<std::pair<size_t, Clock::time_point>> requests_sent;    // (start index, send time)
  std::vector<std::pair<size_t, Clock::time_point>> chunks_received;  // (update index, receive time)
};

std::string GenerateBytes(const std::string& id, const std::vector<int32_t>& prompt, int max_tokens, bool stream) {
  proto::ClientRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  proto::GenerateRequest* g = r.mutable_generate();
  g->set_request_id(id);
  for (int32_t t : prompt) g->add_prompt_tokens(t);
  g->set_max_tokens(max_tokens);
  g->set_stream(stream);
  g->mutable_sampling()->set_seed(1);
  return r.SerializeAsString();
}

// The client's next reply through the coordinator, checked to be of `kind`.
absl::Status ExpectReply(Path& p, proto::ClientReply::KindCase kind, const char* what) {
  std::optional<zmq::message_t> m = ReceiveOne(*p.client);
  if (!m) return Failed(absl::StrCat(p.name, ": no ", what, " within ", kReceiveTimeout.count(), " ms"));
  if (p.middle == Middle::kRelay) return absl::OkStatus();
  proto::ClientReply reply;
  if (!reply.ParseFromArray(m->data(), static_cast<int>(m->size()))) return Failed("an unparsable reply");
  if (reply.has_error()) return Failed(absl::StrCat("the coordinator answered an error: ", reply.error().message()));
  if (reply.kind_case() != kind) return Failed(absl::StrCat("expected a ", what, ", got ", reply.ShortDebugString()));
  return absl::OkStatus();
}

// One request of each leg; samples are kept from the warm-up on.
absl::Status RunOne(Path& p, int k, bool keep, const std::vector<int32_t>& prompt, int tokens) {
  // Request hop.
  std::string bytes = GenerateBytes(absl::StrCat("hop-", k, "-r"), prompt, 1, false);
  const Clock::time_point sent = Clock::now();
  SendBytes(*p.client, bytes);
  if (keep) p.requests_sent.emplace_back(p.starts, sent);
  ++p.starts;
  ++p.updates;
  // Through the coordinator the one token comes back as the result; through
  // the relay as the group's update itself.
  if (auto st = ExpectReply(p, proto::ClientReply::kResult, "result"); !st.ok()) return st;

  // Token hops.
  bytes = GenerateBytes(absl::StrCat("hop-", k, "-t"), prompt, tokens, true);
  SendBytes(*p.client, bytes);
  ++p.starts;
  for (int i = 0; i < tokens; ++i) {
    std::optional<zmq::message_t> m = ReceiveOne(*p.client);
    const Clock::time_point received = Clock::now();
    if (!m) return Failed(absl::StrCat(p.name, ": token ", i, " never arrived"));
    if (keep) p.chunks_received.emplace_back(p.updates, received);
    ++p.updates;
    if (p.middle == Middle::kCoordinator) {
      proto::ClientReply reply;
      if (!reply.ParseFromArray(m->data(), static_cast<int>(m->size())) || !reply.has_chunk() ||
          reply.chunk().index() != i || reply.chunk().tokens_size() != 1) {
        return Failed(absl::StrCat("token ", i, ": expected a one-token chunk with index ", i, ", got ",
                                   reply.ShortDebugString()));
      }
    }
    if (i + 1 < tokens) p.leader->Ack();
  }
  if (p.middle == Middle::kCoordinator) return ExpectReply(p, proto::ClientReply::kResult, "result");
  return absl::OkStatus();
}

// Waits until the coordinator lists one ready group.
absl::Status AwaitReadyGroup(zmq::socket_t& client) {
  proto::ClientRequest r;
  r.set_version(proto::PROTOCOL_VERSION_1);
  r.mutable_status();
  const std::string bytes = r.SerializeAsString();
  const auto end = Clock::now() + kReceiveTimeout;
  while (Clock::now() < end) {
    SendBytes(client, bytes);
    std::optional<zmq::message_t> m = ReceiveOne(client);
    proto::ClientReply reply;
    if (m && reply.ParseFromArray(m->data(), static_cast<int>(m->size())) && reply.has_status()) {
      for (const auto& g : reply.status().groups()) {
        if (g.state() == proto::GROUP_READY) return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(2ms);
  }
  return Failed("the fake group never became ready");
}

struct Percentiles {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0;
};

Percentiles Summarize(std::vector<double> us) {
  Percentiles out;
  out.n = us.size();
  if (us.empty()) return out;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {  // nearest rank
    const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(us.size())));
    return us[std::clamp<size_t>(rank, 1, us.size()) - 1];
  };
  out.p50 = at(0.50);
  out.p90 = at(0.90);
  out.p99 = at(0.99);
  return out;
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Pairs the client's and the leader's timestamps by index (after Stop()).
absl::Status Collect(const Path& p, std::vector<double>& request_us, std::vector<double>& token_us) {
  const auto& starts = p.leader->starts_at();
  const auto& updates = p.leader->updates_at();
  if (starts.size() != p.starts || updates.size() != p.updates) {
    return Failed(absl::StrCat(p.name, ": the group saw ", starts.size(), " starts and sent ", updates.size(),
                               " updates; expected ", p.starts, " and ", p.updates));
  }
  for (const auto& [i, sent] : p.requests_sent) request_us.push_back(Micros(starts[i] - sent));
  for (const auto& [i, received] : p.chunks_received) token_us.push_back(Micros(received - updates[i]));
  return absl::OkStatus();
}

// The first 64 ids whose bytes are two or more printable ASCII characters:
// word pieces as a model would produce, no control or byte tokens, never
// end-of-sequence.
std::vector<int32_t> PlainTokens(const Model& model) {
  const Tokenizer& tok = *model.tokenizer;
  const int32_t vocab = static_cast<int32_t>(std::min<int64_t>(tok.vocab_size(), model.config.vocab_size));
  std::vector<int32_t> out;
  for (int32_t id = 0; id < vocab && out.size() < 64; ++id) {
    if (tok.IsControl(id) || id == tok.eos_id() || id == tok.bos_id()) continue;
    const std::string bytes = tok.TokenBytes(id);
    if (bytes.size() >= 2 && std::all_of(bytes.begin(), bytes.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
      out.push_back(id);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Model>> LoadOrMakeModel(const std::string& path) {
  if (!path.empty()) return LoadModel(path);
  char dir[] = "/tmp/coordinator_hop_bench.XXXXXX";
  if (::mkdtemp(dir) == nullptr) return Failed("cannot make a temporary directory");
  const std::string file = std::string(dir) + "/tiny.gguf";
  absl::Status st = MakeModelFile(ModelSpec{}, file);  // the tiny model: vocab 512, context 512
  absl::StatusOr<std::unique_ptr<Model>> model = st.ok() ? LoadModel(file) : absl::StatusOr<std::unique_ptr<Model>>(st);
  std::remove(file.c_str());  // the mapping outlives the name
  ::rmdir(dir);
  return model;
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
  return 1;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app{"coordinator_hop_bench: the coordinator's own latency per request and per streamed token"};
  std::string model_path;
  int requests = 2000, tokens = 32, warmup = 100, cpu = -1;
  app.add_option("--model", model_path, "A .gguf model (default: the tiny model, made in a temporary directory)");
  app.add_option("--requests", requests, "Measured requests per leg and path")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--tokens", tokens, "Tokens per streaming request (token hops per request)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "Requests per path run first and not measured")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--cpu", cpu, "Pin the process (every thread it starts) to this core; -1: no pinning")
      ->capture_default_str()
      ->check(CLI::Range(-1, CPU_SETSIZE - 1));
  CLI11_PARSE(app, argc, argv);
  if (cpu >= 0) {
    // Before any thread starts: each inherits the mask.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("cannot pin to core ", cpu, ": ", std::strerror(errno))));
    }
  }
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;  // the coordinator's warnings, not its INFO lines
  google::InitGoogleLogging(argv[0]);

  auto model = LoadOrMakeModel(model_path);
  if (!model.ok()) return Fail(model.status());
  ModelFacts facts{(*model)->config.name, ModelFingerprint(**model), PlainTokens(**model)};
  if (facts.plain_tokens.empty()) return Fail(absl::InvalidArgumentError("the vocabulary has no plain-text tokens"));
  std::vector<int32_t> prompt;
  for (int i = 0; i < kPromptTokens; ++i) prompt.push_back(facts.plain_tokens[(i * 7) % facts.plain_tokens.size()]);

  CoordinatorOptions options;  // the defaults tessera-coordinator runs with, on loopback ports
  options.listen = "tcp://127.0.0.1:*";
  options.workers = "tcp://127.0.0.1:*";
  options.admin = "tcp://127.0.0.1:*";
  auto coordinator = Coordinator::Create(options, *std::move(model));
  if (!coordinator.ok()) return Fail(coordinator.status());
  absl::Status run_status;
  std::thread coordinator_thread([&] { run_status = (*coordinator)->Run(); });
  BareRelay relay;

  // Each peer has its own context (its own I/O thread), as separate
  // processes would.
  zmq::context_t group_context(1), client_context(1);
  Path paths[2] = {{Middle::kCoordinator, "coordinator"}, {Middle::kRelay, "bare relay"}};
  absl::Status st;
  for (Path& p : paths) {
    const bool coord = p.middle == Middle::kCoordinator;
    p.leader = std::make_unique<FakeLeader>(group_context, p.middle, facts);
    st = p.leader->Connect(coord ? (*coordinator)->worker_endpoint() : relay.group_endpoint());
    if (!st.ok()) break;
    p.client = std::make_unique<zmq::socket_t>(client_context, zmq::socket_type::dealer);
    p.client->set(zmq::sockopt::linger, 0);
    p.client->connect(coord ? (*coordinator)->client_endpoint() : relay.client_endpoint());
    if (coord && !(st = AwaitReadyGroup(*p.client)).ok()) break;
  }
  const int total = warmup + requests;
  for (int first = 0; st.ok() && first < total; first += kBlock) {
    for (Path& p : paths) {
      for (int k = first; st.ok() && k < std::min(total, first + kBlock); ++k) {
        st = RunOne(p, k, k >= warmup, prompt, tokens);
      }
    }
  }

  std::vector<double> request_us[2], token_us[2];
  for (int i = 0; i < 2; ++i) {
    if (paths[i].leader) paths[i].leader->Stop();
    if (st.ok()) st = Collect(paths[i], request_us[i], token_us[i]);
  }
  (*coordinator)->Stop();
  coordinator_thread.join();
  for (Path& p : paths) p.client.reset();
  if (!st.ok()) return Fail(st);
  if (!run_status.ok()) return Fail(run_status);

  std::printf("coordinator_hop_bench: %s, loopback TCP, %s; %d measured requests per leg and path (after %d "
              "warm-up), %d tokens per streaming request, %d-token prompts\n\n",
              model_path.empty() ? "tiny model" : model_path.c_str(),
              cpu >= 0 ? absl::StrCat("pinned to core ", cpu).c_str() : "not pinned", requests, warmup, tokens,
              kPromptTokens);
  std::printf("| leg | through | n | p50 us | p90 us | p99 us |\n|---|---|---|---|---|---|\n");
  Percentiles req[2], tok[2];
  for (int i = 0; i < 2; ++i) req[i] = Summarize(request_us[i]), tok[i] = Summarize(token_us[i]);
  for (int i = 0; i < 2; ++i) {
    std::printf("| request: client -> group | %s | %zu | %.1f | %.1f | %.1f |\n", paths[i].name, req[i].n, req[i].p50,
                req[i].p90, req[i].p99);
  }
  for (int i = 0; i < 2; ++i) {
    std::printf("| token: group -> client | %s | %zu | %.1f | %.1f | %.1f |\n", paths[i].name, tok[i].n, tok[i].p50,
                tok[i].p90, tok[i].p99);
  }
  std::printf("\ncoordinator's own hop at p50: request %.1f us, token %.1f us (target <= 100 us)\n",
              req[0].p50 - req[1].p50, tok[0].p50 - tok[1].p50);
  return 0;
}
