#include "bench/load/level_runner.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "auth/key_files.h"
#include "client/lib/client.h"
#include "glog/logging.h"

namespace tessera::bench {
namespace {

std::string CodeName(proto::ErrorCode code) {
  return std::string(absl::StripPrefix(proto::ErrorCode_Name(code), "ERROR_"));
}

std::string ReasonName(proto::FinishReason reason) {
  return std::string(absl::StripPrefix(proto::FinishReason_Name(reason), "FINISH_"));
}

proto::GenerateRequest MakeRequest(const BenchOptions& o, const WorkloadRequest& w, const std::string& id) {
  proto::GenerateRequest r;
  r.set_request_id(id);
  r.mutable_prompt_tokens()->Add(w.prompt_tokens.begin(), w.prompt_tokens.end());
  r.set_max_tokens(w.max_tokens);
  r.set_stream(true);
  r.set_ignore_eos(o.ignore_eos);
  proto::SamplingOptions* s = r.mutable_sampling();
  s->set_temperature(o.temperature);
  s->set_top_k(o.top_k);
  s->set_top_p(o.top_p);
  s->set_seed(w.sampling_seed);
  return r;
}

// One socket's share: the workload indices it sends, in order, at most `cap`
// in flight. Writes only its own records' entries.
class Connection {
 public:
  Connection(const BenchOptions& o, const Workload& w, std::vector<int> indices, int cap,
             BenchClock::time_point origin, std::vector<RequestRecord>& records)
      : o_(o), w_(w), pending_(indices.begin(), indices.end()), cap_(cap), origin_(origin), records_(records) {}

  // Connects and waits for one status answer, so the first request's TTFT
  // holds no connection setup.
  absl::Status Open() {
    ClientOptions copts;
    copts.endpoint = o_.coordinator;
    copts.reply_timeout = absl::Seconds(o_.connect_timeout_s);
    copts.max_attempts = 1;
    auto keys = auth::LoadClientKeys(o_.server_key, o_.key);
    if (!keys.ok()) return keys.status();
    copts.curve = *std::move(keys);
    auto client = Client::Connect(copts);
    if (!client.ok()) return client.status();
    client_ = *std::move(client);
    return client_->Status().status();
  }

  absl::Status Run() {
    last_event_ = Now();
    while (!pending_.empty() || !in_flight_.empty()) {
      SubmitDue();
      if (pending_.empty() && in_flight_.empty()) break;
      // Wake for the next arrival when a slot is free; else for replies (the
      // silence check runs at least once a second).
      double wait = 1.0;
      if (!pending_.empty() && static_cast<int>(in_flight_.size()) < cap_ && !w_.arrivals.empty()) {
        wait = std::clamp(w_.arrivals[pending_.front()] - Now(), 0.0, wait);
      }
      auto reply = client_->Next(absl::Seconds(wait));
      if (absl::IsDataLoss(reply.status())) {  // one garbled frame: the socket still works
        LOG(WARNING) << reply.status().message();
        continue;
      }
      if (!reply.ok()) {
        FailInFlight("CLIENT", std::string(reply.status().message()));
        return reply.status();
      }
      const double now = Now();
      if (!reply->has_value()) {
        if (!in_flight_.empty() && now - last_event_ > o_.timeout_s) {
          // A coordinator silent this long is stuck or gone: waiting the
          // same again for each remaining request would only stretch the run.
          FailInFlight("TIMEOUT", absl::StrCat("no reply for ", o_.timeout_s, " s"));
          FailPending("NOT_SENT", "not sent: the coordinator went silent (TIMEOUT)");
        }
        continue;
      }
      last_event_ = now;
      Handle(**reply, now);
    }
    return absl::OkStatus();
  }

 private:
  double Now() const { return std::chrono::duration<double>(BenchClock::now() - origin_).count(); }

