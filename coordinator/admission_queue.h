// Accepted requests waiting for a group, in order, bounded. New requests
// join at the back while there is room (past the limit the caller answers
// BUSY); a continuation of a request whose group died joins at the front
// regardless of the limit (it was admitted once; at most the dead groups'
// sequences come back). Removal of any entry (cancel, timeout) is O(1).
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tessera {

using SteadyTime = std::chrono::steady_clock::time_point;

class AdmissionQueue {
 public:
  explicit AdmissionQueue(size_t limit) : limit_(limit) {}

  // False (and nothing queued) when the queue already holds `limit` entries.
  // `key` must not be queued already.
  bool PushBack(uint64_t key, SteadyTime now);
  void PushFront(uint64_t key, SteadyTime now);
  bool Remove(uint64_t key);
  bool Contains(uint64_t key) const { return index_.contains(key); }
  // The oldest entry; the queue must not be empty.
  uint64_t Front() const { return entries_.front().key; }
  void PopFront();
  // The entry right behind `key` (which must be queued), if any: a scan
  // past entries that stay queued.
  std::optional<uint64_t> After(uint64_t key) const;
  // Keys that have waited at least `timeout` (since they were queued, or
  // requeued), in queue order; they stay queued.
  std::vector<uint64_t> Expired(SteadyTime now, std::chrono::nanoseconds timeout) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  bool full() const { return entries_.size() >= limit_; }
  size_t limit() const { return limit_; }

 private:
  struct Entry {
    uint64_t key;
    SteadyTime since;
  };
  size_t limit_;
  std::list<Entry> entries_;
  absl::flat_hash_map<uint64_t, std::list<Entry>::iterator> index_;
};

}  // namespace tessera
