// `tessera plan`: preview how a model would be split over a tp x pp group
// (per-rank layers, heads, FFN columns, vocabulary, bytes and predicted step
// time) before any worker starts.

#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "google/protobuf/util/json_util.h"
#include "model/model.h"
#include "partition/device_profile.h"
#include "partition/partitioner.h"
#include "worker/device_probe.h"

namespace tessera::cli {
namespace {

struct PlanArgs {
  std::string model;
  int tp = 1;
  int pp = 1;
  std::string profiles;
  int64_t kv_tokens = -1;  // -1: the model's context length
  int64_t batch = 1;
  bool json = false;
};

// Without --profiles: this machine, probed as a worker probes itself (well
// under a second), for every rank: what a group would get if it ran here.
absl::StatusOr<std::vector<proto::DeviceProfile>> Profiles(const PlanArgs& a) {
  const int ranks = a.tp * a.pp;
  if (a.profiles.empty()) {
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::vector<proto::DeviceProfile>(static_cast<size_t>(ranks), ProbeCpuDevice(ProbeOptions{threads}));
  }
  auto text = ReadProfilesFile(a.profiles);
  if (!text.ok()) return text.status();
  auto profiles = ParseProfilesJson(*text, ranks);
  if (!profiles.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(a.profiles, ": ", profiles.status().message()));
  }
  return profiles;
}

int RunPlan(const PlanArgs& a) {
  auto model = LoadModel(a.model);
  if (!model.ok()) {
    std::cerr << "error: " << a.model << ": " << model.status().message() << "\n";
    return 1;
  }
  PartitionRequest request;
  request.model = DescribeModel((*model)->config, (*model)->weights);
  request.tp = a.tp;
  request.pp = a.pp;
  request.kv_tokens = a.kv_tokens >= 0 ? a.kv_tokens : (*model)->config.context_length;
  request.batch_tokens = a.batch;
  auto profiles = Profiles(a);
  if (!profiles.ok()) {
    std::cerr << "error: " << profiles.status().message() << "\n";
    return 1;
  }
  request.profiles = *std::move(profiles);
  auto plan = Partition(request);
  if (!plan.ok()) {
    std::cerr << "error: " << plan.status().message() << "\n";
    return 1;
  }
  if (!a.json) {
    std::cout << FormatPlan(*plan);
    return 0;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;  // a range starting at 0 still says so
  options.preserve_proto_field_names = true;
  std::string json;
  if (auto st = google::protobuf::util::MessageToJsonString(*plan, &json, options); !st.ok()) {
    std::cerr << "error: cannot print the plan as JSON: " << st.ToString() << "\n";
    return 1;
  }
  std::cout << json;
  return 0;
}

}  // namespace

void AddPlanCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<PlanArgs>();
  CLI::App* plan = app.add_subcommand("plan", "Preview how a model splits over a tp x pp group of ranks");
  plan->add_option("-m,--model", a->model, "Path to a .gguf model")->required();
  plan->add_option("--tp", a->tp, "Tensor-parallel ranks per stage")->capture_default_str()
      ->check(CLI::Range(1, 4096));
  plan->add_option("--pp", a->pp, "Pipeline stages")->capture_default_str()->check(CLI::Range(1, 4096));
  plan->add_option("--profiles", a->profiles,
                   "Device profiles JSON: {\"ranks\": [{\"name\", \"memory_bytes\" or \"memory_gib\", "
                   "\"compute_gflops\", \"bandwidth_gbs\"}, ...]}, one entry per rank or one for all "
                   "(default: a quick probe of this machine for every rank)");
  plan->add_option("--kv-tokens", a->kv_tokens, "KV budget: positions held at once over all sequences "
                                                "(default: the model's context length)")
      ->check(CLI::NonNegativeNumber);
  plan->add_option("--batch", a->batch, "Tokens per decode step, for the predicted step time")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  plan->add_flag("--json", a->json, "Print the plan as JSON instead of a table");
  plan->callback([a, &exit_code] { exit_code = RunPlan(*a); });
}

}  // namespace tessera::cli
