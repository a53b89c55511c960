// The admin socket's payloads (proto/admin_service.proto): parsing an
// AdminRequest and building AdminReply answers. Framing is the client
// socket's (frames.h: SplitClientFrames); pure functions, table-tested.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/admin_service.pb.h"

namespace tessera {

// Parses an admin payload. ERROR_MALFORMED for bytes that do not parse or
// no request kind, ERROR_UNSUPPORTED_VERSION for a version other than
// PROTOCOL_VERSION_1, with `error` set; ERROR_UNSPECIFIED on success.
proto::ErrorCode ParseAdminRequest(std::string_view payload, proto::AdminRequest& out, std::string& error);

// `reply` (cleared first) holds an AdminError / an AdminResult.
void MakeAdminError(proto::ErrorCode code, std::string_view message, proto::AdminReply& reply);
void MakeAdminResult(uint64_t group_id, std::string_view message, proto::AdminReply& reply);

// The request's kind for logs ("status", "rebalance", ...).
const char* AdminRequestName(const proto::AdminRequest& request);

}  // namespace tessera
