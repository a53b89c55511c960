// libFuzzer target: the coordinator's message handling. A CoordinatorCore
// (no sockets; a recording Outbox; a clock the input moves) runs a script of
// client, group-leader and admin messages, raw bytes and well-formed ones
// with fields from the input (coordinator_fuzz_ops.h), and ends with a
// shutdown. The frame parsers (frames.h, admin_frames.h) also see every raw
// frame directly.
//
// Checked after every operation:
// - the ledger: accepted = completed + cancelled + failed + queued + in flight;
//   each group's running count and outstanding work are >= 0 and add up to
//   the in-flight table; a dead group runs nothing;
// - what the core sends: version 1 and a kind set on every message; token
//   ids inside the vocabulary and valid UTF-8 text in chunks and results;
//   a result's usage matches its tokens; no sequence number started twice;
//   every StartSequence fits the context (prompt + max_new_tokens - 1);
// - exactly-once streaming: a request's chunks continue exactly where the
//   previous one ended (or restart at 0 with the whole text), and what was
//   streamed is a prefix of the result's tokens;
// and after the final shutdown nothing is queued or running and every
// accepted request has its answer.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coordinator/admin_frames.h"
#include "coordinator/coordinator_core.h"
#include "coordinator/frames.h"
#include "coordinator/request_validator.h"
#include "glog/logging.h"
#include "google/protobuf/stubs/logging.h"
#include "model/model_fingerprint.h"
#include "model/utf8.h"
#include "tests/fuzz/coordinator_fuzz_fixture.h"
#include "tests/fuzz/coordinator_fuzz_ops.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_models.h"

namespace tessera::fuzz {
namespace {

using std::chrono::milliseconds;

constexpr int kMaxOps = 512;

class Harness : public Outbox {
 public:
  Harness()
      : f_(GetFixture()),
        vocab_(static_cast<int32_t>(f_.model->config.vocab_size)),
        context_(f_.model->config.context_length),
        now_(SteadyTime{} + std::chrono::hours(1)),
        core_(FuzzOptions(), *f_.model, *this, now_) {}

  void Run(ByteReader& in) {
    // TESSERA_FUZZ_TRACE=1: each operation and the books after it, to read
    // a reproducer.
    static const bool trace = std::getenv("TESSERA_FUZZ_TRACE") != nullptr;
    for (int ops = 0; ops < kMaxOps && !in.empty(); ++ops) {
      const int op = Step(in);
      if (trace) Trace(op);
      CheckLedger();
    }
    core_.Shutdown("end of the fuzz input", now_);
    shut_down_ = true;
    CheckLedger();
  }

  // Outbox. Every message is checked whether or not the peer "takes" it.
  SendOutcome ToClient(std::string_view identity, bool, const proto::ClientReply& reply) override {
    const SendOutcome out = OutcomeFor(identity);
    CheckClientReply(reply, out == SendOutcome::kSent);
    return out;
  }
  SendOutcome ToGroup(std::string_view identity, const proto::CoordinatorMessage& message) override {
    const SendOutcome out = OutcomeFor(identity);
    CheckGroupMessage(identity, message);
    return out;
  }
  SendOutcome ToAdmin(std::string_view identity, bool, const proto::AdminReply& reply) override {
    FUZZ_CHECK(reply.version() == proto::PROTOCOL_VERSION_1, "admin reply of version %u", reply.version());
    FUZZ_CHECK(reply.kind_case() != proto::AdminReply::KIND_NOT_SET, "empty admin reply");
    return OutcomeFor(identity);
  }

 private:
  void Trace(int op) {
    const proto::ClusterStatus s = core_.Status(now_);
    std::fprintf(stderr, "op %2d: accepted %llu completed %llu cancelled %llu failed %llu queued %d in flight %d |", op,
                 static_cast<unsigned long long>(s.accepted()), static_cast<unsigned long long>(s.completed()),
                 static_cast<unsigned long long>(s.cancelled()), static_cast<unsigned long long>(s.failed()),
                 s.queue_depth(), s.in_flight());
    for (const proto::GroupStatus& g : s.groups()) {
      std::fprintf(stderr, " group %llu %s epoch %llu running %d", static_cast<unsigned long long>(g.id()),
                   proto::GroupState_Name(g.state()).c_str(), static_cast<unsigned long long>(g.epoch()), g.running());
    }
    std::fprintf(stderr, "\n");
  }

