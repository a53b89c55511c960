#include "coordinator/admin_frames.h"

#include "absl/strings/str_cat.h"

namespace tessera {

proto::ErrorCode ParseAdminRequest(std::string_view payload, proto::AdminRequest& out, std::string& error) {
  out.Clear();
  if (!out.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    error = absl::StrCat("the payload (", payload.size(), " bytes) is not an AdminRequest protobuf");
    return proto::ERROR_MALFORMED;
  }
  if (out.version() == 0 && out.kind_case() == proto::AdminRequest::KIND_NOT_SET) {
    error = "an empty AdminRequest (no version, no request)";
    return proto::ERROR_MALFORMED;
  }
  if (out.version() != proto::PROTOCOL_VERSION_1) {
    error = absl::StrCat("protocol version ", out.version(), " is not supported (this coordinator speaks ",
                         static_cast<int>(proto::PROTOCOL_VERSION_1), ")");
    return proto::ERROR_UNSUPPORTED_VERSION;
  }
  if (out.kind_case() == proto::AdminRequest::KIND_NOT_SET) {
    error =
        "the AdminRequest holds no request (set status, plan_preview, plan_diff, rebalance, drain, undrain or "
        "remove)";
    return proto::ERROR_MALFORMED;
  }
  return proto::ERROR_UNSPECIFIED;
}

void MakeAdminError(proto::ErrorCode code, std::string_view message, proto::AdminReply& reply) {
  reply.Clear();
  reply.set_version(proto::PROTOCOL_VERSION_1);
  proto::AdminError* e = reply.mutable_error();
  e->set_code(code);
  e->set_message(std::string(message));
}

void MakeAdminResult(uint64_t group_id, std::string_view message, proto::AdminReply& reply) {
  reply.Clear();
  reply.set_version(proto::PROTOCOL_VERSION_1);
  proto::AdminResult* r = reply.mutable_result();
  r->set_group_id(group_id);
  r->set_message(std::string(message));
}

const char* AdminRequestName(const proto::AdminRequest& request) {
  switch (request.kind_case()) {
    case proto::AdminRequest::kStatus:
      return "status";
    case proto::AdminRequest::kPlanPreview:
      return "plan preview";
    case proto::AdminRequest::kPlanDiff:
      return "plan diff";
    case proto::AdminRequest::kRebalance:
      return "rebalance";
    case proto::AdminRequest::kDrain:
      return "drain";
    case proto::AdminRequest::kUndrain:
      return "undrain";
    case proto::AdminRequest::kRemove:
      return "remove";
    default:
      return "unknown";
  }
}

}  // namespace tessera
