#include "coordinator/coordinator_core.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/admin_text.h"
#include "coordinator/frames.h"
#include "coordinator/request_validator.h"
#include "glog/logging.h"
#include "model/model_fingerprint.h"

namespace tessera {
namespace {

double Ms(SteadyTime::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

CoordinatorCore::CoordinatorCore(const CoordinatorOptions& options, const Model& model, Outbox& outbox,
                                 SteadyTime now)
    : options_(options),
      model_(model),
      tokenizer_(*model.tokenizer),
      outbox_(outbox),
      tensors_(DescribeModel(model.config, model.weights)),
      fingerprint_(ModelFingerprint(model)),
      model_name_(model.config.name.empty() ? std::string("unnamed") : model.config.name),
      max_bytes_per_token_(MaxInputBytesPerToken(*model.tokenizer)),
      started_at_(now),
      heartbeat_timeout_(absl::ToChronoNanoseconds(options.heartbeat_timeout)),
      queue_timeout_(absl::ToChronoNanoseconds(options.queue_timeout)),
      queue_(static_cast<size_t>(std::max(0, options.queue_limit))),
      records_(static_cast<size_t>(std::max(0, options.record_limit)),
               static_cast<size_t>(std::max<int64_t>(0, options.record_bytes))) {}

CoordinatorCore::~CoordinatorCore() = default;

Request* CoordinatorCore::FindRequest(uint64_t key) {
  auto it = requests_.find(key);
  return it == requests_.end() ? nullptr : it->second.get();
}

SendOutcome CoordinatorCore::Reply(const Peer& to, const proto::ClientReply& reply) {
  return outbox_.ToClient(to.identity, to.delimiter, reply);
}

void CoordinatorCore::OnClientMessage(std::span<const std::string_view> frames, SteadyTime now) {
  if (shutting_down_ || frames.empty()) return;
  ClientEnvelope env;
  std::string error;
  if (!SplitClientFrames(frames, env, error)) {
    LOG(WARNING) << "client " << PeerName(env.identity) << ": malformed message: " << error;
    MakeErrorReply("", proto::ERROR_MALFORMED, error, reply_);
    Reply({env.identity, env.delimiter}, reply_);
    return;
  }
  const Peer from{env.identity, env.delimiter};
  if (proto::ErrorCode code = ParseClientRequest(env.payload, request_, error); code != proto::ERROR_UNSPECIFIED) {
    LOG(WARNING) << "client " << PeerName(env.identity) << ": " << error;
    const std::string id = code == proto::ERROR_UNSUPPORTED_VERSION ? RequestIdOf(request_) : std::string();
    MakeErrorReply(id, code, error, reply_);
    Reply(from, reply_);
    return;
  }
  switch (request_.kind_case()) {
    case proto::ClientRequest::kGenerate:
      HandleGenerate(from, request_.generate(), now);
      break;
    case proto::ClientRequest::kCancel:
      HandleCancel(from, request_.cancel(), now);
      break;
    case proto::ClientRequest::kStatus: {
      reply_.Clear();
      reply_.set_version(proto::PROTOCOL_VERSION_1);
      proto::ClusterStatus* s = reply_.mutable_status();
      *s = Status(now);
      // Plans, device profiles, stage timings and rank memory describe the
      // cluster's machines: the admin socket's status only (any client may
      // ask this one).
      for (proto::GroupStatus& g : *s->mutable_groups()) {
        g.clear_plan();
        g.clear_stages();
        g.clear_ranks();
      }
      Reply(from, reply_);
      break;
    }
    default:
      break;  // ParseClientRequest refuses an empty oneof
  }
  Settle(now);
}

void CoordinatorCore::HandleGenerate(const Peer& from, const proto::GenerateRequest& g, SteadyTime now) {
  const std::string& id = g.request_id();
  if (absl::Status st = ValidateRequestId(id); !st.ok()) {
    MakeErrorReply(id, proto::ERROR_INVALID_ARGUMENT, std::string(st.message()), reply_);
    Reply(from, reply_);
    return;
  }
  if (auto it = by_id_.find(id); it != by_id_.end()) {
    HandleRepeat(from, g, requests_.at(it->second).get(), nullptr, now);
    return;
  }
  if (const RecordEntry* record = records_.Find(id)) {
    HandleRepeat(from, g, nullptr, record, now);
    return;
  }
  // A new request finds no room when others already wait and the queue is
  // full: BUSY before the work of tokenizing it.
  if (!queue_.empty() && queue_.full()) {
    AnswerBusy(from, id);
    return;
  }

  absl::StatusOr<ValidatedRequest> v = ValidateGenerateRequest(g, tokenizer_, Limits(/*with_kv=*/true));
  if (!v.ok()) {
    VLOG(1) << "request " << id << ": invalid: " << v.status().message();
    MakeErrorReply(id, proto::ERROR_INVALID_ARGUMENT, std::string(v.status().message()), reply_);
    Reply(from, reply_);
    return;
  }

  const uint64_t key = next_key_++;
  auto owned = std::make_unique<Request>(key, tokenizer_);
  Request& r = *owned;
  r.id = id;
  r.owner = std::string(from.identity);
  r.owner_delimiter = from.delimiter;
  r.stream = g.stream();
  r.fingerprint = RequestFingerprint(*v);  // before the prompt moves out of `v`
  r.prompt = std::move(v->prompt);
  r.max_tokens = v->max_tokens;
  r.sampling = v->sampling;
  r.stop_at_eos = v->stop_at_eos;
  r.accepted = now;

  // Straight to a group when nobody waits before it and one has room; else
  // into the queue while it has room; else BUSY.
  if (queue_.empty()) {
    if (std::optional<uint64_t> gid = groups_.Pick(static_cast<int64_t>(r.prompt.size()), r.max_tokens)) {
      requests_.emplace(key, std::move(owned));
      by_id_.emplace(id, key);
      ++accepted_;
      VLOG(1) << "request " << id << ": " << r.prompt.size() << " prompt tokens, max " << r.max_tokens;
      Start(r, *groups_.Find(*gid), now);
      return;
    }
  }
  if (!queue_.PushBack(key, now)) {
    AnswerBusy(from, id);
    return;
  }
  requests_.emplace(key, std::move(owned));
  by_id_.emplace(id, key);
  ++accepted_;
  VLOG(1) << "request " << id << ": " << r.prompt.size() << " prompt tokens, max " << r.max_tokens << ", queued ("
          << queue_.size() << " waiting)";
}

RequestLimits CoordinatorCore::Limits(bool with_kv) const {
  RequestLimits limits;
  limits.vocab_size = model_.config.vocab_size;
  limits.context_length = model_.config.context_length;
  limits.default_max_tokens = options_.default_max_tokens;
  limits.max_bytes_per_token = max_bytes_per_token_;
  if (with_kv) groups_.LargestReadyKv(limits.kv_blocks, limits.kv_block_size);
  return limits;
}

void CoordinatorCore::AnswerBusy(const Peer& from, const std::string& id) {
  ++rejected_busy_;
  VLOG(1) << "request " << id << ": busy (" << queue_.size() << " waiting)";
  MakeErrorReply(id, proto::ERROR_BUSY,
                 absl::StrCat("the coordinator's queue is full (", queue_.size(),
                              " requests waiting for a group); retry later with the same request id"),
                 reply_);
  Reply(from, reply_);
}

void CoordinatorCore::HandleCancel(const Peer& from, const proto::CancelRequest& c, SteadyTime now) {
  const std::string& id = c.request_id();
  if (absl::Status st = ValidateRequestId(id); !st.ok()) {
    MakeErrorReply(id, proto::ERROR_INVALID_ARGUMENT, std::string(st.message()), reply_);
    Reply(from, reply_);
    return;
  }
  auto it = by_id_.find(id);
  if (it == by_id_.end() && records_.Find(id) == nullptr) {
    MakeErrorReply(id, proto::ERROR_NOT_FOUND,
                   absl::StrCat("no request '", id, "' is queued, running or recently finished"), reply_);
    Reply(from, reply_);
    return;
  }
  reply_.Clear();
  reply_.set_version(proto::PROTOCOL_VERSION_1);
  reply_.set_request_id(id);
  reply_.mutable_cancelled();
  Reply(from, reply_);
  if (it == by_id_.end()) return;  // already finished: nothing to cancel
  Request& r = *requests_.at(it->second);
  VLOG(1) << "request " << id << ": cancelled by client " << PeerName(from.identity);
  CancelRequest(r, /*by_client=*/true, now);
}

void CoordinatorCore::CancelRequest(Request& r, bool by_client, SteadyTime now) {
  if (by_client) r.cancelled_by_client = true;
  if (r.state == Request::State::kQueued) {
    queue_.Remove(r.key);
    FinishResult(r, proto::FINISH_CANCELLED, now);
    return;
  }
  if (r.state != Request::State::kRunning || r.cancel_requested) return;
  // Not in flight any more: its last update is being applied right now.
  InflightEntry* e = inflight_.Find(r.seq);
  Group* g = e != nullptr ? groups_.Find(e->group) : nullptr;
  if (g == nullptr) return;
  // The group answers done (FINISH_CANCELLED), which frees its KV; the
  // result goes out then, with every token that came before.
  r.cancel_requested = true;
  out_.Clear();
  out_.set_version(proto::PROTOCOL_VERSION_1);
  out_.mutable_cancel()->set_seq(r.seq);
  SendToGroup(*g, out_, now);
}

void CoordinatorCore::OnClientLost(Request& r, SendOutcome why, SteadyTime now) {
  if (r.owner_gone) return;
  r.owner_gone = true;
  LOG(WARNING) << "request " << r.id << ": client " << PeerName(r.owner)
               << (why == SendOutcome::kFull ? " is not reading its answers" : " disconnected")
               << "; cancelling the request";
  CancelRequest(r, /*by_client=*/false, now);
}

void CoordinatorCore::SendChunk(Request& r, size_t index, size_t count, const std::string& text, SteadyTime now) {
  if (r.owner_gone) return;
  reply_.Clear();
  reply_.set_version(proto::PROTOCOL_VERSION_1);
  reply_.set_request_id(r.id);
  proto::TokenChunk* chunk = reply_.mutable_chunk();
  chunk->set_index(static_cast<int32_t>(index));
  chunk->mutable_tokens()->Add(r.tokens.begin() + static_cast<ptrdiff_t>(index),
                               r.tokens.begin() + static_cast<ptrdiff_t>(index + count));
  chunk->set_text(text);
  const SendOutcome sent = outbox_.ToClient(r.owner, r.owner_delimiter, reply_);
  if (sent != SendOutcome::kSent) OnClientLost(r, sent, now);
}

void CoordinatorCore::FinishResult(Request& r, proto::FinishReason reason, SteadyTime now) {
  reply_.Clear();
  reply_.set_version(proto::PROTOCOL_VERSION_1);
  reply_.set_request_id(r.id);
  proto::GenerateResult* res = reply_.mutable_result();
  res->mutable_tokens()->Add(r.tokens.begin(), r.tokens.end());
  r.text += r.decoder.Finish();
  res->set_text(r.text);
  res->set_finish_reason(reason);
  res->mutable_usage()->set_prompt_tokens(static_cast<int32_t>(r.prompt.size()));
  res->mutable_usage()->set_completion_tokens(static_cast<int32_t>(r.tokens.size()));
  proto::Timings* t = res->mutable_timings();
  const bool started = r.started != SteadyTime{};
  t->set_queue_ms(Ms((started ? r.started : now) - r.accepted));
  if (!r.tokens.empty()) {
    t->set_ttft_ms(Ms(r.first_token - r.accepted));
    if (r.tokens.size() > 1) {
      t->set_tpot_ms(Ms(r.last_token - r.first_token) / static_cast<double>(r.tokens.size() - 1));
    }
  }
  t->set_total_ms(Ms(now - r.accepted));
  res->set_group(r.group_name);
  if (reason == proto::FINISH_CANCELLED) {
    ++cancelled_;
  } else {
    ++completed_;
  }
  VLOG(1) << "request " << r.id << ": " << proto::FinishReason_Name(reason) << ", " << r.tokens.size()
          << " tokens, queue " << t->queue_ms() << " ms, ttft " << t->ttft_ms() << " ms, tpot " << t->tpot_ms()
          << " ms, total " << t->total_ms() << " ms on " << r.group_name;
  // Only a cancel some client asked for is final. One nobody asked for (its
  // client vanished; its group stopped it) leaves no record: the client's
  // retry with the same id runs again.
  Retire(r, reply_, /*record=*/reason != proto::FINISH_CANCELLED || r.cancelled_by_client);
}

void CoordinatorCore::FinishError(Request& r, proto::ErrorCode code, std::string_view message, bool recordable) {
  ++failed_;
  VLOG(1) << "request " << r.id << ": " << proto::ErrorCode_Name(code) << ": " << message;
  MakeErrorReply(r.id, code, message, reply_);
  // BUSY and UNAVAILABLE invite a retry with the same id: that retry must
  // run, so those answers are not recorded.
  Retire(r, reply_, recordable && code != proto::ERROR_BUSY && code != proto::ERROR_UNAVAILABLE);
}

void CoordinatorCore::Retire(Request& r, proto::ClientReply& reply, bool record) {
  if (!r.owner_gone) {
    const SendOutcome sent = outbox_.ToClient(r.owner, r.owner_delimiter, reply);
    if (sent != SendOutcome::kSent) {
      LOG(WARNING) << "request " << r.id << ": client " << PeerName(r.owner)
                   << (sent == SendOutcome::kFull ? " is not reading" : " disconnected")
                   << (record ? "; its final answer stays in the record" : "; its answer is lost (not recorded)");
    }
  }
  if (record) records_.Put(r.id, std::move(reply), r.fingerprint);
  r.state = Request::State::kFinished;
  by_id_.erase(r.id);
  auto it = requests_.find(r.key);
  retired_.push_back(std::move(it->second));
  requests_.erase(it);
}

void CoordinatorCore::Dispatch(SteadyTime now) {
  // With no group serving nothing can start, and nothing is refused: a group
  // that registers may hold it.
  if (queue_.empty() || groups_.ReadyCount() == 0) return;
  std::optional<uint64_t> next = queue_.Front();
  int passed = 0;
  while (next && passed < kDispatchScan) {
    const uint64_t key = *next;
    next = queue_.After(key);  // before `key` leaves the queue
    Request& r = *requests_.at(key);
    const int64_t tokens = static_cast<int64_t>(r.prompt.size() + r.tokens.size());
    if (std::optional<uint64_t> gid = groups_.Pick(tokens, r.remaining())) {
      queue_.Remove(key);
      Start(r, *groups_.Find(*gid), now);
    } else if (groups_.ReadyNowCanHold(tokens, r.remaining())) {
      return;  // waits for a free slot, and so does everything behind it
    } else if (groups_.ReadyGroupCanHold(tokens, r.remaining())) {
      ++passed;  // only a group away for a rebalance holds it: it waits for that group, in its place
    } else {
      // No group could ever hold it (it was accepted while none was ready,
      // or the group that could died): refused as a new request would be
      // now, and not recorded (it never ran to an answer of its own).
      queue_.Remove(key);
      int64_t kv_blocks = 0;
      int32_t block_size = 16;
      groups_.LargestReadyKv(kv_blocks, block_size);
      FinishError(r, proto::ERROR_INVALID_ARGUMENT,
                  absl::StrCat("the request needs ", KvPositionsNeeded(tokens, r.remaining()),
                               " KV positions (its prompt and the tokens it may still generate); no ready group "
                               "can hold that many (the largest holds ",
                               kv_blocks * block_size, "; shorten the prompt or lower max_tokens)"),
                  /*recordable=*/false);
    }
    // A start that found its group gone requeued that group's sequences at
    // the front; `next` is still queued (only running requests move).
    if (next && !queue_.Contains(*next)) return;
  }
}

void CoordinatorCore::Start(Request& r, Group& g, SteadyTime now) {
  const uint64_t seq = next_seq_++;
  out_.Clear();
  out_.set_version(proto::PROTOCOL_VERSION_1);
  proto::StartSequence* s = out_.mutable_start();
  s->set_seq(seq);
  // A continuation (its first group died) prefills the prompt plus the
  // tokens already streamed; (seed, position) sampling makes the rest what
  // the first run would have produced.
  s->mutable_tokens()->Reserve(static_cast<int>(r.prompt.size() + r.tokens.size()));
  s->mutable_tokens()->Add(r.prompt.begin(), r.prompt.end());
  s->mutable_tokens()->Add(r.tokens.begin(), r.tokens.end());
  s->set_max_new_tokens(r.remaining());
  *s->mutable_sampling() = r.sampling;
  s->set_stop_at_eos(r.stop_at_eos);

  InflightEntry e;
  e.request = r.key;
  e.group = g.id;
  e.epoch = g.epoch;
  e.prompt_pending = s->tokens_size();
  e.remaining = r.remaining();
  inflight_.Add(seq, e);
  ++g.running;
  g.outstanding += e.outstanding();
  r.state = Request::State::kRunning;
  r.seq = seq;
  r.group_name = g.name;
  if (r.started == SteadyTime{}) r.started = now;
  VLOG(1) << "request " << r.id << ": seq " << seq << " on group " << g.name << " (" << s->tokens_size()
          << " tokens, " << r.remaining() << " to generate)";
  SendToGroup(g, out_, now);
}

void CoordinatorCore::Requeue(Request& r, SteadyTime now) {
  r.state = Request::State::kQueued;
  r.cancel_requested = false;
  queue_.PushFront(r.key, now);
}

void CoordinatorCore::Settle(SteadyTime now) {
  if (!shutting_down_) {
    // Before Dispatch: a drain that ends here may requeue continuations.
    AdvanceChanges(now);
    Dispatch(now);
  }
  retired_.clear();
}

void CoordinatorCore::Tick(SteadyTime now, SteadyTime heard_until) {
  if (shutting_down_) return;
  for (uint64_t id : groups_.LiveIds()) {
    Group* g = groups_.Find(id);
    if (g != nullptr && g->state != proto::GROUP_DEAD && heard_until - g->last_heard >= heartbeat_timeout_) {
      MarkDead(*g,
               absl::StrCat("no message for ", static_cast<int64_t>(Ms(heard_until - g->last_heard)), " ms (timeout ",
                            absl::ToInt64Milliseconds(options_.heartbeat_timeout), " ms)"),
               now);
    }
  }
  for (uint64_t key : queue_.Expired(now, queue_timeout_)) {
    Request* r = FindRequest(key);
    if (r == nullptr) continue;
    queue_.Remove(key);
    FinishError(*r, proto::ERROR_UNAVAILABLE,
                absl::StrCat("no replica group took the request within ",
                             absl::ToInt64Milliseconds(options_.queue_timeout), " ms (", groups_.ReadyCount(),
                             " groups ready); retry later with the same request id"));
  }
  // Dead groups stay listed for status a while; their number is bounded.
  groups_.PruneDead(32);
  Settle(now);
}

void CoordinatorCore::Shutdown(std::string_view reason, SteadyTime now) {
  if (shutting_down_) return;
  shutting_down_ = true;
  out_.Clear();
  out_.set_version(proto::PROTOCOL_VERSION_1);
  out_.mutable_shutdown()->set_reason(std::string(reason));
  for (uint64_t id : groups_.LiveIds()) {
    Group* g = groups_.Find(id);
    if (outbox_.ToGroup(g->identity, out_) != SendOutcome::kSent) {
      LOG(WARNING) << "group " << g->name << ": could not send Shutdown (gone)";
    }
  }
  std::vector<uint64_t> keys;
  for (const auto& [key, r] : requests_) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (uint64_t key : keys) {
    Request* r = FindRequest(key);
    queue_.Remove(key);
    if (r->state == Request::State::kRunning) inflight_.Remove(r->seq);
    FinishError(*r, proto::ERROR_UNAVAILABLE, reason);
  }
  retired_.clear();
  LOG(INFO) << "shut down: " << keys.size() << " waiting or running requests answered UNAVAILABLE";
}

proto::ClusterStatus CoordinatorCore::Status(SteadyTime now) const {
  proto::ClusterStatus s;
  s.set_model(model_name_);
  for (const auto& [id, g] : groups_.groups()) {
    proto::GroupStatus* gs = s.add_groups();
    gs->set_id(g->id);
    gs->set_name(g->name);
    gs->set_state(g->state);
    gs->set_epoch(g->epoch);
    gs->set_tp(g->tp);
    gs->set_pp(g->pp);
    gs->set_running(g->running);
    gs->set_outstanding_tokens(g->outstanding);
    gs->set_kv_blocks_total(g->kv_blocks);
    gs->set_kv_blocks_free(g->kv_blocks_free);
    gs->set_max_sequences(g->max_sequences);
    gs->set_heartbeat_age_s(std::chrono::duration<double>(now - g->last_heard).count());
    gs->set_completed(g->completed);
    gs->set_preemptions(g->preemptions);
    *gs->mutable_plan() = g->plan;
    gs->mutable_stages()->Add(g->stages.begin(), g->stages.end());
    gs->mutable_ranks()->Add(g->ranks.begin(), g->ranks.end());
    gs->set_admin_drained(g->admin_drained);
    gs->set_plan_generation(g->plan_generation);
    gs->set_rebalances_finished(g->rebalances_finished);
    gs->set_last_rebalance(RebalanceText(*g, now));
  }
  s.set_queue_depth(static_cast<int32_t>(queue_.size()));
  s.set_queue_limit(static_cast<int32_t>(queue_.limit()));
  s.set_in_flight(static_cast<int32_t>(inflight_.size()));
  s.set_accepted(accepted_);
  s.set_completed(completed_);
  s.set_rejected_busy(rejected_busy_);
  s.set_failed(failed_);
  s.set_cancelled(cancelled_);
  s.set_uptime_s(std::chrono::duration<double>(now - started_at_).count());
  return s;
}

}  // namespace tessera