  // Runs one operation; returns its opcode.
  int Step(ByteReader& in) {
    const Op op = static_cast<Op>(in.U8() % static_cast<uint8_t>(Op::kOpCount));
    switch (op) {
      case Op::kClientRaw: RawFrames(in, "client", kClients, &CoordinatorCore::OnClientMessage); break;
      case Op::kWorkerRaw: RawFrames(in, "leader", kLeaders, &CoordinatorCore::OnWorkerMessage); break;
      case Op::kAdminRaw: RawFrames(in, "admin", kAdmins, &CoordinatorCore::OnAdminMessage); break;
      case Op::kGenerate: Generate(in); break;
      case Op::kCancel: {
        const int client = in.U8() % kClients;
        proto::ClientRequest r;
        r.set_version(proto::PROTOCOL_VERSION_1);
        r.mutable_cancel()->set_request_id(RequestId(in.U8()));
        FromClient(client, r);
        break;
      }
      case Op::kStatus: {
        proto::ClientRequest r;
        r.set_version(proto::PROTOCOL_VERSION_1);
        r.mutable_status();
        FromClient(in.U8() % kClients, r);
        break;
      }
      case Op::kRegister: Register(in); break;
      case Op::kReady: Ready(in); break;
      case Op::kUpdates: Updates(in); break;
      case Op::kHeartbeat: Heartbeat(in); break;
      case Op::kFailed: {
        const int leader = in.U8() % kLeaders;
        proto::WorkerMessage m;
        m.mutable_failed()->set_group_id(GroupOf(leader, in.U8()));
        m.mutable_failed()->set_message("fuzz: startup failed");
        FromLeader(leader, m);
        break;
      }
      case Op::kResharded: Resharded(in); break;
      case Op::kTick:
        now_ += milliseconds(50) * in.U8();
        core_.Tick(now_);
        break;
      case Op::kOutcome: {
        static const char* kKinds[] = {"client", "leader", "admin"};
        const int kind = in.U8() % 3;
        const std::string who = Peer(kKinds[kind], in.U8() % (kind == 0 ? kClients : kind == 1 ? kLeaders : kAdmins));
        static const SendOutcome kOutcomes[] = {SendOutcome::kSent, SendOutcome::kUnreachable, SendOutcome::kFull};
        outcomes_[who] = kOutcomes[in.U8() % 3];
        break;
      }
      case Op::kAdmin: Admin(in); break;
      case Op::kShutdown:
        if (in.U8() == kShutdownKey) {
          core_.Shutdown("fuzz: shutdown", now_);
          shut_down_ = true;
        }
        break;
      case Op::kOpCount: break;
    }
    return static_cast<int>(op);
  }

  // --- sending ---

  void RawFrames(ByteReader& in, const char* kind, int peers,
                 void (CoordinatorCore::*handler)(std::span<const std::string_view>, SteadyTime)) {
    const std::string identity = Peer(kind, in.U8() % peers);
    const int n = in.U8() % 4;
    std::vector<std::string_view> frames = {identity};
    for (int i = 0; i < n; ++i) frames.push_back(in.Bytes(in.U16()));
    // The parsers on their own first (they must take any bytes), then the core.
    ClientEnvelope env;
    std::string error;
    if (SplitClientFrames(frames, env, error)) {
      proto::ClientRequest c;
      proto::WorkerMessage w;
      proto::AdminRequest a;
      (void)ParseClientRequest(env.payload, c, error);
      (void)RequestIdOf(c);
      (void)ParseWorkerMessage(env.payload, w, error);
      (void)ParseAdminRequest(env.payload, a, error);
      (void)AdminRequestName(a);
    }
    (core_.*handler)(frames, now_);
  }

  void FromClient(int client, const proto::ClientRequest& r) {
    const std::string identity = Peer("client", client);
    const std::string bytes = r.SerializeAsString();
    const std::string_view frames[] = {identity, bytes};
    core_.OnClientMessage(frames, now_);
  }

  void FromLeader(int leader, proto::WorkerMessage& m, bool bad_version = false) {
    m.set_version(bad_version ? 2 : proto::PROTOCOL_VERSION_1);
    const std::string identity = Peer("leader", leader);
    const std::string bytes = m.SerializeAsString();
    const std::string_view frames[] = {identity, bytes};
    core_.OnWorkerMessage(frames, now_);
  }

  int32_t Token(uint16_t raw, int32_t slack) const {
    return static_cast<int32_t>(raw % (vocab_ + 2 * slack)) - slack;
  }

