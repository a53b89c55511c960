#include "worker/rank_report.h"

#include <algorithm>
#include <map>

namespace tessera {
namespace {

// RankReport as a fixed-size record: an all-gather needs equal sizes.
struct Record {
  int32_t rank = 0;
  int32_t stage = 0;
  uint64_t steps = 0;
  double compute_seconds = 0.0;
  int64_t resident_bytes = 0;
  int64_t weight_bytes = 0;
  int64_t kv_bytes = 0;
};

Record ToRecord(const proto::RankReport& r) {
  return Record{r.rank(), r.stage(), r.steps(), r.compute_seconds(), r.resident_bytes(), r.weight_bytes(),
                r.kv_bytes()};
}

void FromRecord(const Record& rec, proto::RankReport* r) {
  r->set_rank(rec.rank);
  r->set_stage(rec.stage);
  r->set_steps(rec.steps);
  r->set_compute_seconds(rec.compute_seconds);
  r->set_resident_bytes(rec.resident_bytes);
  r->set_weight_bytes(rec.weight_bytes);
  r->set_kv_bytes(rec.kv_bytes);
}

}  // namespace

absl::Status GatherStageReports(Communicator* tp, const proto::RankReport& mine, proto::GroupStep* step) {
  if (tp == nullptr) {
    *step->add_reports() = mine;
    return absl::OkStatus();
  }
  const Record rec = ToRecord(mine);
  std::vector<Record> all(static_cast<size_t>(tp->size()));
  if (auto s = tp->AllGather(std::as_bytes(std::span<const Record>(&rec, 1)),
                             std::as_writable_bytes(std::span<Record>(all)));
      !s.ok()) {
    return s;
  }
  if (tp->rank() != 0) return absl::OkStatus();
  for (const Record& r : all) FromRecord(r, step->add_reports());
  return absl::OkStatus();
}

void FillHeartbeatReports(std::span<const proto::RankReport> reports, std::span<const int64_t> stage_layers,
                          proto::Heartbeat* heartbeat) {
  heartbeat->clear_stages();
  heartbeat->clear_ranks();
  struct Stage {
    uint64_t steps = 0;
    double slowest = 0.0;
  };
  std::map<int32_t, Stage> stages;
  std::vector<const proto::RankReport*> by_rank;
  for (const proto::RankReport& r : reports) {
    Stage& s = stages[r.stage()];
    s.steps = std::max(s.steps, r.steps());
    if (r.steps() > 0) s.slowest = std::max(s.slowest, r.compute_seconds() / static_cast<double>(r.steps()));
    by_rank.push_back(&r);
  }
  for (const auto& [stage, s] : stages) {
    proto::StageTiming* t = heartbeat->add_stages();
    t->set_stage(stage);
    t->set_steps(s.steps);
    t->set_mean_step_seconds(s.slowest);
    if (stage >= 0 && static_cast<size_t>(stage) < stage_layers.size()) {
      t->set_layers(stage_layers[static_cast<size_t>(stage)]);
    }
  }
  std::stable_sort(by_rank.begin(), by_rank.end(),
                   [](const proto::RankReport* a, const proto::RankReport* b) { return a->rank() < b->rank(); });
  for (const proto::RankReport* r : by_rank) {
    proto::RankMemory* m = heartbeat->add_ranks();
    m->set_rank(r->rank());
    m->set_resident_bytes(r->resident_bytes());
    m->set_weight_bytes(r->weight_bytes());
    m->set_kv_bytes(r->kv_bytes());
  }
}

}  // namespace tessera
