#include "coordinator/group_registry.h"

#include <tuple>

#include "coordinator/request_validator.h"

namespace tessera {
namespace {

// Ready, or away only for a rebalance (it serves again when that ends),
// and not drained by an admin (it serves again only when undrained).
bool ServesSoon(const Group& g) {
  return (g.state == proto::GROUP_READY || (g.change && g.change->kind == GroupChange::Kind::kRebalance)) &&
         !g.admin_drained;
}

}  // namespace

std::optional<uint64_t> PickGroup(std::span<const GroupLoad> groups, int64_t prompt_tokens, int64_t max_tokens) {
  const GroupLoad* best = nullptr;
  for (const GroupLoad& g : groups) {
    if (!g.ready || g.running >= g.max_sequences) continue;
    if (KvBlocksNeeded(prompt_tokens, max_tokens, g.block_size) > g.kv_blocks) continue;
    if (best == nullptr ||
        std::tie(g.outstanding, g.running, g.id) < std::tie(best->outstanding, best->running, best->id)) {
      best = &g;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->id;
}

Group& GroupRegistry::Add(std::string identity, std::string name, int32_t tp, int32_t pp, SteadyTime now) {
  auto g = std::make_unique<Group>();
  g->id = next_id_++;
  g->identity = std::move(identity);
  g->name = std::move(name);
  g->tp = tp;
  g->pp = pp;
  g->last_heard = now;
  Group& ref = *g;
  by_identity_[ref.identity] = ref.id;
  groups_.emplace(ref.id, std::move(g));
  return ref;
}

Group* GroupRegistry::Find(uint64_t id) {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

Group* GroupRegistry::FindByIdentity(std::string_view identity) {
  auto it = by_identity_.find(absl::string_view(identity.data(), identity.size()));
  return it == by_identity_.end() ? nullptr : Find(it->second);
}

void GroupRegistry::MarkDead(Group& group) {
  if (auto it = by_identity_.find(group.identity); it != by_identity_.end() && it->second == group.id) {
    by_identity_.erase(it);
  }
  group.state = proto::GROUP_DEAD;
  ++group.epoch;
}

void GroupRegistry::Remove(uint64_t id) {
  Group* g = Find(id);
  if (g == nullptr) return;
  if (auto it = by_identity_.find(g->identity); it != by_identity_.end() && it->second == id) {
    by_identity_.erase(it);
  }
  groups_.erase(id);
}

void GroupRegistry::PruneDead(size_t keep) {
  size_t dead = 0;
  for (const auto& [id, g] : groups_) dead += g->state == proto::GROUP_DEAD;
  for (auto it = groups_.begin(); dead > keep && it != groups_.end();) {
    if (it->second->state == proto::GROUP_DEAD) {
      it = groups_.erase(it);
      --dead;
    } else {
      ++it;
    }
  }
}

std::optional<uint64_t> GroupRegistry::Pick(int64_t prompt_tokens, int64_t max_tokens) {
  loads_.clear();
  for (const auto& [id, g] : groups_) {
    if (g->state != proto::GROUP_READY) continue;
    loads_.push_back({g->id, true, g->running, g->max_sequences, g->outstanding, g->kv_blocks, g->block_size});
  }
  return PickGroup(loads_, prompt_tokens, max_tokens);
}

bool GroupRegistry::ReadyGroupCanHold(int64_t prompt_tokens, int64_t max_tokens) const {
  for (const auto& [id, g] : groups_) {
    if (ServesSoon(*g) && KvBlocksNeeded(prompt_tokens, max_tokens, g->block_size) <= g->kv_blocks) {
      return true;
    }
  }
  return false;
}

bool GroupRegistry::ReadyNowCanHold(int64_t prompt_tokens, int64_t max_tokens) const {
  for (const auto& [id, g] : groups_) {
    if (g->state == proto::GROUP_READY && KvBlocksNeeded(prompt_tokens, max_tokens, g->block_size) <= g->kv_blocks) {
      return true;
    }
  }
  return false;
}

void GroupRegistry::LargestReadyKv(int64_t& kv_blocks, int32_t& block_size) const {
  kv_blocks = 0;
  block_size = 16;
  int64_t best_positions = 0;
  for (const auto& [id, g] : groups_) {
    if (!ServesSoon(*g)) continue;
    const int64_t positions = g->kv_blocks * g->block_size;
    if (positions > best_positions) {
      best_positions = positions;
      kv_blocks = g->kv_blocks;
      block_size = g->block_size;
    }
  }
}

std::vector<uint64_t> GroupRegistry::LiveIds() const {
  std::vector<uint64_t> out;
  for (const auto& [id, g] : groups_) {
    if (g->state != proto::GROUP_DEAD) out.push_back(id);
  }
  return out;
}

int GroupRegistry::ReadyCount() const {
  int n = 0;
  for (const auto& [id, g] : groups_) n += g->state == proto::GROUP_READY;
  return n;
}

}  // namespace tessera