  void Generate(ByteReader& in) {
    const int client = in.U8() % kClients;
    const std::string id = RequestId(in.U8());
    const uint8_t flags = in.U8();
    const int max_tokens = static_cast<int>(in.U8()) - 16;
    const uint8_t seed = in.U8();
    const uint8_t temperature = in.U8();
    const int n = in.U8();
    proto::ClientRequest r;
    r.set_version((flags & kGenBadVersion) ? 2 : proto::PROTOCOL_VERSION_1);
    proto::GenerateRequest* g = r.mutable_generate();
    g->set_request_id(id);
    g->set_max_tokens(max_tokens);
    g->set_stream((flags & kGenStream) != 0);
    g->set_ignore_eos((flags & kGenIgnoreEos) != 0);
    proto::SamplingOptions* s = g->mutable_sampling();
    s->set_seed(seed);
    if (flags & kGenOddSampling) {
      static const float kOdd[] = {-1.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                                   1e30f};
      s->set_temperature(kOdd[temperature % 4]);
      s->set_top_k(-static_cast<int>(temperature));
      s->set_top_p(1.0f + static_cast<float>(temperature) / 16.0f);
    } else {
      s->set_temperature(static_cast<float>(temperature % 8) / 4.0f);
      s->set_top_k(temperature % 5);
      s->set_top_p(static_cast<float>(temperature % 11) / 10.0f);
    }
    if (flags & kGenText) {
      g->set_prompt(std::string(in.Bytes(static_cast<size_t>(n))));
      if (flags & kGenBothPrompts) g->add_prompt_tokens(1);
    } else {
      for (int i = 0; i < n; ++i) g->add_prompt_tokens(Token(in.U16(), 16));
      if (flags & kGenBothPrompts) g->set_prompt("both");
    }
    FromClient(client, r);
  }

  // The group id / epoch a leader's message names: the ones the core sent it,
  // or forged from the select byte.
  uint64_t GroupOf(int leader, uint8_t select) const {
    return (select & kSelForgeGroup) ? (select >> 2) : leaders_[leader].group;
  }
  uint64_t EpochOf(int leader, uint8_t select) const {
    return (select & kSelForgeEpoch) ? (select >> 4) : leaders_[leader].epoch;
  }

  void Register(ByteReader& in) {
    const int leader = in.U8() % kLeaders;
    const int tp = in.U8() % 4;
    const int pp = in.U8() % 4;
    const uint8_t flags = in.U8();
    const int64_t memory = int64_t{1} << (in.U8() % 48);
    const uint16_t kv_tokens = in.U16();
    proto::WorkerMessage m;
    proto::Register* r = m.mutable_registration();
    r->set_name(Peer("group", leader));
    r->mutable_model()->set_name(f_.model->config.name);
    r->mutable_model()->set_fingerprint((flags & kRegWrongModel) ? "not-this-model" : f_.fingerprint);
    r->set_tp(tp);
    r->set_pp(pp);
    r->set_kv_tokens(kv_tokens);
    const int profiles = tp * pp - ((flags & kRegFewerProfiles) ? 1 : 0);
    for (int i = 0; i < profiles; ++i) {
      proto::DeviceProfile* p = r->add_profiles();
      p->set_name("fuzz");
      p->set_memory_bytes(memory);
      p->set_compute_flops(1e11);
      p->set_memory_bandwidth(1e10);
    }
    FromLeader(leader, m, (flags & kRegBadVersion) != 0);
  }

  void Ready(ByteReader& in) {
    const int leader = in.U8() % kLeaders;
    const uint8_t select = in.U8();
    proto::WorkerMessage m;
    proto::Ready* r = m.mutable_ready();
    r->set_group_id(GroupOf(leader, select));
    r->set_epoch(EpochOf(leader, select));
    r->set_kv_blocks(static_cast<int16_t>(in.U16()));  // negative ones too
    r->set_block_size(in.U8());
    r->set_max_sequences(in.U8());
    r->set_max_batch_tokens(in.U16());
    FromLeader(leader, m);
  }

