#include "client/lib/batch.h"

#include <algorithm>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

constexpr absl::Duration kTick = absl::Milliseconds(100);

bool Retriable(proto::ErrorCode code) { return code == proto::ERROR_BUSY || code == proto::ERROR_UNAVAILABLE; }

class BatchRun {
 public:
  BatchRun(Client& client, const std::vector<proto::GenerateRequest>& requests, const BatchOptions& options,
           const std::function<void(size_t, BatchOutcome)>& on_done,
           const std::function<void(const BatchStats&)>& on_tick)
      : client_(client),
        requests_(requests),
        options_(options),
        on_done_(on_done),
        on_tick_(on_tick),
        attempts_(requests.size(), 0),
        busy_tries_(requests.size(), 0),
        first_send_(requests.size(), absl::InfinitePast()) {
    stats_.total = static_cast<int64_t>(requests.size());
  }

  absl::Status Run();

 private:
  struct Out {
    size_t index;
    int64_t seen_tokens = 0;  // the furthest token index + 1 seen in its chunks
  };
  struct Retry {
    absl::Time due;
    size_t index;
    bool operator>(const Retry& other) const { return due > other.due; }
  };

  bool Interrupted() const { return options_.interrupted && options_.interrupted(); }
  absl::Status Send(size_t index);
  void Handle(proto::ClientReply& reply, absl::Time now);
  void End(size_t index, absl::StatusOr<proto::GenerateResult> result, absl::Time now);
  void Stop(absl::Time now);
  void FailAll(const absl::Status& status, absl::Time now);
  void Tick(bool force);

  Client& client_;
  const std::vector<proto::GenerateRequest>& requests_;
  const BatchOptions& options_;
  const std::function<void(size_t, BatchOutcome)>& on_done_;
  const std::function<void(const BatchStats&)>& on_tick_;

  std::vector<int> attempts_;
  std::vector<int> busy_tries_;
  std::vector<absl::Time> first_send_;
  std::unordered_map<std::string, Out> out_;  // sent, not ended; by request id
  std::priority_queue<Retry, std::vector<Retry>, std::greater<Retry>> retries_;
  size_t next_ = 0;  // the first request never sent
  size_t ended_ = 0;
  bool stopping_ = false;
  BatchStats stats_;
  absl::Time last_tick_ = absl::InfinitePast();
};

absl::Status BatchRun::Send(size_t index) {
  const proto::GenerateRequest& request = requests_[index];
  if (attempts_[index]++ == 0) first_send_[index] = absl::Now();
  out_.try_emplace(request.request_id(), Out{index});
  return client_.Submit(request);
}

void BatchRun::End(size_t index, absl::StatusOr<proto::GenerateResult> result, absl::Time now) {
  BatchOutcome outcome;
  if (result.ok()) {
    ++stats_.ok;
    const int completion = result->usage().completion_tokens();
    stats_.output_tokens += completion > 0 ? completion : result->tokens_size();
  } else {
    ++stats_.failed;
  }
  outcome.result = std::move(result);
  outcome.attempts = attempts_[index];
  if (first_send_[index] != absl::InfinitePast()) outcome.latency = now - first_send_[index];
  ++ended_;
  if (on_done_) on_done_(index, std::move(outcome));
  Tick(/*force=*/true);
}

void BatchRun::Handle(proto::ClientReply& reply, absl::Time now) {
  auto it = out_.find(reply.request_id());
  if (it == out_.end()) return;  // a second answer after a resend, or not ours
  Out& out = it->second;
  const size_t index = out.index;
  switch (reply.kind_case()) {
    case proto::ClientReply::kChunk: {
      const int64_t end = int64_t{reply.chunk().index()} + reply.chunk().tokens_size();
      if (end > out.seen_tokens) {
        stats_.streamed_tokens += end - out.seen_tokens;
        out.seen_tokens = end;
      }
      return;
    }
    case proto::ClientReply::kResult:
      stats_.streamed_tokens += std::max<int64_t>(0, reply.result().tokens_size() - out.seen_tokens);
      out_.erase(it);
      End(index, std::move(*reply.mutable_result()), now);
      return;
    case proto::ClientReply::kError: {
      out_.erase(it);
      const absl::Status status = ErrorToStatus(reply.error());
      if (!Retriable(reply.error().code())) {
        End(index, status, now);
        return;
      }
      if (stopping_) {
        End(index, absl::CancelledError(absl::StrCat("interrupted; the last try was answered: ", std::string(status.message()))), now);
        return;
      }
      if (++busy_tries_[index] >= options_.max_attempts) {
        End(index,
            absl::Status(status.code(), absl::StrCat(absl::IsResourceExhausted(status) ? "busy" : "unavailable",
                                                     " after ", busy_tries_[index], " tries: ",
                                                     std::string(status.message()))),
            now);
        return;
      }
      ++stats_.busy_retries;
      const absl::Duration backoff =
          std::min(options_.max_backoff, options_.retry_backoff * (int64_t{1} << std::min(busy_tries_[index] - 1, 20)));
      retries_.push({now + backoff, index});
      return;
    }
    default:
      return;
  }
}

