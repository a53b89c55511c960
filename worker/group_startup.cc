#include "worker/group_startup.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/factory/backend_factory.h"
#include "partition/cost_model.h"
#include "partition/device_profile.h"
#include "partition/partitioner.h"
#include "worker/device_comm.h"
#include "worker/device_probe.h"

namespace tessera {
namespace {

// One rank's status as a fixed-size record, so an all-gather can carry it.
constexpr size_t kStatusRecord = 1024;

GroupLayout LayoutOfRank(const GroupLayout& mine, int group_rank) {
  GroupLayout l = mine;
  l.group_rank = group_rank;
  l.stage = group_rank / mine.tp;
  l.tp_rank = group_rank % mine.tp;
  return l;
}

// Broadcasts a variable-length byte string from the group's leader.
absl::Status BroadcastString(Communicator& group, std::string* s, absl::Duration timeout) {
  int64_t size = static_cast<int64_t>(s->size());
  if (auto st = group.Broadcast(std::as_writable_bytes(std::span<int64_t>(&size, 1)), 0, timeout); !st.ok()) {
    return st;
  }
  if (size < 0 || size > (int64_t{1} << 30)) {
    return absl::DataLossError(absl::StrCat("the leader announced a plan of ", size, " bytes"));
  }
  s->resize(static_cast<size_t>(size));
  return group.Broadcast(std::as_writable_bytes(std::span<char>(s->data(), s->size())), 0, timeout);
}

// The leader's plan from the gathered profiles (its own partition, or the
// plan source's): "P" + plan bytes, or "E" + an error's code byte + its
// message.
std::string PlanOrError(const Model& model, const GroupOptions& options, std::vector<proto::DeviceProfile> probed) {
  std::vector<proto::DeviceProfile> profiles = std::move(probed);
  if (!options.profiles_error.empty()) {
    return absl::StrCat("E", std::string(1, static_cast<char>(absl::StatusCode::kInvalidArgument)),
                        options.profiles_error);
  }
  if (!options.profiles_json.empty()) {
    auto parsed = ParseProfilesJson(options.profiles_json, options.tp * options.pp);
    if (!parsed.ok()) {
      return absl::StrCat("E", std::string(1, static_cast<char>(parsed.status().code())),
                          "the profiles file: ", std::string(parsed.status().message()));
    }
    profiles = *std::move(parsed);
  }
  if (options.plan_source) {
    auto plan = options.plan_source(model, std::move(profiles));
    if (!plan.ok()) {
      return absl::StrCat("E", std::string(1, static_cast<char>(plan.status().code())),
                          std::string(plan.status().message()));
    }
    return absl::StrCat("P", plan->SerializeAsString());
  }
  PartitionRequest req;
  req.model = DescribeModel(model.config, model.weights);
  req.tp = options.tp;
  req.pp = options.pp;
  req.profiles = std::move(profiles);
  req.kv_tokens = options.kv_tokens > 0 ? options.kv_tokens : model.config.context_length;
  auto plan = Partition(req);
  if (!plan.ok()) {
    return absl::StrCat("E", std::string(1, static_cast<char>(plan.status().code())),
                        std::string(plan.status().message()));
  }
  return absl::StrCat("P", plan->SerializeAsString());
}

}  // namespace

absl::Status AgreeOnStatus(Communicator& group, const GroupLayout& layout, const absl::Status& mine,
                           const std::string& what, absl::Duration timeout) {
  std::vector<char> record(kStatusRecord, 0);
  const int32_t code = static_cast<int32_t>(mine.code());
  std::memcpy(record.data(), &code, sizeof(code));
  const std::string msg(mine.message());
  std::memcpy(record.data() + sizeof(code), msg.data(), std::min(msg.size(), kStatusRecord - sizeof(code) - 1));
  std::vector<char> all(kStatusRecord * static_cast<size_t>(group.size()));
  if (auto s = group.AllGather(std::as_bytes(std::span<const char>(record)),
                               std::as_writable_bytes(std::span<char>(all)), timeout);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(layout.Describe(), " while waiting for every rank to ", what,
                                               ": ", std::string(s.message())));
  }
  for (int r = 0; r < group.size(); ++r) {
    const char* rec = all.data() + static_cast<size_t>(r) * kStatusRecord;
    int32_t c = 0;
    std::memcpy(&c, rec, sizeof(c));
    if (c == 0) continue;
    const std::string text(rec + sizeof(c), strnlen(rec + sizeof(c), kStatusRecord - sizeof(c)));
    return absl::Status(static_cast<absl::StatusCode>(c),
                        absl::StrCat(LayoutOfRank(layout, r).Describe(), " could not ", what, ": ", text));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> KvBlocksFor(int64_t kv_tokens, int64_t block_size) {
  if (kv_tokens < 1 || kv_tokens > kMaxKvTokens) {
    return absl::InvalidArgumentError(absl::StrCat("the plan's KV budget of ", kv_tokens,
                                                   " positions is outside [1, 2^40]"));
  }
  if (block_size < 1) return absl::InvalidArgumentError(absl::StrCat("KV block size ", block_size));
  return (kv_tokens + block_size - 1) / block_size;
}

absl::StatusOr<std::unique_ptr<GroupMember>> StartGroupMember(Communicator& world, const GroupOptions& options) {
  auto m = std::make_unique<GroupMember>();
  auto layout = ComputeLayout(world.rank(), world.size(), options.tp, options.pp);
  if (!layout.ok()) return layout.status();
  m->layout = *layout;
  auto comms = SplitGroup(world, m->layout);
  if (!comms.ok()) return comms.status();
  m->comms = *std::move(comms);
  Communicator& group = *m->comms.group;
  const absl::Duration timeout = options.startup_timeout;

  // 1. Every rank maps the model file.
  absl::Status load;
  if (auto model = LoadModel(options.model_path); model.ok()) {
    m->model = *std::move(model);
  } else {
    load = model.status();
  }
  if (auto s = AgreeOnStatus(group, m->layout, load, "load the model", timeout); !s.ok()) return s;

  // This rank's device, measured now if it is a GPU: a device that is not
  // there stops every rank here, naming it.
  DeviceSpec device;
  std::optional<proto::DeviceProfile> gpu_profile;
  absl::Status device_status;
  if (auto spec = ParseDeviceSpec(options.device); spec.ok()) {
    device = *spec;
  } else {
    device_status = spec.status();
  }
  if (device_status.ok() && device.kind == DeviceSpec::Kind::kCuda) {
    if (auto p = ProbeGpuDevice(device.ordinal); p.ok()) {
      gpu_profile = *std::move(p);
    } else {
      device_status = p.status();
    }
  }
  if (auto s = AgreeOnStatus(group, m->layout, device_status, "use its device", timeout); !s.ok()) return s;

  // 2. Profiles to the leader, the plan back.
  // A GPU is always measured (its profile decides how much of the model it
  // gets, and a nominal one would not say how much faster it is than a CPU).
  const proto::DeviceProfile mine =
      gpu_profile.has_value() ? *gpu_profile
      : options.probe ? ProbeCpuDevice(ProbeOptions{options.threads, options.local_ranks, options.oversubscribed})
                      : NominalCpuProfile(options.local_ranks, "probing turned off");
  std::string mine_bytes = mine.SerializeAsString();
  mine_bytes.resize(512, '\0');
  std::string gathered(mine_bytes.size() * static_cast<size_t>(group.size()), '\0');
  if (auto s = group.AllGather(std::as_bytes(std::span<const char>(mine_bytes)),
                               std::as_writable_bytes(std::span<char>(gathered)), timeout);
      !s.ok()) {
    return s;
  }
  std::string plan_bytes;
  if (m->layout.leader()) {
    std::vector<proto::DeviceProfile> probed(static_cast<size_t>(group.size()));
    for (int r = 0; r < group.size(); ++r) {
      const char* rec = gathered.data() + static_cast<size_t>(r) * 512;
      // Serialized protobuf followed by zero padding: a zero tag ends parsing
      // cleanly only if trimmed, so parse the exact prefix.
      size_t len = 512;
      while (len > 0 && rec[len - 1] == '\0') --len;
      probed[static_cast<size_t>(r)].ParseFromArray(rec, static_cast<int>(len));
    }
    plan_bytes = PlanOrError(*m->model, options, std::move(probed));
  }
  if (auto s = BroadcastString(group, &plan_bytes, timeout); !s.ok()) return s;
  if (plan_bytes.empty()) return absl::DataLossError("the leader sent an empty plan");
  if (plan_bytes[0] == 'E') {
    const auto code = static_cast<absl::StatusCode>(plan_bytes.size() > 1 ? plan_bytes[1] : 2);
    return absl::Status(code, absl::StrCat("planning the group: ", plan_bytes.substr(2)));
  }
  if (!m->plan.ParseFromArray(plan_bytes.data() + 1, static_cast<int>(plan_bytes.size() - 1))) {
    return absl::DataLossError("the leader's shard plan does not parse");
  }

  // 3. Every rank slices its shard and allocates its KV cache and backend.
  absl::Status shard_status = ValidatePlan(m->plan, DescribeModel(m->model->config, m->model->weights));
  // Ranks started with different --tp/--pp (an MPMD launch gone wrong) would
  // index the plan out of range.
  if (shard_status.ok() && (m->plan.tp() != m->layout.tp || m->plan.pp() != m->layout.pp)) {
    shard_status = absl::InvalidArgumentError(absl::StrCat("the leader planned tp ", m->plan.tp(), " x pp ",
                                                           m->plan.pp(), " but this rank was started with --tp ",
                                                           m->layout.tp, " --pp ", m->layout.pp));
  }
  if (shard_status.ok()) {
    const proto::RankShard& rs = m->plan.ranks(m->layout.group_rank);
    auto shard = MakeShard(*m->model, RangesFromPlan(rs));
    if (shard.ok()) {
      m->shard = *std::move(shard);
    } else {
      shard_status = shard.status();
    }
  }
  if (shard_status.ok()) {
    CpuBackendOptions bo;
    bo.threads = options.threads;
    if (!options.isa.empty()) {
      auto isa = ParseCpuIsa(options.isa);
      if (!isa.has_value()) shard_status = absl::InvalidArgumentError(absl::StrCat("unknown ISA '", options.isa, "'"));
      else bo.isa = *isa;
    }
    if (shard_status.ok()) {
      if (auto backend = MakeBackend(device, bo); backend.ok()) {
        m->backend = *std::move(backend);
      } else {
        shard_status = backend.status();
      }
    }
  }
  if (shard_status.ok()) {
    KvCacheShape shape;
    shape.n_layers = m->shard->ranges.n_layers();
    shape.kv_dim = m->shard->ranges.n_kv_heads() * m->model->config.head_dim;
    auto blocks = KvBlocksFor(m->plan.kv_tokens(), shape.block_size);
    if (blocks.ok()) {
      shape.n_blocks = *blocks;
      auto kv = KvCache::Create(shape, *m->backend);
      if (kv.ok()) m->kv = *std::move(kv);
      else shard_status = kv.status();
    } else {
      shard_status = blocks.status();
    }
  }
  if (auto s = AgreeOnStatus(group, m->layout, shard_status, "load its shard", timeout); !s.ok()) return s;

  // 4. A stage whose ranks are all on GPUs all-reduces over NCCL (collective
  // over the stage's tp ranks, so only after every rank has its backend).
  absl::Status comm_status = PlaceTensorParallelComm(m->comms, device, timeout, &m->tp_transport);
  if (auto s = AgreeOnStatus(group, m->layout, comm_status, "set up its tensor-parallel communicator", timeout);
      !s.ok()) {
    return s;
  }

  // 5. The weights go into the backend's memory now (on a GPU, the upload),
  // so a rank without room for them fails with the others here, not at its
  // first step.
  m->executor = std::make_unique<Executor>(*m->shard, *m->backend, *m->kv, m->comms.tp.get());
  if (auto s = AgreeOnStatus(group, m->layout, m->executor->Load(), "load its weights onto " + options.device,
                             timeout);
      !s.ok()) {
    return s;
  }

  std::vector<VocabSlice> vocab;
  for (int t = 0; t < m->layout.tp; ++t) {
    const proto::RankShard& rs = m->plan.ranks(m->layout.answer_rank() + t);
    vocab.push_back(VocabSlice{rs.vocab().begin(), rs.vocab().end()});
  }
  m->runner = std::make_unique<StageRunner>(m->layout, group, m->comms.tp.get(), *m->executor, std::move(vocab),
                                            m->shard->weight_bytes);
  return m;
}

}  // namespace tessera
