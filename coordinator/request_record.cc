#include "coordinator/request_record.h"

namespace tessera {

void RecordLru::Put(const std::string& request_id, proto::ClientReply reply, uint64_t fingerprint) {
  const size_t bytes = reply.ByteSizeLong() + request_id.size() + kOverheadBytes;
  if (auto it = index_.find(request_id); it != index_.end()) {
    Slot& slot = *it->second;
    bytes_ -= slot.bytes;
    slot.entry = RecordEntry{std::move(reply), fingerprint};
    slot.bytes = bytes;
    bytes_ += bytes;
    order_.splice(order_.begin(), order_, it->second);
  } else {
    order_.push_front(Slot{request_id, RecordEntry{std::move(reply), fingerprint}, bytes});
    index_.emplace(request_id, order_.begin());
    bytes_ += bytes;
  }
  EvictOverLimits();
}

void RecordLru::EvictOverLimits() {
  while (!order_.empty() && (index_.size() > limit_ || bytes_ > byte_limit_)) {
    bytes_ -= order_.back().bytes;
    index_.erase(order_.back().id);
    order_.pop_back();
  }
}

const RecordEntry* RecordLru::Find(const std::string& request_id) {
  auto it = index_.find(request_id);
  if (it == index_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return &it->second->entry;
}

}  // namespace tessera
