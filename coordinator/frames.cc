#include "coordinator/frames.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tessera {

bool SplitClientFrames(std::span<const std::string_view> frames, ClientEnvelope& out, std::string& error) {
  out = ClientEnvelope{};
  if (frames.empty()) {
    error = "empty message";
    return false;
  }
  out.identity = frames[0];
  if (frames.size() >= 3) out.delimiter = frames[1].empty();
  if (frames.size() == 2) {
    out.payload = frames[1];
    return true;
  }
  if (frames.size() == 3 && frames[1].empty()) {
    out.payload = frames[2];
    return true;
  }
  error = frames.size() == 1
              ? std::string("a message with no payload frame")
              : absl::StrCat("a message of ", frames.size() - 1,
                             " frames (expected one payload frame, after an empty delimiter for REQ sockets)");
  return false;
}

proto::ErrorCode ParseClientRequest(std::string_view payload, proto::ClientRequest& out, std::string& error) {
  out.Clear();
  if (!out.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    error = absl::StrCat("the payload (", payload.size(), " bytes) is not a ClientRequest protobuf");
    return proto::ERROR_MALFORMED;
  }
  if (out.version() == 0 && out.kind_case() == proto::ClientRequest::KIND_NOT_SET) {
    error = "an empty ClientRequest (no version, no request)";
    return proto::ERROR_MALFORMED;
  }
  if (out.version() != proto::PROTOCOL_VERSION_1) {
    error = absl::StrCat("protocol version ", out.version(), " is not supported (this coordinator speaks ",
                         static_cast<int>(proto::PROTOCOL_VERSION_1), ")");
    return proto::ERROR_UNSUPPORTED_VERSION;
  }
  if (out.kind_case() == proto::ClientRequest::KIND_NOT_SET) {
    error = "the ClientRequest holds no request (set generate, cancel or status)";
    return proto::ERROR_MALFORMED;
  }
  return proto::ERROR_UNSPECIFIED;
}

proto::ErrorCode ParseWorkerMessage(std::string_view payload, proto::WorkerMessage& out, std::string& error) {
  out.Clear();
  if (!out.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    error = absl::StrCat("the payload (", payload.size(), " bytes) is not a WorkerMessage protobuf");
    return proto::ERROR_MALFORMED;
  }
  if (out.version() != proto::PROTOCOL_VERSION_1) {
    error = absl::StrCat("protocol version ", out.version(), " is not supported (this coordinator speaks ",
                         static_cast<int>(proto::PROTOCOL_VERSION_1), ")");
    return proto::ERROR_UNSUPPORTED_VERSION;
  }
  if (out.kind_case() == proto::WorkerMessage::KIND_NOT_SET) {
    error = "the WorkerMessage holds no message";
    return proto::ERROR_MALFORMED;
  }
  return proto::ERROR_UNSPECIFIED;
}

const std::string& RequestIdOf(const proto::ClientRequest& request) {
  switch (request.kind_case()) {
    case proto::ClientRequest::kGenerate:
      return request.generate().request_id();
    case proto::ClientRequest::kCancel:
      return request.cancel().request_id();
    default: {
      static const std::string kEmpty;
      return kEmpty;
    }
  }
}

std::string PeerName(std::string_view identity) {
  return absl::BytesToHexString(absl::string_view(identity.data(), identity.size()));
}

void MakeErrorReply(std::string_view request_id, proto::ErrorCode code, std::string_view message,
                    proto::ClientReply& reply) {
  reply.Clear();
  reply.set_version(proto::PROTOCOL_VERSION_1);
  reply.set_request_id(std::string(request_id));
  proto::Error* e = reply.mutable_error();
  e->set_code(code);
  e->set_message(std::string(message));
}

}  // namespace tessera