// Ctrl-C: nothing new goes out; what is out is cancelled and still ends
// through its own answer.
void BatchRun::Stop(absl::Time now) {
  stopping_ = true;
  for (; next_ < requests_.size(); ++next_) End(next_, absl::CancelledError("interrupted before it was sent"), now);
  while (!retries_.empty()) {
    End(retries_.top().index, absl::CancelledError("interrupted while waiting to retry"), now);
    retries_.pop();
  }
  std::vector<std::string> ids;
  for (const auto& [id, out] : out_) ids.push_back(id);
  for (const std::string& id : ids) {
    // A coordinator that does not answer one cancel will not answer the rest.
    if (absl::IsDeadlineExceeded(client_.Cancel(id))) break;
  }
}

void BatchRun::FailAll(const absl::Status& status, absl::Time now) {
  std::vector<size_t> open;
  for (const auto& [id, out] : out_) open.push_back(out.index);
  out_.clear();
  std::sort(open.begin(), open.end());
  for (size_t index : open) End(index, status, now);
  while (!retries_.empty()) {
    End(retries_.top().index, status, now);
    retries_.pop();
  }
  for (; next_ < requests_.size(); ++next_) End(next_, status, now);
}

void BatchRun::Tick(bool force) {
  const absl::Time now = absl::Now();
  if (!on_tick_ || (!force && now - last_tick_ < kTick)) return;
  last_tick_ = now;
  on_tick_(stats_);
}

absl::Status BatchRun::Run() {
  const size_t window = static_cast<size_t>(std::max(1, options_.concurrency));
  absl::Time last_heard = absl::Now();
  int silences = 0;
  while (ended_ < requests_.size()) {
    absl::Time now = absl::Now();
    if (!stopping_ && Interrupted()) {
      Stop(now);
      last_heard = absl::Now();
      continue;
    }
    if (!stopping_) {
      absl::Status sent = absl::OkStatus();
      while (sent.ok() && !retries_.empty() && retries_.top().due <= now && out_.size() < window) {
        const size_t index = retries_.top().index;
        retries_.pop();
        sent = Send(index);
      }
      while (sent.ok() && next_ < requests_.size() && out_.size() + retries_.size() < window) sent = Send(next_++);
      if (!sent.ok()) {
        FailAll(sent, now);
        return sent;
      }
    }
    absl::Duration wait = kTick;
    if (!retries_.empty()) wait = std::clamp(retries_.top().due - now, absl::ZeroDuration(), wait);
    auto reply = client_.Next(wait);
    now = absl::Now();
    if (!reply.ok()) {
      if (!absl::IsDataLoss(reply.status())) {
        FailAll(reply.status(), now);
        return reply.status();
      }
      ++stats_.garbage_frames;  // skipped: it names no request we could end
    } else if (reply->has_value()) {
      last_heard = now;
      silences = 0;
      Handle(**reply, now);
    }
    if (out_.empty()) {
      last_heard = now;  // silence counts only while something is out
    } else if (now - last_heard >= options_.reply_timeout) {
      last_heard = now;
      if (stopping_ || ++silences > options_.max_silences) {
        std::vector<size_t> open;
        for (const auto& [id, out] : out_) open.push_back(out.index);
        out_.clear();
        std::sort(open.begin(), open.end());
        for (size_t index : open) {
          End(index,
              absl::DeadlineExceededError(absl::StrCat("no answer after ", attempts_[index], " tries of ",
                                                       absl::FormatDuration(options_.reply_timeout))),
              now);
        }
      } else {
        std::vector<size_t> open;
        for (const auto& [id, out] : out_) open.push_back(out.index);
        for (size_t index : open) {
          ++stats_.resends;
          if (absl::Status sent = Send(index); !sent.ok()) {
            FailAll(sent, now);
            return sent;
          }
        }
      }
    }
    Tick(/*force=*/false);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunBatch(Client& client, const std::vector<proto::GenerateRequest>& requests,
                      const BatchOptions& options,
                      const std::function<void(size_t index, BatchOutcome outcome)>& on_done,
                      const std::function<void(const BatchStats& stats)>& on_tick) {
  BatchRun run(client, requests, options, on_done, on_tick);
  return run.Run();
}

}  // namespace tessera
