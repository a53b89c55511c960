#include "client/lib/client.h"

#include <algorithm>
#include <deque>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lib/channel.h"
#include "client/lib/chunk_dedupe.h"
#include "zmq.hpp"

namespace tessera {
namespace {

using client_internal::Channel;
using client_internal::ChunkDedupe;

// How often a wait looks at ClientOptions::interrupted.
constexpr absl::Duration kInterruptSlice = absl::Milliseconds(50);

bool Retriable(proto::ErrorCode code) { return code == proto::ERROR_BUSY || code == proto::ERROR_UNAVAILABLE; }

// How one try of a Generate ended.
struct TryOutcome {
  enum Kind { kDone, kRetry, kSilent } kind = kDone;
  absl::StatusOr<proto::GenerateResult> done = absl::InternalError("unset");
  absl::Status retry;  // the retriable error (kRetry)
};

class ClientImpl final : public Client {
 public:
  explicit ClientImpl(ClientOptions options) : options_(std::move(options)) {}

  absl::Status Init() {
    if (options_.endpoint.empty()) return absl::InvalidArgumentError("no coordinator endpoint given");
    if (options_.reply_timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("reply_timeout must be positive");
    }
    if (auto st = auth::CheckClientKeys(options_.curve); !st.ok()) return st;
    try {
      context_ = std::make_unique<zmq::context_t>(1);
    } catch (const zmq::error_t& e) {
      return absl::InternalError(absl::StrCat("cannot start ZeroMQ: ", e.what()));
    }
    return Reconnect();
  }

  absl::StatusOr<proto::GenerateResult> Generate(proto::GenerateRequest request,
                                                 const std::function<void(const proto::TokenChunk&)>& on_chunk) override;
  absl::Status Cancel(const std::string& request_id) override;
  absl::StatusOr<proto::ClusterStatus> Status() override;
  absl::Status Submit(const proto::GenerateRequest& request) override;
  absl::StatusOr<std::optional<proto::ClientReply>> Next(absl::Duration timeout) override;

 private:
  std::string Where() const { return absl::StrCat("coordinator ", options_.endpoint); }
  bool Interrupted() const { return options_.interrupted && options_.interrupted(); }

  // A new socket, so the coordinator sees a new identity. With
  // `keep_previous` the old one stays open (never read) until the retry on
  // the new one is answered: a coordinator cancels a request whose client
  // vanished, and closing first would let it see the old identity go before
  // the retry arrives.
  absl::Status Reconnect(bool keep_previous = false) {
    previous_ = keep_previous ? std::move(channel_) : nullptr;
    channel_.reset();
    auto channel = Channel::Open(*context_, options_.endpoint, options_.reply_timeout, options_.curve);
    if (!channel.ok()) return channel.status();
    channel_ = *std::move(channel);
    return absl::OkStatus();
  }

  absl::Status SendRequest(proto::ClientRequest request) {
    request.set_version(proto::PROTOCOL_VERSION_1);
    return channel_->Send(request);
  }
  absl::Status SendCancel(const std::string& request_id) {
    proto::ClientRequest request;
    request.mutable_cancel()->set_request_id(request_id);
    return SendRequest(std::move(request));
  }

  // Waits no longer than `timeout`, and in short slices when an interrupt
  // hook is set so the caller notices it.
  absl::StatusOr<std::optional<proto::ClientReply>> Receive(absl::Duration timeout) {
    return channel_->Receive(options_.interrupted ? std::min(timeout, kInterruptSlice) : timeout);
  }

  // False when interrupted before `d` passed.
  bool SleepUnlessInterrupted(absl::Duration d) {
    const absl::Time end = absl::Now() + d;
    for (absl::Duration left = d; left > absl::ZeroDuration(); left = end - absl::Now()) {
      if (Interrupted()) return false;
      absl::SleepFor(options_.interrupted ? std::min(left, kInterruptSlice) : left);
    }
    return !Interrupted();
  }

  // Keeps a reply for Next() when it belongs to a request submitted there;
  // anything else (a stale answer) is dropped.
  void Stash(proto::ClientReply reply) {
    if (submitted_.count(reply.request_id()) != 0) pending_.push_back(std::move(reply));
  }
  void NoteDelivered(const proto::ClientReply& reply) {
    if (reply.has_result() || reply.has_error()) submitted_.erase(reply.request_id());
  }

