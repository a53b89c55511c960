#include "worker/reshard.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "partition/cost_model.h"
#include "partition/partitioner.h"
#include "worker/resident_memory.h"

namespace tessera {
namespace {

// One rank's result as a fixed-size record, so one all-gather carries every
// rank's status and byte counts.
struct Record {
  int32_t code = 0;
  int32_t pad = 0;
  int64_t loaded_bytes = 0;
  int64_t kept_bytes = 0;
  char message[1000] = {};
};

// This rank's new pieces, built beside the ones it serves with.
struct NewPieces {
  std::unique_ptr<Shard> shard;
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<Executor> executor;
};

// Reads one byte of every page of `spans`, so the rows a rank did not hold
// before are in memory before it serves with them, not faulted in by the
// first steps.
void Prefault(const std::vector<ByteSpan>& spans) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uint8_t acc = 0;
  for (const ByteSpan& s : spans) {
    if (s.end <= s.begin) continue;
    for (uintptr_t p = s.begin; p < s.end; p += page) acc ^= *reinterpret_cast<const volatile uint8_t*>(p);
    acc ^= *reinterpret_cast<const volatile uint8_t*>(s.end - 1);
  }
  // Keeps the reads; local, since loopback tests run ranks as threads.
  volatile uint8_t sink = acc;
  (void)sink;
}

double MiB(double bytes) { return bytes / (1024.0 * 1024.0); }

absl::Status Build(GroupMember& m, const proto::ShardPlan& plan, const ReshardFaults& faults, NewPieces* out) {
  if (auto s = ValidatePlan(plan, DescribeModel(m.model->config, m.model->weights)); !s.ok()) return s;
  if (plan.tp() != m.layout.tp || plan.pp() != m.layout.pp) {
    return absl::InvalidArgumentError(absl::StrCat("the new plan is tp ", plan.tp(), " x pp ", plan.pp(),
                                                   " but this group is tp ", m.layout.tp, " x pp ", m.layout.pp));
  }
  const ShardRanges ranges = RangesFromPlan(plan.ranks(m.layout.group_rank));
  KvCacheShape shape;
  shape.n_layers = ranges.n_layers();
  shape.kv_dim = ranges.n_kv_heads() * m.model->config.head_dim;
  shape.block_size = m.kv->shape().block_size;
  auto blocks = KvBlocksFor(plan.kv_tokens(), shape.block_size);
  if (!blocks.ok()) return blocks.status();
  shape.n_blocks = *blocks;
  // The old shard and cache stay until the swap, so the new pieces need
  // room beside them. Overcommit would let the allocations succeed and the
  // OOM killer end the job later: ask the kernel first. In double: a bad
  // plan's budget may be huge (KvCache::Create refuses it). A device
  // backend's KV cache (and its copy of the weights) is not host memory: the
  // device's own allocations say whether they fit.
  const double kv_bytes = 2.0 * sizeof(float) * static_cast<double>(shape.n_layers) * shape.n_blocks *
                          shape.block_size * shape.kv_dim;
  const double needed = static_cast<double>(NewColumnCopyBytes(*m.model, ranges, m.shard.get())) +
                        (m.backend->host_memory() ? kv_bytes : 0.0);
  const int64_t available = faults.mem_available_bytes >= 0 ? faults.mem_available_bytes
                                                            : ReadProcKibField("/proc/meminfo", "MemAvailable");
  // 0: /proc/meminfo could not be read; no check then.
  if (available > 0 && needed > static_cast<double>(available)) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "it needs %.1f MiB (column copies and KV cache beside the old ones) but only %.1f MiB are available "
        "(MemAvailable)",
        MiB(needed), MiB(static_cast<double>(available))));
  }
  auto shard = MakeShard(*m.model, ranges, m.shard.get());
  if (!shard.ok()) return shard.status();
  out->shard = *std::move(shard);
  if (faults.fail_rank == m.layout.group_rank) {
    return absl::ResourceExhaustedError("injected load failure (test hook TESSERA_TEST_RESHARD_FAIL_RANK)");
  }
  auto kv = KvCache::Create(shape, *m.backend);
  if (!kv.ok()) return kv.status();
  out->kv = *std::move(kv);
  out->executor = std::make_unique<Executor>(*out->shard, *m.backend, *out->kv, m.comms.tp.get());
  // The new weights go into the backend's memory before the ranks agree, so
  // a device without room for them beside the old ones rolls the group back.
  return out->executor->Load();
}

std::string DescribeRank(const GroupLayout& mine, int group_rank) {
  GroupLayout l = mine;
  l.group_rank = group_rank;
  l.stage = group_rank / mine.tp;
  l.tp_rank = group_rank % mine.tp;
  return l.Describe();
}

}  // namespace

