#include "comm/loopback_fabric.h"

#include <algorithm>
#include <utility>

namespace tessera::loopback_internal {

namespace {

std::shared_ptr<const Group> MakeWorld(int n) {
  auto g = std::make_shared<Group>();
  g->id = 0;
  for (int r = 0; r < n; ++r) g->world_ranks.push_back(r);
  return g;
}

}  // namespace

Fabric::Fabric(int world_size)
    : world_size_(world_size), world_(MakeWorld(world_size)), faults_(world_size), connected_(world_size) {}

std::shared_ptr<const Group> Fabric::SplitGroup(int parent, int64_t split_seq, int color,
                                                std::vector<int> world_ranks) {
  absl::MutexLock lock(&mu_);
  auto& slot = splits_[SplitKey(parent, split_seq, color)];
  if (!slot) {
    auto g = std::make_shared<Group>();
    g->id = next_group_id_++;
    g->world_ranks = std::move(world_ranks);
    slot = std::move(g);
  }
  return slot;
}

bool Fabric::MarkConnected(int world_rank) {
  absl::MutexLock lock(&mu_);
  if (connected_[world_rank]) return false;
  connected_[world_rank] = true;
  return true;
}

bool Fabric::Post(const Group& g, int src, int dst, int tag, Payload payload) {
  absl::MutexLock lock(&mu_);
  if (faults_[g.world_ranks[dst]].killed) return false;
  Faults& f = faults_[g.world_ranks[src]];
  if (f.drop != 0) {
    if (f.drop > 0) --f.drop;
    return true;  // lost on the wire: the sender cannot tell
  }
  mailboxes_[{g.id, dst}].push_back(Message{src, tag, std::move(payload), absl::Now() + f.delay});
  changed_.SignalAll();
  return true;
}

Fabric::TakeResult Fabric::Take(const Group& g, int dst, int src, int tag, absl::Time deadline, Payload* out) {
  absl::MutexLock lock(&mu_);
  const int me = g.world_ranks[dst];
  std::deque<Message>& box = mailboxes_[{g.id, dst}];
  while (true) {
    if (faults_[me].killed) return TakeResult::kSelfKilled;
    absl::Time wake = deadline;
    for (auto it = box.begin(); it != box.end(); ++it) {
      if (it->src != src || it->tag != tag) continue;
      // Only the oldest match may be taken, so a delayed message holds back
      // the ones behind it and order per (src, tag) survives.
      const absl::Time now = absl::Now();
      if (it->visible_at <= now) {
        *out = std::move(it->payload);
        box.erase(it);
        return TakeResult::kOk;
      }
      wake = std::min(wake, it->visible_at);
      break;
    }
    if (absl::Now() >= deadline) return TakeResult::kTimedOut;
    changed_.WaitWithDeadline(&mu_, wake);
  }
}

bool Fabric::SleepUntil(absl::Time deadline, int world_rank) {
  absl::MutexLock lock(&mu_);
  while (!faults_[world_rank].killed) {
    if (absl::Now() >= deadline) return true;
    changed_.WaitWithDeadline(&mu_, deadline);
  }
  return false;
}

bool Fabric::killed(int world_rank) const {
  absl::MutexLock lock(&mu_);
  return faults_[world_rank].killed;
}

void Fabric::Kill(int world_rank) {
  absl::MutexLock lock(&mu_);
  faults_[world_rank].killed = true;
  changed_.SignalAll();
}

void Fabric::Drop(int world_rank, int64_t count) {
  absl::MutexLock lock(&mu_);
  faults_[world_rank].drop = count;
}

void Fabric::Delay(int world_rank, absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  faults_[world_rank].delay = delay;
}

void Fabric::Heal(int world_rank) {
  absl::MutexLock lock(&mu_);
  faults_[world_rank].drop = 0;
  faults_[world_rank].delay = absl::ZeroDuration();
  changed_.SignalAll();
}

}  // namespace tessera::loopback_internal