  TryOutcome AwaitGenerate(const std::string& id, ChunkDedupe& dedupe,
                           const std::function<void(const proto::TokenChunk&)>& on_chunk);

  ClientOptions options_;
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<Channel> channel_;           // destroyed before the context
  std::unique_ptr<Channel> previous_;          // the socket of a silent try, until its retry is answered
  std::deque<proto::ClientReply> pending_;     // for Next(), in arrival order
  std::unordered_set<std::string> submitted_;  // ids Submit()ted and not yet ended through Next()
};

TryOutcome ClientImpl::AwaitGenerate(const std::string& id, ChunkDedupe& dedupe,
                                     const std::function<void(const proto::TokenChunk&)>& on_chunk) {
  TryOutcome out;
  bool cancel_sent = false;
  absl::Time deadline = absl::Now() + options_.reply_timeout;
  while (true) {
    if (!cancel_sent && Interrupted()) {
      cancel_sent = true;
      (void)SendCancel(id);  // best effort: on failure the grace runs out below
      deadline = absl::Now() + options_.cancel_grace;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      if (!cancel_sent) {
        out.kind = TryOutcome::kSilent;
        return out;
      }
      out.done = absl::CancelledError(
          absl::StrCat("interrupted; ", Where(), " did not confirm the cancel of request ", id));
      return out;
    }
    auto received = Receive(left);
    if (!received.ok()) {
      out.done = received.status();
      return out;
    }
    if (!received->has_value()) continue;
    proto::ClientReply& reply = **received;
    // An error too broken to name its request can only answer this one: a
    // blocking client has nothing else outstanding.
    const bool ours = reply.request_id() == id || (reply.request_id().empty() && reply.has_error());
    if (!ours) {
      Stash(std::move(reply));
      continue;
    }
    previous_.reset();  // the coordinator now answers the new socket
    deadline = absl::Now() + (cancel_sent ? options_.cancel_grace : options_.reply_timeout);
    switch (reply.kind_case()) {
      case proto::ClientReply::kChunk:
        if (auto fresh = dedupe.Fresh(reply.chunk()); fresh.has_value() && on_chunk) on_chunk(*fresh);
        break;
      case proto::ClientReply::kResult:
        out.done = std::move(*reply.mutable_result());
        return out;
      case proto::ClientReply::kError: {
        const proto::ErrorCode code = reply.error().code();
        if (cancel_sent && code == proto::ERROR_NOT_FOUND) break;  // the cancel's answer; the request may still end
        if (!cancel_sent && Retriable(code)) {
          out.kind = TryOutcome::kRetry;
          out.retry = ErrorToStatus(reply.error());
          return out;
        }
        out.done = ErrorToStatus(reply.error());
        return out;
      }
      default:
        break;  // CancelReply to our cancel; nothing else is addressed to a request
    }
  }
}

absl::StatusOr<proto::GenerateResult> ClientImpl::Generate(
    proto::GenerateRequest request, const std::function<void(const proto::TokenChunk&)>& on_chunk) {
  if (request.request_id().empty()) request.set_request_id(NewRequestId());
  const std::string id = request.request_id();
  proto::ClientRequest message;
  *message.mutable_generate() = std::move(request);
  ChunkDedupe dedupe;
  struct DropPrevious {
    std::unique_ptr<Channel>& previous;
    ~DropPrevious() { previous.reset(); }
  } drop_previous{previous_};
  absl::Duration backoff = options_.retry_backoff;
  absl::Status last;
  bool last_silent = false;
  const int attempts = std::max(1, options_.max_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) {
      if (!SleepUnlessInterrupted(backoff)) {
        (void)SendCancel(id);  // a silent coordinator may still hold it
        return absl::CancelledError(absl::StrCat("interrupted before request ", id, " was answered"));
      }
      backoff *= 2;
    }
    if (auto st = SendRequest(message); !st.ok()) return st;
    TryOutcome outcome = AwaitGenerate(id, dedupe, on_chunk);
    switch (outcome.kind) {
      case TryOutcome::kDone:
        return std::move(outcome.done);
      case TryOutcome::kRetry:
        last = outcome.retry;
        last_silent = false;
        break;
      case TryOutcome::kSilent:
        last_silent = true;
        // A stale answer to the lost try must not reach the next one.
        if (auto st = Reconnect(/*keep_previous=*/true); !st.ok()) return st;
        break;
    }
  }
  if (last_silent) {
    return absl::DeadlineExceededError(absl::StrCat(Where(), ": no answer after ", attempts, " tries of ",
                                                    absl::FormatDuration(options_.reply_timeout),
                                                    " (is tessera-coordinator running?)"));
  }
  const char* what = absl::IsResourceExhausted(last) ? "busy" : "unavailable";
  return absl::Status(last.code(), absl::StrCat(Where(), ": ", what, " after ", attempts, " tries: ",
                                                std::string(last.message())));
}

absl::Status ClientImpl::Cancel(const std::string& request_id) {
  if (request_id.empty()) return absl::InvalidArgumentError("Cancel needs a request id");
  if (auto st = SendCancel(request_id); !st.ok()) return st;
  const absl::Time deadline = absl::Now() + options_.reply_timeout;
  for (absl::Duration left = options_.reply_timeout; left > absl::ZeroDuration(); left = deadline - absl::Now()) {
    auto received = channel_->Receive(left);
    if (!received.ok()) return received.status();
    if (!received->has_value()) continue;
    proto::ClientReply& reply = **received;
    if (reply.request_id() == request_id) {
      if (reply.has_cancelled()) return absl::OkStatus();
      if (reply.has_error()) {
        if (reply.error().code() == proto::ERROR_NOT_FOUND) return ErrorToStatus(reply.error());
        // The end of a request submitted here, not the cancel's answer.
        if (submitted_.count(request_id) != 0) {
          Stash(std::move(reply));
          continue;
        }
        return ErrorToStatus(reply.error());
      }
    } else if (reply.request_id().empty() && reply.has_error()) {
      return ErrorToStatus(reply.error());
    }
    Stash(std::move(reply));
  }
  return absl::DeadlineExceededError(absl::StrCat(Where(), ": no answer to the cancel of ", request_id, " within ",
                                                  absl::FormatDuration(options_.reply_timeout)));
}

absl::StatusOr<proto::ClusterStatus> ClientImpl::Status() {
  const int attempts = std::max(1, options_.max_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    proto::ClientRequest request;
    request.mutable_status();
    if (auto st = SendRequest(std::move(request)); !st.ok()) return st;
    const absl::Time deadline = absl::Now() + options_.reply_timeout;
    for (absl::Duration left = options_.reply_timeout; left > absl::ZeroDuration(); left = deadline - absl::Now()) {
      auto received = channel_->Receive(left);
      if (!received.ok()) return received.status();
      if (!received->has_value()) continue;
      proto::ClientReply& reply = **received;
      if (reply.has_status()) return std::move(*reply.mutable_status());
      if (reply.request_id().empty() && reply.has_error()) return ErrorToStatus(reply.error());
      Stash(std::move(reply));
    }
    // Replacing the socket would lose the replies of submitted requests.
    if (submitted_.empty()) {
      if (auto st = Reconnect(); !st.ok()) return st;
    }
  }
  return absl::DeadlineExceededError(absl::StrCat(Where(), ": no answer after ", attempts, " tries of ",
                                                  absl::FormatDuration(options_.reply_timeout),
                                                  " (is tessera-coordinator running?)"));
}

absl::Status ClientImpl::Submit(const proto::GenerateRequest& request) {
  if (request.request_id().empty()) return absl::InvalidArgumentError("Submit needs a request id");
  proto::ClientRequest message;
  *message.mutable_generate() = request;
  if (auto st = SendRequest(std::move(message)); !st.ok()) return st;
  submitted_.insert(request.request_id());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<proto::ClientReply>> ClientImpl::Next(absl::Duration timeout) {
  if (!pending_.empty()) {
    proto::ClientReply reply = std::move(pending_.front());
    pending_.pop_front();
    NoteDelivered(reply);
    return std::optional<proto::ClientReply>(std::move(reply));
  }
  auto received = channel_->Receive(timeout);
  if (received.ok() && received->has_value()) NoteDelivered(**received);
  return received;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  auto client = std::make_unique<ClientImpl>(options);
  if (auto st = client->Init(); !st.ok()) return st;
  return std::unique_ptr<Client>(std::move(client));
}

}  // namespace tessera
