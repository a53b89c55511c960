// The record of finished requests: the final answer (result or error) of
// each, by request id, with the fingerprint of the request that ran, so a
// repeated id is answered instead of run again (and a different request
// under a used id is told so). Bounded by count and by bytes: the least
// recently used records go first.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "proto/client_api.pb.h"

namespace tessera {

struct RecordEntry {
  proto::ClientReply reply;
  uint64_t fingerprint = 0;  // RequestFingerprint of the request that ran
};

class RecordLru {
 public:
  // At most `limit` records taking at most `byte_limit` bytes (the
  // serialized answer plus the id plus a fixed overhead each).
  RecordLru(size_t limit, size_t byte_limit) : limit_(limit), byte_limit_(byte_limit) {}

  // Stores (or replaces) the final answer of `request_id` as the most
  // recently used; then drops least recently used records while over either
  // limit (a record bigger than byte_limit on its own is not kept).
  void Put(const std::string& request_id, proto::ClientReply reply, uint64_t fingerprint);
  // The record, marked as most recently used; nullptr when there is none.
  // Valid until the next Put.
  const RecordEntry* Find(const std::string& request_id);
  size_t size() const { return index_.size(); }
  size_t bytes() const { return bytes_; }
  size_t limit() const { return limit_; }
  size_t byte_limit() const { return byte_limit_; }

  // What one record is charged beyond its answer's bytes: the id, the list
  // node and the index slot.
  static constexpr size_t kOverheadBytes = 128;

 private:
  struct Slot {
    std::string id;
    RecordEntry entry;
    size_t bytes = 0;
  };
  void EvictOverLimits();

  size_t limit_;
  size_t byte_limit_;
  size_t bytes_ = 0;
  std::list<Slot> order_;  // most recently used first
  absl::flat_hash_map<std::string, std::list<Slot>::iterator> index_;
};

}  // namespace tessera
