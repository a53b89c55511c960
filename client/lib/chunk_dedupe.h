// Drops what a client already has from a streamed chunk. After a retry the
// coordinator may resend a request's tokens from index 0 (a catch-up chunk);
// only the tokens past those already passed on, and the text they add, go
// to the caller.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "proto/client_api.pb.h"

namespace tessera::client_internal {

class ChunkDedupe {
 public:
  // The new part of `chunk`, re-indexed so index == tokens passed on before
  // it; nullopt when it adds nothing. Text of a chunk that overlaps what was
  // passed on is cut where the passed-on text ends; when that point is not
  // known (the overlap starts where no earlier chunk started) or the texts
  // disagree, the fresh tokens go on with no text: the result's text stays
  // the authority.
  std::optional<proto::TokenChunk> Fresh(const proto::TokenChunk& chunk);

  int64_t tokens() const { return tokens_; }
  const std::string& text() const { return text_; }

 private:
  int64_t tokens_ = 0;                      // passed on so far
  std::string text_;                        // their text, concatenated
  std::map<int64_t, size_t> text_start_ = {{0, 0}};  // chunk start index -> bytes of text before it
};

}  // namespace tessera::client_internal
