// The coordinator's wire envelopes: how one ZeroMQ message received on a
// ROUTER splits into sender identity and payload, and how payloads parse
// into the API's protobuf messages. Pure functions (no sockets), so the
// malformed cases are table-tested.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "proto/client_api.pb.h"
#include "proto/worker_api.pb.h"

namespace tessera {

// One client message as the ROUTER delivered it. Views into the received
// frames: valid while those frames are.
struct ClientEnvelope {
  std::string_view identity;
  // REQ sockets put an empty delimiter frame before the payload; a reply
  // must mirror it or the REQ socket drops the reply.
  bool delimiter = false;
  std::string_view payload;
};

// `frames` is one message, identity first. Accepts [identity][payload] and
// [identity][empty][payload]. Returns false (and an explanation in `error`)
// for any other shape; `out.identity` and `out.delimiter` are still set
// whenever there is an identity, so the sender can be told.
bool SplitClientFrames(std::span<const std::string_view> frames, ClientEnvelope& out, std::string& error);

// Parses a client payload. On failure returns ERROR_MALFORMED (bytes that do
// not parse, no request kind) or ERROR_UNSUPPORTED_VERSION with `error`
// set; ERROR_UNSPECIFIED on success. `out.generate().request_id()` may be
// read even after a version error (to name the request in the answer).
proto::ErrorCode ParseClientRequest(std::string_view payload, proto::ClientRequest& out, std::string& error);

// The same for a group leader's payload.
proto::ErrorCode ParseWorkerMessage(std::string_view payload, proto::WorkerMessage& out, std::string& error);

// The request id a ClientRequest names (generate or cancel), or "".
const std::string& RequestIdOf(const proto::ClientRequest& request);

// A ROUTER identity (binary, 5 bytes unless the peer chose one) for logs: hex.
std::string PeerName(std::string_view identity);

// Fills `reply` (cleared first) with an Error answer.
void MakeErrorReply(std::string_view request_id, proto::ErrorCode code, std::string_view message,
                    proto::ClientReply& reply);

}  // namespace tessera