  void SubmitDue() {
    while (!pending_.empty() && static_cast<int>(in_flight_.size()) < cap_) {
      const int i = pending_.front();
      const bool open_loop = !w_.arrivals.empty();
      if (open_loop && w_.arrivals[i] > Now()) return;
      pending_.pop_front();
      RequestRecord& r = records_[i];
      r.request_id = NewRequestId();
      r.prompt_len = static_cast<int>(w_.requests[i].prompt_tokens.size());
      r.max_tokens = w_.requests[i].max_tokens;
      const proto::GenerateRequest request = MakeRequest(o_, w_.requests[i], r.request_id);
      r.submit = Now();
      r.due = open_loop ? w_.arrivals[i] : r.submit;
      if (absl::Status st = client_->Submit(request); !st.ok()) {
        r.finish = Now();
        r.error = "SEND";
        r.error_message = std::string(st.message());
        continue;
      }
      in_flight_.emplace(r.request_id, i);
      last_event_ = r.submit;
    }
  }

  void Handle(const proto::ClientReply& reply, double now) {
    auto it = in_flight_.find(reply.request_id());
    if (it == in_flight_.end()) {
      if (reply.has_error()) {
        LOG(WARNING) << "error answer for no request of ours (" << reply.request_id()
                     << "): " << reply.error().message();
      }
      return;  // a late answer to a request already timed out
    }
    RequestRecord& r = records_[it->second];
    if (reply.has_chunk()) {
      r.chunks.push_back({now, reply.chunk().tokens_size()});
      return;
    }
    if (reply.has_result()) {
      const proto::GenerateResult& res = reply.result();
      r.finish = now;
      r.ok = true;
      r.finish_reason = ReasonName(res.finish_reason());
      r.prompt_tokens = res.usage().prompt_tokens();
      r.completion_tokens = std::max(res.usage().completion_tokens(), res.tokens_size());
      r.group = res.group();
      r.from_record = res.from_record();
      r.has_server_timings = res.has_timings();
      r.server_queue_ms = res.timings().queue_ms();
      r.server_ttft_ms = res.timings().ttft_ms();
      r.server_tpot_ms = res.timings().tpot_ms();
      r.server_total_ms = res.timings().total_ms();
    } else if (reply.has_error()) {
      r.finish = now;
      r.error = CodeName(reply.error().code());
      r.error_message = reply.error().message();
    } else {
      return;  // nothing that ends a generate request
    }
    in_flight_.erase(it);
  }

  void FailInFlight(const std::string& code, const std::string& message) {
    const double now = Now();
    for (const auto& [id, i] : in_flight_) {
      records_[i].finish = now;
      records_[i].error = code;
      records_[i].error_message = message;
    }
    in_flight_.clear();
  }

  void FailPending(const std::string& code, const std::string& message) {
    const double now = Now();
    for (int i : pending_) {
      RequestRecord& r = records_[i];
      r.due = r.submit = r.finish = now;
      r.error = code;
      r.error_message = message;
    }
    pending_.clear();
  }

  const BenchOptions& o_;
  const Workload& w_;
  std::deque<int> pending_;
  const int cap_;
  const BenchClock::time_point origin_;
  std::vector<RequestRecord>& records_;
  std::unique_ptr<Client> client_;
  std::unordered_map<std::string, int> in_flight_;
  double last_event_ = 0;  // the last submit or reply
};

}  // namespace

absl::StatusOr<std::vector<RequestRecord>> RunLevel(const BenchOptions& o, int concurrency, const Workload& w,
                                                    BenchClock::time_point origin) {
  const int n = static_cast<int>(w.requests.size());
  std::vector<RequestRecord> records(n);
  const int sockets = std::max(1, std::min({o.connections, concurrency, n}));
  std::vector<std::unique_ptr<Connection>> connections;
  for (int c = 0; c < sockets; ++c) {
    std::vector<int> indices;
    for (int i = c; i < n; i += sockets) indices.push_back(i);
    const int cap = concurrency / sockets + (c < concurrency % sockets ? 1 : 0);
    connections.push_back(std::make_unique<Connection>(o, w, std::move(indices), cap, origin, records));
  }
  for (auto& connection : connections) {
    if (absl::Status st = connection->Open(); !st.ok()) return st;
  }
  std::vector<absl::Status> results(sockets);
  std::vector<std::thread> threads;
  for (int c = 0; c < sockets; ++c) {
    threads.emplace_back([&, c] { results[c] = connections[c]->Run(); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& st : results) {
    if (!st.ok()) return st;
  }
  return records;
}

}  // namespace tessera::bench