ReshardFaults ReshardFaultsFromEnvironment() {
  ReshardFaults f;
  const char* v = std::getenv("TESSERA_TEST_RESHARD_FAIL_RANK");
  int rank = -1;
  if (v != nullptr && absl::SimpleAtoi(v, &rank)) f.fail_rank = rank;
  return f;
}

namespace {

// `plan_status`: not OK when this rank never got a usable plan; it builds
// nothing and tells the others why.
absl::StatusOr<ReshardOutcome> Reshard(GroupMember& m, const proto::ShardPlan& plan, const absl::Status& plan_status,
                                       absl::Duration timeout, const ReshardFaults& faults) {
  const auto start = std::chrono::steady_clock::now();
  Communicator& group = *m.comms.group;

  NewPieces next;
  const absl::Status mine = plan_status.ok() ? Build(m, plan, faults, &next) : plan_status;
  Record record;
  record.code = static_cast<int32_t>(mine.code());
  if (mine.ok()) {
    record.kept_bytes = next.shard->kept_bytes;
    record.loaded_bytes = next.shard->weight_bytes - next.shard->kept_bytes;
  } else {
    const std::string text(mine.message());
    std::memcpy(record.message, text.data(), std::min(text.size(), sizeof(record.message) - 1));
  }
  std::vector<Record> all(static_cast<size_t>(group.size()));
  if (auto s = group.AllGather(std::as_bytes(std::span<const Record>(&record, 1)),
                               std::as_writable_bytes(std::span<Record>(all)), timeout);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(m.layout.Describe(), " while waiting for every rank to load its new ",
                                               "shard: ", std::string(s.message())));
  }

  ReshardOutcome outcome;
  for (int r = 0; r < group.size() && outcome.status.ok(); ++r) {
    const Record& rec = all[static_cast<size_t>(r)];
    if (rec.code == 0) continue;
    const std::string text(rec.message, strnlen(rec.message, sizeof(rec.message)));
    outcome.status = absl::Status(static_cast<absl::StatusCode>(rec.code),
                                  absl::StrCat(DescribeRank(m.layout, r), " could not load its new shard: ", text));
  }
  if (outcome.status.ok()) {
    for (const Record& rec : all) {
      outcome.loaded_bytes += rec.loaded_bytes;
      outcome.kept_bytes += rec.kept_bytes;
    }
    // The rows this rank did not hold, read in now that the switch is
    // certain (not before: a rollback would leave them resident), so the
    // first steps do not fault them in.
    Prefault(Uncovered(next.shard->viewed, m.shard->viewed));
    // The swap. The runner moves to the new executor first; then the old
    // executor, KV cache and shard go, in that order (each borrows the
    // next), freeing the column copies the new shard does not share and
    // handing back the mapped rows this rank no longer reads.
    std::vector<VocabSlice> vocab;
    for (int t = 0; t < m.layout.tp; ++t) {
      const proto::RankShard& rs = plan.ranks(m.layout.answer_rank() + t);
      vocab.push_back(VocabSlice{rs.vocab().begin(), rs.vocab().end()});
    }
    m.runner->Rebind(*next.executor, std::move(vocab), next.shard->weight_bytes);
    const std::vector<ByteSpan> dropped = Uncovered(m.shard->viewed, next.shard->viewed);
    m.executor = std::move(next.executor);
    m.kv = std::move(next.kv);
    m.shard = std::move(next.shard);
    m.plan = plan;
    for (const ByteSpan& s : dropped) {
      m.model->file->ReleasePages(reinterpret_cast<const void*>(s.begin), static_cast<size_t>(s.size()));
    }
  }
  // After a rollback `next` drops whatever this rank built.
  outcome.kv_blocks = m.kv->shape().n_blocks;
  outcome.block_size = static_cast<int32_t>(m.kv->shape().block_size);
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LOG(INFO) << m.layout.Describe() << ": reshard "
            << (outcome.status.ok() ? absl::StrCat("done: ", m.shard->ranges.DebugString())
                                    : absl::StrCat("rolled back: ", outcome.status.ToString()));
  return outcome;
}

}  // namespace

absl::StatusOr<ReshardOutcome> ReshardMember(GroupMember& m, const proto::ShardPlan& plan, absl::Duration timeout,
                                             const ReshardFaults& faults) {
  return Reshard(m, plan, absl::OkStatus(), timeout, faults);
}

absl::StatusOr<ReshardOutcome> ReshardMember(GroupMember& m, const ServeExit& exit, absl::Duration timeout,
                                             const ReshardFaults& faults) {
  return Reshard(m, exit.plan, exit.plan_status, timeout, faults);
}

}  // namespace tessera
