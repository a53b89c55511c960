// The record of finished requests: the final answer (result or error) of
// each, by request id, so a repeated id is answered instead of run again.
// Bounded: the least recently used record goes first.
#pragma once

#include <list>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "proto/client_api.pb.h"

namespace tessera {

class RecordLru {
 public:
  explicit RecordLru(size_t limit) : limit_(limit) {}

  // Stores (or replaces) the final answer of `request_id`; drops the least
  // recently used record beyond the limit (a limit of 0 keeps none).
  void Put(const std::string& request_id, proto::ClientReply reply);
  // The record, marked as most recently used; nullptr when there is none.
  // Valid until the next Put.
  const proto::ClientReply* Find(const std::string& request_id);
  size_t size() const { return index_.size(); }
  size_t limit() const { return limit_; }

 private:
  using Entry = std::pair<std::string, proto::ClientReply>;
  size_t limit_;
  std::list<Entry> order_;  // most recently used first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace tessera