  void Updates(ByteReader& in) {
    const int leader = in.U8() % kLeaders;
    const uint8_t select = in.U8();
    const int n = in.U8() % 4;
    proto::WorkerMessage m;
    proto::SequenceUpdates* ups = m.mutable_updates();
    ups->set_group_id(GroupOf(leader, select));
    ups->set_epoch(EpochOf(leader, select));
    const std::vector<uint64_t>& seqs = leaders_[leader].seqs;
    for (int i = 0; i < n; ++i) {
      proto::SequenceUpdate* u = ups->add_updates();
      const uint8_t seq = in.U8();
      u->set_seq(seq < kSeqForged && !seqs.empty() ? seqs[seq % seqs.size()] : seq);
      const int tokens = in.U8() % 6;
      for (int t = 0; t < tokens; ++t) u->add_tokens(Token(in.U16(), 4));
      const uint8_t flags = in.U8();
      u->set_done((flags & kUpdDone) != 0);
      if (flags & kUpdDone) {
        u->set_finish((flags & kUpdEos)         ? proto::FINISH_EOS
                      : (flags & kUpdCancelled) ? proto::FINISH_CANCELLED
                                                : proto::FINISH_LENGTH);
      }
      if (flags & kUpdError) {
        u->set_error_code(static_cast<proto::ErrorCode>((flags >> 4) % 9));
        u->set_error("fuzz: sequence failed");
      }
    }
    FromLeader(leader, m);
  }

  void Heartbeat(ByteReader& in) {
    const int leader = in.U8() % kLeaders;
    const uint8_t select = in.U8();
    const int stages = in.U8() % 4;
    proto::WorkerMessage m;
    proto::Heartbeat* hb = m.mutable_heartbeat();
    hb->set_group_id(GroupOf(leader, select));
    hb->set_epoch(EpochOf(leader, select));
    hb->set_running(select % 5);
    hb->set_kv_blocks_free(select);
    for (int s = 0; s < stages; ++s) {
      proto::StageTiming* t = hb->add_stages();
      t->set_stage(s);
      t->set_steps(in.U8());
      t->set_mean_step_seconds(in.U8() / 1000.0);
      t->set_layers(1);
      proto::RankMemory* r = hb->add_ranks();
      r->set_rank(s);
      r->set_resident_bytes(int64_t{1} << 20);
    }
    FromLeader(leader, m);
  }

  void Resharded(ByteReader& in) {
    const int leader = in.U8() % kLeaders;
    const uint8_t select = in.U8();
    proto::WorkerMessage m;
    proto::Resharded* r = m.mutable_resharded();
    r->set_group_id(GroupOf(leader, select));
    r->set_epoch(EpochOf(leader, select));
    r->set_ok(in.U8() & 1);
    r->set_message("fuzz");
    r->set_kv_blocks(static_cast<int16_t>(in.U16()));
    r->set_block_size(in.U8());
    r->set_loaded_bytes(1000);
    r->set_kept_bytes(1000);
    r->set_seconds(0.5);
    FromLeader(leader, m);
  }

  void Admin(ByteReader& in) {
    const std::string identity = Peer("admin", in.U8() % kAdmins);
    const auto kind = static_cast<AdminKind>(in.U8() % 7);
    const uint8_t select = in.U8();
    const uint8_t flags = in.U8();
    const uint64_t group = select < kSeqForged && !group_ids_.empty() ? group_ids_[select % group_ids_.size()] : select;
    proto::PlanSpec spec;
    const int bounds = in.U8() % 6;
    for (int i = 0; i < bounds; ++i) spec.add_layer_bounds(static_cast<int8_t>(in.U8()));
    const int shares = in.U8() % 4;
    for (int i = 0; i < shares; ++i) spec.add_tp_shares(static_cast<int8_t>(in.U8()) / 16.0);
    spec.set_auto_balance((flags & kAdmAuto) != 0);
    const int64_t drain_ms = int64_t{10} * in.U8();

    proto::AdminRequest r;
    r.set_version((flags & kAdmBadVersion) ? 2 : proto::PROTOCOL_VERSION_1);
    switch (kind) {
      case AdminKind::kStatus: r.mutable_status(); break;
      case AdminKind::kPreview:
      case AdminKind::kDiff: {
        proto::PlanRequest* p = kind == AdminKind::kPreview ? r.mutable_plan_preview() : r.mutable_plan_diff();
        p->set_group_id(group);
        *p->mutable_spec() = spec;
        break;
      }
      case AdminKind::kRebalance:
        r.mutable_rebalance()->set_group_id(group);
        *r.mutable_rebalance()->mutable_spec() = spec;
        r.mutable_rebalance()->set_drain_timeout_ms(drain_ms);
        break;
      case AdminKind::kDrain: r.mutable_drain()->set_group_id(group); break;
      case AdminKind::kUndrain: r.mutable_undrain()->set_group_id(group); break;
      case AdminKind::kRemove: r.mutable_remove()->set_group_id(group); break;
    }
    const std::string bytes = r.SerializeAsString();
    const std::string_view frames[] = {identity, bytes};
    core_.OnAdminMessage(frames, now_);
  }

