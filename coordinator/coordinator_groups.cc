// CoordinatorCore, the group leaders' side: registration and plans, Ready,
// token updates, heartbeats and death (Resharded: coordinator_admin.cc).
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator_core.h"
#include "coordinator/frames.h"
#include "glog/logging.h"
#include "partition/partitioner.h"

namespace tessera {

void CoordinatorCore::OnWorkerMessage(std::span<const std::string_view> frames, SteadyTime now) {
  if (shutting_down_ || frames.empty()) return;
  const std::string_view identity = frames[0];
  Group* g = groups_.FindByIdentity(identity);
  if (g != nullptr) g->last_heard = now;  // any message proves the leader alive
  if (frames.size() != 2) {
    LOG(WARNING) << "group leader " << (g != nullptr ? g->name : PeerName(identity)) << ": a message of "
                 << frames.size() - 1 << " frames (expected one); dropped";
    return;
  }
  std::string error;
  const proto::ErrorCode code = ParseWorkerMessage(frames[1], worker_message_, error);
  if (code != proto::ERROR_UNSPECIFIED) {
    LOG(WARNING) << "group leader " << (g != nullptr ? g->name : PeerName(identity)) << ": " << error
                 << "; dropped";
    if (code == proto::ERROR_UNSUPPORTED_VERSION && worker_message_.has_registration()) {
      Reject(identity, code, error);
    }
    return;
  }
  if (worker_message_.has_registration()) {
    HandleRegister(identity, worker_message_.registration(), now);
    Settle(now);
    return;
  }
  if (g == nullptr) {
    // A heartbeat of a leader that has no plan yet (group id 0) waits for
    // its Register; anything else is from a group of a coordinator that
    // restarted, or one declared dead: it holds a plan and sequences this
    // coordinator knows nothing of.
    if (worker_message_.has_heartbeat() && worker_message_.heartbeat().group_id() == 0) return;
    LOG(WARNING) << "group leader " << PeerName(identity)
                 << ": message from a leader that is not registered here; sending Shutdown";
    out_.Clear();
    out_.set_version(proto::PROTOCOL_VERSION_1);
    out_.mutable_shutdown()->set_reason(
        "this coordinator does not know the group (it restarted or declared the group dead); restart the "
        "group so that it registers again");
    outbox_.ToGroup(identity, out_);
    return;
  }
  switch (worker_message_.kind_case()) {
    case proto::WorkerMessage::kReady:
      HandleReady(*g, worker_message_.ready(), now);
      break;
    case proto::WorkerMessage::kFailed:
      if (worker_message_.failed().group_id() != g->id) break;
      LOG(WARNING) << "group " << g->name << " (id " << g->id
                   << ") failed to start: " << worker_message_.failed().message() << "; removed";
      MarkDead(*g, "startup failed", now);
      groups_.Remove(g->id);
      break;
    case proto::WorkerMessage::kHeartbeat: {
      const proto::Heartbeat& hb = worker_message_.heartbeat();
      // While its ranks load a new plan the leader may still beat under the
      // old epoch (it switches when they are done).
      const bool current = hb.epoch() == g->epoch ||
                           (g->state == proto::GROUP_RESHARDING && hb.epoch() + 1 == g->epoch);
      if (hb.group_id() == g->id && current) {
        g->kv_blocks_free = hb.kv_blocks_free();
        g->preemptions = hb.preemptions();
        g->stages.assign(hb.stages().begin(), hb.stages().end());
        g->ranks.assign(hb.ranks().begin(), hb.ranks().end());
      }
      break;
    }
    case proto::WorkerMessage::kResharded:
      HandleResharded(*g, worker_message_.resharded(), now);
      break;
    case proto::WorkerMessage::kUpdates:
      HandleUpdates(*g, worker_message_.updates(), now);
      break;
    default:
      break;
  }
  Settle(now);
}

void CoordinatorCore::Reject(std::string_view identity, proto::ErrorCode code, const std::string& message) {
  out_.Clear();
  out_.set_version(proto::PROTOCOL_VERSION_1);
  proto::RegisterRejected* rej = out_.mutable_rejected();
  rej->set_code(code);
  rej->set_message(message);
  outbox_.ToGroup(identity, out_);
}

void CoordinatorCore::HandleRegister(std::string_view identity, const proto::Register& reg, SteadyTime now) {
  if (Group* old = groups_.FindByIdentity(identity)) MarkDead(*old, "its leader registered again", now);
  const std::string name = reg.name().empty() ? PeerName(identity) : reg.name();
  if (reg.model().fingerprint() != fingerprint_) {
    const std::string msg = absl::StrCat(
        "model mismatch: group '", name, "' loaded model '", reg.model().name(), "' (fingerprint ",
        reg.model().fingerprint(), ") but this coordinator serves '", model_name_, "' (fingerprint ", fingerprint_,
        "); start the group with the coordinator's model file");
    LOG(WARNING) << "group " << name << " rejected: " << msg;
    Reject(identity, proto::ERROR_INVALID_ARGUMENT, msg);
    return;
  }
  PartitionRequest pr;
  pr.model = tensors_;
  pr.tp = reg.tp();
  pr.pp = reg.pp();
  pr.profiles.assign(reg.profiles().begin(), reg.profiles().end());
  pr.kv_tokens = reg.kv_tokens() > 0          ? reg.kv_tokens()
                 : options_.kv_tokens > 0     ? options_.kv_tokens
                                              : 4 * model_.config.context_length;
  absl::StatusOr<proto::ShardPlan> plan = Partition(pr);
  if (!plan.ok()) {
    const std::string msg = absl::StrCat("no plan for group '", name, "' (tp ", reg.tp(), " x pp ", reg.pp(),
                                         ", KV budget ", pr.kv_tokens, " tokens): ", plan.status().message());
    LOG(WARNING) << "group " << name << " rejected: " << msg;
    Reject(identity, proto::ERROR_INVALID_ARGUMENT, msg);
    return;
  }
  Group& g = groups_.Add(std::string(identity), name, reg.tp(), reg.pp(), now);
  g.plan = *plan;
  g.profiles.assign(reg.profiles().begin(), reg.profiles().end());
  LOG(INFO) << "group " << name << " registered: tp " << g.tp << " x pp " << g.pp << ", id " << g.id;
  out_.Clear();
  out_.set_version(proto::PROTOCOL_VERSION_1);
  proto::PlanAssignment* a = out_.mutable_plan();
  a->set_group_id(g.id);
  a->set_epoch(g.epoch);
  *a->mutable_plan() = *std::move(plan);
  LOG(INFO) << "group " << name << ": plan assigned (KV budget " << a->plan().kv_tokens() << " tokens, predicted "
            << a->plan().predicted_step_seconds() * 1e3 << " ms per decode step)";
  VLOG(1) << "group " << name << " plan:\n" << FormatPlan(a->plan());
  SendToGroup(g, out_, now);
}

void CoordinatorCore::HandleReady(Group& g, const proto::Ready& ready, SteadyTime now) {
  if (ready.group_id() != g.id || ready.epoch() != g.epoch || g.state != proto::GROUP_PLANNING) {
    LOG(WARNING) << "group " << g.name << ": Ready for group " << ready.group_id() << " epoch " << ready.epoch()
                 << " (expected " << g.id << " epoch " << g.epoch << " while planning); dropped";
    return;
  }
  if (ready.kv_blocks() <= 0 || ready.block_size() <= 0 || ready.max_sequences() <= 0 ||
      ready.kv_blocks() > kMaxReadyKvBlocks || ready.block_size() > kMaxReadyBlockSize) {
    LOG(WARNING) << "group " << g.name << ": Ready with " << ready.kv_blocks() << " KV blocks of "
                 << ready.block_size() << ", max " << ready.max_sequences()
                 << " sequences cannot serve; shutting it down";
    out_.Clear();
    out_.set_version(proto::PROTOCOL_VERSION_1);
    out_.mutable_shutdown()->set_reason(absl::StrCat("Ready needs kv_blocks in [1, ", kMaxReadyKvBlocks,
                                                     "], block_size in [1, ", kMaxReadyBlockSize,
                                                     "] and max_sequences > 0"));
    outbox_.ToGroup(g.identity, out_);
    MarkDead(g, "unusable Ready", now);
    return;
  }
  // Drained while it was loading: it stays out of routing until undrained.
  g.state = g.admin_drained ? proto::GROUP_DRAINING : proto::GROUP_READY;
  g.kv_blocks = ready.kv_blocks();
  g.kv_blocks_free = ready.kv_blocks();
  g.block_size = ready.block_size();
  g.max_sequences = ready.max_sequences();
  g.max_batch_tokens = ready.max_batch_tokens();
  LOG(INFO) << "group " << g.name << " ready: " << g.kv_blocks << " KV blocks of " << g.block_size
            << " positions, up to " << g.max_sequences << " sequences, " << g.max_batch_tokens
            << " tokens per step";
}

namespace {

// A group whose sequences run: ready, or draining (no new ones, the running
// ones finish).
bool Serving(const Group& g) { return g.state == proto::GROUP_READY || g.state == proto::GROUP_DRAINING; }

}  // namespace

void CoordinatorCore::HandleUpdates(Group& g, const proto::SequenceUpdates& updates, SteadyTime now) {
  if (updates.group_id() != g.id || updates.epoch() != g.epoch || !Serving(g)) {
    VLOG(1) << "group " << g.name << ": updates for group " << updates.group_id() << " epoch " << updates.epoch()
            << " dropped (group " << g.id << " epoch " << g.epoch << ")";
    return;
  }
  for (const proto::SequenceUpdate& u : updates.updates()) {
    if (!Serving(g)) break;  // a failed send declared it dead meanwhile
    ApplyUpdate(g, u, now);
  }
}

void CoordinatorCore::ApplyUpdate(Group& g, const proto::SequenceUpdate& u, SteadyTime now) {
  InflightEntry* e = inflight_.Find(u.seq());
  if (e == nullptr || e->group != g.id || e->epoch != g.epoch) {
    VLOG(1) << "group " << g.name << ": update for unknown seq " << u.seq() << " dropped";
    return;
  }
  Request& r = *FindRequest(e->request);
  const size_t first = r.tokens.size();
  const int32_t eos = tokenizer_.eos_id();
  int32_t bad_token = -1;
  text_.clear();
  for (int32_t t : u.tokens()) {
    if (r.eos) break;  // nothing after the end of the sequence
    if (t < 0 || t >= model_.config.vocab_size) {
      bad_token = t;
      break;
    }
    // Groups do not report the end-of-sequence token; one that does still
    // ends the run without it in the answer.
    if (r.stop_at_eos && t == eos) {
      r.eos = true;
      break;
    }
    if (r.remaining() <= 0) break;  // never more than asked for
    r.tokens.push_back(t);
    text_ += r.decoder.Push(t);
  }
  const size_t added = r.tokens.size() - first;
  if (added > 0) {
    if (r.first_token == SteadyTime{}) r.first_token = now;
    r.last_token = now;
    g.outstanding -= e->prompt_pending;
    e->prompt_pending = 0;
    const int64_t generated = std::min<int64_t>(static_cast<int64_t>(added), e->remaining);
    e->remaining -= generated;
    g.outstanding -= generated;
  }
  r.text += text_;

  const bool done = u.done() || bad_token != -1;
  if (done) {
    g.outstanding -= e->outstanding();
    --g.running;
    if (u.error_code() == proto::ERROR_UNSPECIFIED && bad_token == -1) ++g.completed;
    inflight_.Remove(u.seq());  // `e` dangles from here
    if (!u.done()) {
      out_.Clear();
      out_.set_version(proto::PROTOCOL_VERSION_1);
      out_.mutable_cancel()->set_seq(u.seq());
      SendToGroup(g, out_, now);
    }
  }
  if (r.stream && added > 0) SendChunk(r, first, added, text_, now);
  if (!done || r.state == Request::State::kFinished) return;
  if (bad_token != -1) {
    LOG(ERROR) << "group " << g.name << ": seq " << u.seq() << " produced token " << bad_token
               << " outside the vocabulary; request " << r.id << " failed";
    FinishError(r, proto::ERROR_INTERNAL,
                absl::StrCat("group '", g.name, "' produced token id ", bad_token, " outside the vocabulary"));
    return;
  }
  if (u.error_code() != proto::ERROR_UNSPECIFIED && !r.cancel_requested) {
    FinishError(r, u.error_code(), absl::StrCat("group '", g.name, "': ", u.error()));
    return;
  }
  proto::FinishReason reason = proto::FINISH_LENGTH;
  if (r.eos || u.finish() == proto::FINISH_EOS) {
    reason = proto::FINISH_EOS;
  } else if (r.remaining() <= 0) {
    reason = proto::FINISH_LENGTH;  // complete, even if a cancel crossed the last token
  } else if (r.resumable()) {
    VLOG(1) << "request " << r.id << ": its client came back; continuing it";
    Requeue(r, now);
    return;
  } else if (r.cancel_requested || u.finish() == proto::FINISH_CANCELLED) {
    reason = proto::FINISH_CANCELLED;  // FINISH_CANCELLED unasked: the group is shutting down
  }
  FinishResult(r, reason, now);
}

void CoordinatorCore::SendToGroup(Group& g, const proto::CoordinatorMessage& message, SteadyTime now) {
  const SendOutcome sent = outbox_.ToGroup(g.identity, message);
  if (sent == SendOutcome::kSent) return;
  MarkDead(g, sent == SendOutcome::kFull ? "its leader stopped reading (send queue full)" : "its leader disconnected",
           now);
}

void CoordinatorCore::MarkDead(Group& g, std::string_view reason, SteadyTime now) {
  if (g.state == proto::GROUP_DEAD) return;
  groups_.MarkDead(g);
  if (g.change) {
    if (g.change->kind == GroupChange::Kind::kRebalance) {
      g.last_rebalance = absl::StrCat("abandoned: the group died (", std::string(reason), ")");
      ++g.rebalances_finished;
    }
    g.change.reset();
  }
  LOG(WARNING) << "group " << g.name << " (id " << g.id << ") dead: " << std::string(reason) << "; "
               << inflight_.SeqsOfGroup(g.id).size() << " running requests go back to the front of the queue";
  MoveSequencesOff(g, /*cancel_on_group=*/false, now);
}

void CoordinatorCore::MoveSequencesOff(Group& g, bool cancel_on_group, SteadyTime now) {
  std::vector<uint64_t> seqs = inflight_.SeqsOfGroup(g.id);
  // Requeued in the order they were accepted: the oldest ends up first.
  std::vector<std::pair<uint64_t, uint64_t>> by_key;  // (request key, seq)
  for (uint64_t seq : seqs) by_key.emplace_back(inflight_.Find(seq)->request, seq);
  std::sort(by_key.begin(), by_key.end());
  for (auto it = by_key.rbegin(); it != by_key.rend(); ++it) {
    inflight_.Remove(it->second);
    Request* r = FindRequest(it->first);
    if (r == nullptr || r->state != Request::State::kRunning) continue;
    if (r->eos || r->remaining() <= 0) {
      FinishResult(*r, r->eos ? proto::FINISH_EOS : proto::FINISH_LENGTH, now);
    } else if (r->cancel_requested && !r->resumable()) {
      FinishResult(*r, proto::FINISH_CANCELLED, now);
    } else {
      // A continuation: prompt + the tokens already streamed, so the client
      // gets each token once.
      Requeue(*r, now);
    }
  }
  g.running = 0;
  g.outstanding = 0;
  if (!cancel_on_group) return;
  // Sent after the books are settled: a failed send declares the group
  // dead, which finds nothing left to move.
  for (const auto& [key, seq] : by_key) {
    if (g.state == proto::GROUP_DEAD) break;
    out_.Clear();
    out_.set_version(proto::PROTOCOL_VERSION_1);
    out_.mutable_cancel()->set_seq(seq);
    SendToGroup(g, out_, now);
  }
}

}  // namespace tessera
