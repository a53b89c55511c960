#include "coordinator/request_record.h"

namespace tessera {

void RecordLru::Put(const std::string& request_id, proto::ClientReply reply) {
  if (limit_ == 0) return;
  if (auto it = index_.find(request_id); it != index_.end()) {
    it->second->second = std::move(reply);
    order_.splice(order_.begin(), order_, it->second);
    return;
  }
  order_.emplace_front(request_id, std::move(reply));
  index_.emplace(request_id, order_.begin());
  while (index_.size() > limit_) {
    index_.erase(order_.back().first);
    order_.pop_back();
  }
}

const proto::ClientReply* RecordLru::Find(const std::string& request_id) {
  auto it = index_.find(request_id);
  if (it == index_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return &it->second->second;
}

}  // namespace tessera
