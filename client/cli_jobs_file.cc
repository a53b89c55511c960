#include "client/cli_jobs_file.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/cli_cluster.h"
#include "nlohmann/json.hpp"
#include "worker/sampler.h"

namespace tessera::cli {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

const std::set<std::string>& KnownFields() {
  static const std::set<std::string> fields = {"id",    "prompt", "prompt_tokens", "max_tokens", "temperature",
                                               "top_k", "top_p",  "seed",          "ignore_eos"};
  return fields;
}

absl::Status Wrong(const std::string& field, const std::string& want) {
  return absl::InvalidArgumentError(absl::StrCat("\"", field, "\" must be ", want));
}

absl::StatusOr<int64_t> Integer(const Json& object, const std::string& field, int64_t lo, int64_t hi,
                                int64_t fallback) {
  auto it = object.find(field);
  if (it == object.end()) return fallback;
  const std::string want = absl::StrCat("an integer in [", lo, ", ", hi, "]");
  if (!it->is_number_integer()) return Wrong(field, want);
  // JSON's non-negative integers arrive unsigned and may exceed int64.
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(hi)) return Wrong(field, want);
  const int64_t value = it->is_number_unsigned() ? static_cast<int64_t>(it->get<uint64_t>()) : it->get<int64_t>();
  if (value < lo || value > hi) return Wrong(field, want);
  return value;
}

absl::StatusOr<double> Number(const Json& object, const std::string& field, double fallback) {
  auto it = object.find(field);
  if (it == object.end()) return fallback;
  if (!it->is_number()) return Wrong(field, "a number");
  return it->get<double>();
}

absl::StatusOr<proto::GenerateRequest> BuildRequest(const Json& j, const std::string& id, const JobDefaults& d) {
  for (const auto& [key, value] : j.items()) {
    if (KnownFields().count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field \"", key,
          "\" (known: id, prompt, prompt_tokens, max_tokens, temperature, top_k, top_p, seed, ignore_eos)"));
    }
  }
  proto::GenerateRequest request;
  request.set_request_id(id);
  request.set_stream(true);
  const bool has_prompt = j.contains("prompt");
  const bool has_tokens = j.contains("prompt_tokens");
  if (has_prompt == has_tokens) {
    return absl::InvalidArgumentError("give exactly one of \"prompt\" (text) and \"prompt_tokens\" (token ids)");
  }
  if (has_prompt) {
    if (!j["prompt"].is_string()) return Wrong("prompt", "a string");
    request.set_prompt(j["prompt"].get<std::string>());
  } else {
    const Json& tokens = j["prompt_tokens"];
    if (!tokens.is_array()) return Wrong("prompt_tokens", "an array of token ids");
    for (const Json& t : tokens) {
      const bool in_range = t.is_number_unsigned()
                                ? t.get<uint64_t>() <= uint64_t{std::numeric_limits<int32_t>::max()}
                                : t.is_number_integer() && t.get<int64_t>() >= 0 &&
                                      t.get<int64_t>() <= std::numeric_limits<int32_t>::max();
      if (!in_range) {
        return Wrong("prompt_tokens", "an array of token ids (integers >= 0)");
      }
      request.add_prompt_tokens(t.get<int32_t>());
    }
  }
  auto max_tokens = Integer(j, "max_tokens", 1, int64_t{1} << 20, d.max_tokens);
  if (!max_tokens.ok()) return max_tokens.status();
  auto temperature = Number(j, "temperature", d.temperature);
  if (!temperature.ok()) return temperature.status();
  auto top_k = Integer(j, "top_k", 0, std::numeric_limits<int32_t>::max(), d.top_k);
  if (!top_k.ok()) return top_k.status();
  auto top_p = Number(j, "top_p", d.top_p);
  if (!top_p.ok()) return top_p.status();
  uint64_t seed = d.seed;
  if (auto it = j.find("seed"); it != j.end()) {
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
      return Wrong("seed", "an integer >= 0");
    }
    seed = it->get<uint64_t>();
  }
  bool ignore_eos = d.ignore_eos;
  if (auto it = j.find("ignore_eos"); it != j.end()) {
    if (!it->is_boolean()) return Wrong("ignore_eos", "true or false");
    ignore_eos = it->get<bool>();
  }
  const SamplingParams sampling{static_cast<float>(*temperature), static_cast<int32_t>(*top_k),
                                static_cast<float>(*top_p), seed};
  if (auto st = ValidateSamplingParams(sampling); !st.ok()) return st;
  request.set_max_tokens(static_cast<int32_t>(*max_tokens));
  request.set_ignore_eos(ignore_eos);
  proto::SamplingOptions* s = request.mutable_sampling();
  s->set_temperature(sampling.temperature);
  s->set_top_k(sampling.top_k);
  s->set_top_p(sampling.top_p);
  s->set_seed(sampling.seed);
  return request;
}

}  // namespace

std::string DefaultJobId(const std::string& stem, int line_number, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  uint32_t h = 2166136261u;
  for (char c : line) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  const std::string suffix = absl::StrCat("-", line_number, "-", absl::Hex(h, absl::kZeroPad8));
  constexpr size_t kMaxIdBytes = 128;
  return absl::StrCat(stem.substr(0, kMaxIdBytes - std::min(kMaxIdBytes, suffix.size())), suffix);
}

JobLine ParseJobLine(const std::string& line, const std::string& default_id, const JobDefaults& defaults) {
  JobLine out;
  out.id = default_id;
  Json j;
  try {
    j = Json::parse(line);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    if (const size_t cut = what.find("] "); cut != std::string::npos) what = what.substr(cut + 2);
    out.request = absl::InvalidArgumentError(absl::StrCat("not JSON: ", what));
    return out;
  }
  if (!j.is_object()) {
    out.request = absl::InvalidArgumentError("not a JSON object");
    return out;
  }
  if (auto it = j.find("id"); it != j.end()) {
    if (!it->is_string() || it->get<std::string>().empty() || it->get<std::string>().size() > 128) {
      out.request = Wrong("id", "a string of 1 to 128 bytes");
      return out;
    }
    out.id = it->get<std::string>();
  }
  out.request = BuildRequest(j, out.id, defaults);
  return out;
}

std::string ResultLine(const std::string& id, const proto::GenerateResult& r) {
  OrderedJson j;
  j["id"] = id;
  j["text"] = r.text();
  j["tokens"] = std::vector<int32_t>(r.tokens().begin(), r.tokens().end());
  j["finish_reason"] = FinishReasonName(r.finish_reason());
  j["prompt_tokens"] = r.usage().prompt_tokens();
  j["completion_tokens"] = r.usage().completion_tokens();
  j["queue_ms"] = r.timings().queue_ms();
  j["ttft_ms"] = r.timings().ttft_ms();
  j["tpot_ms"] = r.timings().tpot_ms();
  j["total_ms"] = r.timings().total_ms();
  j["group"] = r.group();
  // Text from a model may hold bytes that are not UTF-8: replaced, not fatal.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ErrorLine(const std::string& id, const absl::Status& status) {
  OrderedJson j;
  j["id"] = id;
  j["error"] = {{"code", ErrorCodeName(status)}, {"message", std::string(status.message())}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tessera::cli
