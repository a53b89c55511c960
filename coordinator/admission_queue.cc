#include "coordinator/admission_queue.h"

#include "glog/logging.h"

namespace tessera {

bool AdmissionQueue::PushBack(uint64_t key, SteadyTime now) {
  if (full()) return false;
  CHECK(!index_.contains(key)) << "key " << key << " queued twice";
  entries_.push_back({key, now});
  index_.emplace(key, std::prev(entries_.end()));
  return true;
}

void AdmissionQueue::PushFront(uint64_t key, SteadyTime now) {
  CHECK(!index_.contains(key)) << "key " << key << " queued twice";
  entries_.push_front({key, now});
  index_.emplace(key, entries_.begin());
}

bool AdmissionQueue::Remove(uint64_t key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  entries_.erase(it->second);
  index_.erase(it);
  return true;
}

void AdmissionQueue::PopFront() {
  CHECK(!entries_.empty());
  index_.erase(entries_.front().key);
  entries_.pop_front();
}

std::optional<uint64_t> AdmissionQueue::After(uint64_t key) const {
  auto it = index_.find(key);
  CHECK(it != index_.end()) << "key " << key << " is not queued";
  auto next = std::next(it->second);
  if (next == entries_.end()) return std::nullopt;
  return next->key;
}

std::vector<uint64_t> AdmissionQueue::Expired(SteadyTime now, std::chrono::nanoseconds timeout) const {
  std::vector<uint64_t> out;
  for (const Entry& e : entries_) {
    if (now - e.since >= timeout) out.push_back(e.key);
  }
  return out;
}

}  // namespace tessera
