#include "partition/device_profile.h"

#include <string>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(ProfilesJsonTest, OneEntryPerRank) {
  auto p = ParseProfilesJson(R"({"ranks": [
      {"name": "h100", "memory_gib": 80, "compute_gflops": 400000, "bandwidth_gbs": 3000},
      {"name": "cpu", "memory_bytes": 1073741824, "compute_gflops": 1.5, "bandwidth_gbs": 20.25}]})",
                             2);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].name(), "h100");
  EXPECT_EQ((*p)[0].memory_bytes(), int64_t{80} << 30);
  EXPECT_DOUBLE_EQ((*p)[0].compute_flops(), 4e14);
  EXPECT_DOUBLE_EQ((*p)[0].memory_bandwidth(), 3e12);
  EXPECT_EQ((*p)[1].memory_bytes(), int64_t{1} << 30);
  EXPECT_DOUBLE_EQ((*p)[1].compute_flops(), 1.5e9);
  EXPECT_DOUBLE_EQ((*p)[1].memory_bandwidth(), 20.25e9);
}

TEST(ProfilesJsonTest, OneEntryForAllRanks) {
  auto p = ParseProfilesJson(
      R"({"ranks": [{"name": "cpu", "memory_gib": 0.5, "compute_gflops": 10, "bandwidth_gbs": 5}]})", 6);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 6u);
  for (const auto& d : *p) {
    EXPECT_EQ(d.name(), "cpu");
    EXPECT_EQ(d.memory_bytes(), int64_t{1} << 29);
  }
}

TEST(ProfilesJsonTest, RoundTrip) {
  auto p = ParseProfilesJson(R"({"ranks": [
      {"name": "a \"quoted\" name", "memory_bytes": 123456789, "compute_gflops": 0.1, "bandwidth_gbs": 7.3},
      {"name": "b", "memory_gib": 3, "compute_gflops": 1e6, "bandwidth_gbs": 1e-3}]})",
                             2);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string text = ProfilesToJson(*p);
  auto again = ParseProfilesJson(text, 2);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << text;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*again)[i].name(), (*p)[i].name());
    EXPECT_EQ((*again)[i].memory_bytes(), (*p)[i].memory_bytes());
    EXPECT_DOUBLE_EQ((*again)[i].compute_flops(), (*p)[i].compute_flops());
    EXPECT_DOUBLE_EQ((*again)[i].memory_bandwidth(), (*p)[i].memory_bandwidth());
  }
}

TEST(ProfilesJsonTest, ErrorsNameTheEntryAndField) {
  struct Case {
    const char* json;
    int ranks;
    const char* says;
  };
  const std::string good = R"("name": "x", "memory_gib": 1, "compute_gflops": 1, "bandwidth_gbs": 1)";
  auto one = [](const std::string& body) { return R"({"ranks": [{)" + body + "}]}"; };
  const std::string two_then_bad =
      R"({"ranks": [{"name": "x", "memory_gib": 1, "compute_gflops": 1, "bandwidth_gbs": 1},
                    {"name": "y", "memory_gib": 1, "compute_gflops": 1}]})";
  const std::string neg = one(R"("name": "x", "memory_gib": -1, "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string zero = one(R"("name": "x", "memory_gib": 1, "compute_gflops": 0, "bandwidth_gbs": 1)");
  const std::string str = one(R"("name": "x", "memory_gib": 1, "compute_gflops": "fast", "bandwidth_gbs": 1)");
  const std::string bad_name = one(R"("name": 7, "memory_gib": 1, "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string no_name = one(R"("memory_gib": 1, "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string no_mem = one(R"("name": "x", "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string both = one(R"("name": "x", "memory_gib": 1, "memory_bytes": 5, "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string frac = one(R"("name": "x", "memory_bytes": 1.5, "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string typo = one(good + R"(, "memory_gb": 2)");
  const std::string huge = one(R"("name": "x", "memory_gib": 1e30, "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string boolean = one(R"("name": "x", "memory_gib": true, "compute_gflops": 1, "bandwidth_gbs": 1)");
  const std::string three = R"({"ranks": [{)" + good + "}, {" + good + "}, {" + good + "}]}";
  const Case cases[] = {
      {"{", 1, "not valid JSON"},
      {"[]", 1, "\"ranks\" array"},
      {R"({"devices": []})", 1, "\"ranks\" array"},
      {R"({"ranks": {}})", 1, "\"ranks\" must be an array, got object"},
      {R"({"ranks": []})", 2, "\"ranks\" has 0 entries; the group has 2 ranks"},
      {three.c_str(), 2, "\"ranks\" has 3 entries; the group has 2 ranks"},
      {R"({"ranks": [5]})", 1, "ranks[0] must be an object, got number"},
      {two_then_bad.c_str(), 2, "ranks[1]: missing field \"bandwidth_gbs\""},
      {neg.c_str(), 1, "ranks[0]: field \"memory_gib\" must be positive, got -1"},
      {zero.c_str(), 1, "ranks[0]: field \"compute_gflops\" must be positive, got 0"},
      {str.c_str(), 1, "ranks[0]: field \"compute_gflops\" must be a number, got string"},
      {bad_name.c_str(), 1, "ranks[0]: field \"name\" must be a string, got number"},
      {no_name.c_str(), 1, "ranks[0]: missing field \"name\""},
      {no_mem.c_str(), 1, "ranks[0]: missing field \"memory_bytes\" (or \"memory_gib\")"},
      {both.c_str(), 1, "not both"},
      {frac.c_str(), 1, "\"memory_bytes\" must be a whole number"},
      {typo.c_str(), 1, "ranks[0]: unknown field \"memory_gb\""},
      {huge.c_str(), 1, "too large"},
      {boolean.c_str(), 1, "must be a number, got boolean"},
  };
  for (const Case& c : cases) {
    auto p = ParseProfilesJson(c.json, c.ranks);
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(p.status().message().find(c.says), std::string::npos) << c.json << "\n" << p.status();
  }
}

}  // namespace
}  // namespace tessera