  // --- checking ---

  SendOutcome OutcomeFor(std::string_view identity) const {
    auto it = outcomes_.find(std::string(identity));
    return it == outcomes_.end() ? SendOutcome::kSent : it->second;
  }

  void CheckTokens(const google::protobuf::RepeatedField<int32_t>& tokens, const char* what) const {
    for (int32_t t : tokens) FUZZ_CHECK(t >= 0 && t < vocab_, "%s holds token %d outside [0, %d)", what, t, vocab_);
  }

  void CheckClientReply(const proto::ClientReply& reply, bool delivered) {
    FUZZ_CHECK(reply.version() == proto::PROTOCOL_VERSION_1, "client reply of version %u", reply.version());
    FUZZ_CHECK(reply.kind_case() != proto::ClientReply::KIND_NOT_SET, "empty client reply");
    StreamView& view = streams_[reply.request_id()];
    switch (reply.kind_case()) {
      case proto::ClientReply::kChunk: {
        const proto::TokenChunk& c = reply.chunk();
        CheckTokens(c.tokens(), "a chunk");
        FUZZ_CHECK(!c.tokens().empty(), "an empty chunk for '%s'", reply.request_id().c_str());
        FUZZ_CHECK(IsValidUtf8(c.text()), "a chunk's text is not valid UTF-8");
        const size_t index = static_cast<size_t>(c.index());
        FUZZ_CHECK(c.index() >= 0, "chunk index %d", c.index());
        if (index == 0) {
          view.tokens.clear();  // a new run, or the whole text again for a client that came back
        } else if (view.synced) {
          FUZZ_CHECK(index == view.tokens.size(), "request '%s': chunk at index %zu after %zu streamed tokens",
                     reply.request_id().c_str(), index, view.tokens.size());
        } else {
          view.tokens.assign(index, -1);
        }
        view.tokens.insert(view.tokens.end(), c.tokens().begin(), c.tokens().end());
        view.synced = true;
        break;
      }
      case proto::ClientReply::kResult: {
        const proto::GenerateResult& res = reply.result();
        CheckTokens(res.tokens(), "a result");
        FUZZ_CHECK(IsValidUtf8(res.text()), "a result's text is not valid UTF-8");
        FUZZ_CHECK(res.usage().completion_tokens() == res.tokens_size(), "usage says %d tokens, the result has %d",
                   res.usage().completion_tokens(), res.tokens_size());
        if (view.synced) {
          FUZZ_CHECK(view.tokens.size() <= static_cast<size_t>(res.tokens_size()),
                     "request '%s': %zu tokens streamed, %d in the result", reply.request_id().c_str(),
                     view.tokens.size(), res.tokens_size());
          for (size_t i = 0; i < view.tokens.size(); ++i) {
            FUZZ_CHECK(view.tokens[i] == -1 || view.tokens[i] == res.tokens(static_cast<int>(i)),
                       "request '%s': streamed token %zu is %d, the result's is %d", reply.request_id().c_str(), i,
                       view.tokens[i], res.tokens(static_cast<int>(i)));
          }
        }
        view = StreamView{};  // the run is over (a later one of this id starts afresh)
        break;
      }
      case proto::ClientReply::kError:
        FUZZ_CHECK(reply.error().code() != proto::ERROR_UNSPECIFIED, "an error reply without a code");
        // Some errors end the run, some (a refused repeat of a live id) do
        // not: what follows resynchronises.
        view = StreamView{};
        break;
      default:
        break;
    }
    // An undelivered chunk is a gap the client never sees; the next one it
    // gets restarts at 0 (the core repoints), so the view starts over.
    if (!delivered) streams_[reply.request_id()] = StreamView{};
  }

