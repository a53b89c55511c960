// Sequences running on groups: seq -> the request, the group and the epoch
// it was started under, and the work it has left (for routing).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tessera {

struct InflightEntry {
  uint64_t request = 0;  // the request's key
  uint64_t group = 0;
  uint64_t epoch = 0;
  // Outstanding work of a sequence = prompt_pending + remaining: tokens of
  // its StartSequence the group has not computed yet (all of them until the
  // first new token arrives, then 0) plus tokens it may still generate.
  int64_t prompt_pending = 0;
  int64_t remaining = 0;
  int64_t outstanding() const { return prompt_pending + remaining; }
};

class InflightTable {
 public:
  void Add(uint64_t seq, const InflightEntry& entry) { table_[seq] = entry; }
  InflightEntry* Find(uint64_t seq) {
    auto it = table_.find(seq);
    return it == table_.end() ? nullptr : &it->second;
  }
  bool Remove(uint64_t seq) { return table_.erase(seq) > 0; }
  // The sequences of `group` (a scan: only when a group dies).
  std::vector<uint64_t> SeqsOfGroup(uint64_t group) const {
    std::vector<uint64_t> out;
    for (const auto& [seq, e] : table_) {
      if (e.group == group) out.push_back(seq);
    }
    return out;
  }
  size_t size() const { return table_.size(); }
  void Clear() { table_.clear(); }

 private:
  absl::flat_hash_map<uint64_t, InflightEntry> table_;
};

}  // namespace tessera
