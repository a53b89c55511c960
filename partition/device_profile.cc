#include "partition/device_profile.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using nlohmann::json;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Far above any device, far below int64's limit, so conversions never overflow.
constexpr double kMaxMemoryBytes = 0x1p60;

std::string JsonType(const json& v) { return v.type_name(); }

// A positive finite number, or an error naming the entry and field.
absl::StatusOr<double> Positive(const json& entry, const std::string& where, const char* field) {
  auto it = entry.find(field);
  if (it == entry.end()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": missing field \"", field, "\""));
  }
  if (!it->is_number()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": field \"", field,
                                                   "\" must be a number, got ", JsonType(*it)));
  }
  const double v = it->get<double>();
  if (!(v > 0) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": field \"", field, "\" must be positive, got ", it->dump()));
  }
  return v;
}

absl::StatusOr<int64_t> MemoryBytes(const json& entry, const std::string& where) {
  const bool has_bytes = entry.contains("memory_bytes");
  const bool has_gib = entry.contains("memory_gib");
  if (has_bytes && has_gib) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": give \"memory_bytes\" or \"memory_gib\", not both"));
  }
  if (!has_bytes && !has_gib) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": missing field \"memory_bytes\" (or \"memory_gib\")"));
  }
  const char* field = has_bytes ? "memory_bytes" : "memory_gib";
  auto v = Positive(entry, where, field);
  if (!v.ok()) return v.status();
  const double bytes = has_bytes ? *v : *v * kGiB;
  if (has_bytes && bytes != std::floor(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": field \"memory_bytes\" must be a whole number, got ", entry[field].dump()));
  }
  if (bytes > kMaxMemoryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": field \"", field, "\" is too large: ", entry[field].dump()));
  }
  return static_cast<int64_t>(std::llround(bytes));
}

absl::StatusOr<proto::DeviceProfile> ParseEntry(const json& entry, const std::string& where) {
  if (!entry.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " must be an object, got ", JsonType(entry)));
  }
  // A misspelt field would otherwise be silently ignored and its value lost.
  for (const auto& [key, value] : entry.items()) {
    if (key != "name" && key != "memory_bytes" && key != "memory_gib" &&
        key != "compute_gflops" && key != "bandwidth_gbs") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown field \"", key,
                       "\" (expected name, memory_bytes or memory_gib, compute_gflops, bandwidth_gbs)"));
    }
  }
  proto::DeviceProfile p;
  auto name = entry.find("name");
  if (name == entry.end()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": missing field \"name\""));
  }
  if (!name->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": field \"name\" must be a string, got ", JsonType(*name)));
  }
  p.set_name(name->get<std::string>());
  auto memory = MemoryBytes(entry, where);
  if (!memory.ok()) return memory.status();
  p.set_memory_bytes(*memory);
  auto gflops = Positive(entry, where, "compute_gflops");
  if (!gflops.ok()) return gflops.status();
  p.set_compute_flops(*gflops * 1e9);
  auto gbs = Positive(entry, where, "bandwidth_gbs");
  if (!gbs.ok()) return gbs.status();
  p.set_memory_bandwidth(*gbs * 1e9);
  return p;
}

}  // namespace

absl::StatusOr<std::vector<proto::DeviceProfile>> ParseProfilesJson(std::string_view text,
                                                                    int n_ranks) {
  if (n_ranks < 1) {
    return absl::InvalidArgumentError(absl::StrCat("profiles for ", n_ranks, " ranks requested"));
  }
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann reports malformed text by exception; it ends here.
    return absl::InvalidArgumentError(absl::StrCat("profiles are not valid JSON: ", e.what()));
  }
  if (!doc.is_object() || !doc.contains("ranks")) {
    return absl::InvalidArgumentError(
        "profiles must be an object with a \"ranks\" array: {\"ranks\": [{...}, ...]}");
  }
  const json& ranks = doc["ranks"];
  if (!ranks.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"ranks\" must be an array, got ", JsonType(ranks)));
  }
  const size_t n = ranks.size();
  if (n != 1 && n != static_cast<size_t>(n_ranks)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"ranks\" has ", n, " entries; the group has ", n_ranks,
        " ranks (give one entry per rank, or exactly one for all of them)"));
  }
  std::vector<proto::DeviceProfile> out;
  out.reserve(static_cast<size_t>(n_ranks));
  for (size_t i = 0; i < n; ++i) {
    auto p = ParseEntry(ranks[i], absl::StrCat("ranks[", i, "]"));
    if (!p.ok()) return p.status();
    out.push_back(*std::move(p));
  }
  while (out.size() < static_cast<size_t>(n_ranks)) out.push_back(out.front());
  return out;
}

std::string ProfilesToJson(const std::vector<proto::DeviceProfile>& profiles) {
  json ranks = json::array();
  for (const proto::DeviceProfile& p : profiles) {
    ranks.push_back(json{{"name", p.name()},
                         {"memory_bytes", p.memory_bytes()},
                         {"compute_gflops", p.compute_flops() / 1e9},
                         {"bandwidth_gbs", p.memory_bandwidth() / 1e9}});
  }
  // Replace, not throw, on a name that is not UTF-8.
  return json{{"ranks", ranks}}.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace tessera