  void CheckGroupMessage(std::string_view identity, const proto::CoordinatorMessage& m) {
    FUZZ_CHECK(m.version() == proto::PROTOCOL_VERSION_1, "group message of version %u", m.version());
    FUZZ_CHECK(m.kind_case() != proto::CoordinatorMessage::KIND_NOT_SET, "empty group message");
    LeaderView* leader = nullptr;
    for (int i = 0; i < kLeaders; ++i) {
      if (identity == Peer("leader", i)) leader = &leaders_[i];
    }
    FUZZ_CHECK(leader != nullptr, "a group message to '%s', who never spoke", std::string(identity).c_str());
    switch (m.kind_case()) {
      case proto::CoordinatorMessage::kPlan:
        leader->group = m.plan().group_id();
        leader->epoch = m.plan().epoch();
        leader->seqs.clear();
        group_ids_.push_back(m.plan().group_id());
        if (group_ids_.size() > 8) group_ids_.erase(group_ids_.begin());
        break;
      case proto::CoordinatorMessage::kReshard:
        leader->group = m.reshard().group_id();
        leader->epoch = m.reshard().epoch();
        break;
      case proto::CoordinatorMessage::kStart: {
        const proto::StartSequence& s = m.start();
        FUZZ_CHECK(started_.insert(s.seq()).second, "sequence %llu started twice",
                   static_cast<unsigned long long>(s.seq()));
        FUZZ_CHECK(s.tokens_size() > 0 && s.max_new_tokens() > 0, "StartSequence of %d tokens, %d new",
                   s.tokens_size(), s.max_new_tokens());
        CheckTokens(s.tokens(), "a StartSequence");
        FUZZ_CHECK(int64_t{s.tokens_size()} + s.max_new_tokens() - 1 <= context_,
                   "StartSequence of %d tokens + %d new exceeds the context %lld", s.tokens_size(),
                   s.max_new_tokens(), static_cast<long long>(context_));
        leader->seqs.push_back(s.seq());
        if (leader->seqs.size() > 16) leader->seqs.erase(leader->seqs.begin());
        break;
      }
      default:
        break;
    }
  }

  void CheckLedger() {
    const proto::ClusterStatus s = core_.Status(now_);
    const uint64_t ended = s.completed() + s.cancelled() + s.failed();
    FUZZ_CHECK(s.queue_depth() >= 0 && s.in_flight() >= 0, "queue %d, in flight %d", s.queue_depth(),
               s.in_flight());
    FUZZ_CHECK(s.accepted() == ended + static_cast<uint64_t>(s.queue_depth()) + static_cast<uint64_t>(s.in_flight()),
               "accepted %llu != completed %llu + cancelled %llu + failed %llu + queued %d + in flight %d",
               static_cast<unsigned long long>(s.accepted()), static_cast<unsigned long long>(s.completed()),
               static_cast<unsigned long long>(s.cancelled()), static_cast<unsigned long long>(s.failed()),
               s.queue_depth(), s.in_flight());
    if (shut_down_) {
      // Shutdown answers every request but leaves the groups' books as they
      // were (nothing reads them afterwards), so only the table is checked.
      FUZZ_CHECK(s.queue_depth() == 0 && s.in_flight() == 0, "after shutdown: %d queued, %d in flight",
                 s.queue_depth(), s.in_flight());
      return;
    }
    int64_t running = 0;
    for (const proto::GroupStatus& g : s.groups()) {
      FUZZ_CHECK(g.running() >= 0 && g.outstanding_tokens() >= 0, "group %llu: running %d, outstanding %lld",
                 static_cast<unsigned long long>(g.id()), g.running(), static_cast<long long>(g.outstanding_tokens()));
      FUZZ_CHECK(g.state() != proto::GROUP_DEAD || (g.running() == 0 && g.outstanding_tokens() == 0),
                 "dead group %llu still runs %d sequences (%lld tokens)", static_cast<unsigned long long>(g.id()),
                 g.running(), static_cast<long long>(g.outstanding_tokens()));
      running += g.running();
    }
    FUZZ_CHECK(running == s.in_flight(), "groups run %lld sequences, the in-flight table holds %d",
               static_cast<long long>(running), s.in_flight());
  }

  const Fixture& f_;
  const int32_t vocab_;
  const int64_t context_;
  SteadyTime now_;
  bool shut_down_ = false;
  std::unordered_map<std::string, SendOutcome> outcomes_;
  LeaderView leaders_[kLeaders];
  std::vector<uint64_t> group_ids_;  // from plans, newest last
  std::set<uint64_t> started_;
  std::unordered_map<std::string, StreamView> streams_;
  CoordinatorCore core_;  // last: it sends into the members above
};

}  // namespace
}  // namespace tessera::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::fuzz::ByteReader in(data, size);
  tessera::fuzz::Harness harness;
  harness.Run(in);
  return 0;
}
