// CoordinatorCore, repeated request ids: the same request again (its
// fingerprint matches) follows the running one or is answered from the
// record; a different request under a known id is refused.
#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator_core.h"
#include "coordinator/frames.h"
#include "glog/logging.h"

namespace tessera {

void CoordinatorCore::HandleRepeat(const Peer& from, const proto::GenerateRequest& g, Request* live,
                                   const RecordEntry* record, SteadyTime now) {
  const std::string& id = g.request_id();
  const uint64_t expected = live != nullptr ? live->fingerprint : record->fingerprint;
  // The KV cache is not checked again: the cluster may have changed since
  // the request was accepted, and the request is not admitted anew.
  absl::StatusOr<ValidatedRequest> v = ValidateGenerateRequest(g, tokenizer_, Limits(/*with_kv=*/false));
  if (!v.ok() || RequestFingerprint(*v) != expected) {
    const std::string why =
        v.ok() ? "it has another prompt, sampling, max_tokens or ignore_eos"
               : absl::StrCat("it is not even valid: ", std::string(v.status().message()));
    VLOG(1) << "request " << id << ": id reused for a different request (" << why << ")";
    MakeErrorReply(id, proto::ERROR_INVALID_ARGUMENT,
                   absl::StrCat("request id '", id, "' was already used for a different request (", why,
                                "); give each request its own id"),
                   reply_);
    Reply(from, reply_);
    return;
  }
  if (live != nullptr) {
    Repoint(*live, from, g.stream(), now);
    return;
  }
  VLOG(1) << "request " << id << ": answered from the record";
  AnswerFromRecord(from, record->reply, g.stream());
}

void CoordinatorCore::Repoint(Request& r, const Peer& from, bool stream, SteadyTime now) {
  VLOG(1) << "request " << r.id << ": repeated while " << (r.state == Request::State::kQueued ? "queued" : "running")
          << "; answers go to client " << PeerName(from.identity);
  r.owner = std::string(from.identity);
  r.owner_delimiter = from.delimiter;
  r.owner_gone = false;
  r.stream = stream;
  if (stream && !r.tokens.empty()) SendChunk(r, 0, r.tokens.size(), r.text, now);
}

void CoordinatorCore::AnswerFromRecord(const Peer& from, const proto::ClientReply& record, bool stream) {
  // The tokens as one chunk first, as a live stream would have sent them
  // (none for a result without tokens: a chunk is never empty).
  if (record.has_result() && stream && record.result().tokens_size() > 0) {
    reply_.Clear();
    reply_.set_version(proto::PROTOCOL_VERSION_1);
    reply_.set_request_id(record.request_id());
    proto::TokenChunk* chunk = reply_.mutable_chunk();
    chunk->set_index(0);
    *chunk->mutable_tokens() = record.result().tokens();
    chunk->set_text(record.result().text());
    if (Reply(from, reply_) != SendOutcome::kSent) return;
  }
  reply_ = record;
  if (reply_.has_result()) reply_.mutable_result()->set_from_record(true);
  Reply(from, reply_);
}

}  // namespace tessera
