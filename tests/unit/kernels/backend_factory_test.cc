// The backend factory: --device strings, the CPU backend it makes, and the
// answer for a GPU this process cannot use (a build without CUDA, a machine
// without a GPU, an ordinal past the last GPU).
#include "kernels/factory/backend_factory.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(ParseDeviceSpecTest, AcceptsCpuCudaAndCudaOrdinals) {
  struct Case {
    std::string text;
    DeviceSpec::Kind kind;
    int ordinal;
    std::string canonical;
  };
  const std::vector<Case> cases = {
      {"cpu", DeviceSpec::Kind::kCpu, 0, "cpu"},
      {"cuda", DeviceSpec::Kind::kCuda, 0, "cuda:0"},
      {"cuda:0", DeviceSpec::Kind::kCuda, 0, "cuda:0"},
      {"cuda:1", DeviceSpec::Kind::kCuda, 1, "cuda:1"},
      {"cuda:15", DeviceSpec::Kind::kCuda, 15, "cuda:15"},
      {"cuda:007", DeviceSpec::Kind::kCuda, 7, "cuda:7"},
  };
  for (const Case& c : cases) {
    auto spec = ParseDeviceSpec(c.text);
    ASSERT_TRUE(spec.ok()) << c.text << ": " << spec.status();
    EXPECT_EQ(spec->kind, c.kind) << c.text;
    EXPECT_EQ(spec->ordinal, c.ordinal) << c.text;
    EXPECT_EQ(spec->ToString(), c.canonical) << c.text;
    // The canonical form parses back to the same device.
    auto again = ParseDeviceSpec(spec->ToString());
    ASSERT_TRUE(again.ok()) << c.text;
    EXPECT_EQ(again->kind, c.kind);
    EXPECT_EQ(again->ordinal, c.ordinal);
  }
}

TEST(ParseDeviceSpecTest, RejectsAnythingElseNamingTheText) {
  for (const std::string text : {"", "gpu", "CPU", "Cuda", "cuda:", "cuda:-1", "cuda:+1", "cuda:x", "cuda:1x",
                                 "cuda:1.5", "cuda:0 ", " cpu", "cpu:0", "cuda0", "cuda::0",
                                 "cuda:99999999999999999999", "mps", "rocm:0"}) {
    auto spec = ParseDeviceSpec(text);
    ASSERT_FALSE(spec.ok()) << "'" << text << "' parsed as " << spec->ToString();
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(spec.status().message().find("'" + text + "'"), std::string::npos) << spec.status();
    EXPECT_NE(spec.status().message().find("cuda:N"), std::string::npos) << spec.status();
  }
}

TEST(MakeBackendTest, CpuGivesAWorkingHostBackend) {
  CpuBackendOptions options;
  options.threads = 2;
  auto backend = MakeBackend(DeviceSpec{}, options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  Backend& b = **backend;
  EXPECT_TRUE(b.host_memory());
  EXPECT_EQ(b.threads(), 2);
  EXPECT_EQ(b.name().substr(0, 4), "cpu-");

  // A round trip through its memory and one op.
  auto buf = b.Allocate(4 * sizeof(float));
  ASSERT_TRUE(buf.ok()) << buf.status();
  auto* x = static_cast<float*>(buf->get());
  const float in[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  b.CopyIn(x, in, sizeof(in));
  b.Add(x, x, 4);
  float out[4] = {};
  ASSERT_TRUE(b.CopyOut(out, x, sizeof(out)).ok());
  EXPECT_EQ(out[0], 2.0f);
  EXPECT_EQ(out[3], 8.0f);
  EXPECT_TRUE(b.Finish().ok());
}

// No machine has a thousand GPUs: whatever this build and machine are, the
// answer is FailedPrecondition naming the device.
TEST(MakeBackendTest, AnOrdinalPastTheLastGpuIsFailedPrecondition) {
  auto backend = MakeBackend(DeviceSpec{DeviceSpec::Kind::kCuda, 1000}, {});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition) << backend.status();
  EXPECT_NE(backend.status().message().find("cuda:1000"), std::string::npos) << backend.status();

  auto probe = ProbeGpu(1000);
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kFailedPrecondition) << probe.status();
  EXPECT_NE(probe.status().message().find("cuda:1000"), std::string::npos) << probe.status();
}

// cuda:0 is either a working device backend (a GPU is visible to this CUDA
// build) or, on a machine without a GPU or in a build without CUDA,
// FailedPrecondition naming the device and saying why.
TEST(MakeBackendTest, CudaZeroIsADeviceBackendOrFailedPrecondition) {
  auto backend = MakeBackend(DeviceSpec{DeviceSpec::Kind::kCuda, 0}, {});
  if (backend.ok()) {
    ASSERT_TRUE(BuildHasCuda());
    EXPECT_FALSE((*backend)->host_memory());
    EXPECT_EQ((*backend)->name().substr(0, 7), "cuda:0 ");
    EXPECT_TRUE((*backend)->Finish().ok());
    return;
  }
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition) << backend.status();
  const std::string message(backend.status().message());
  EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
  if (BuildHasCuda()) {
    EXPECT_NE(message.find("sees 0 GPUs"), std::string::npos) << message;
  } else {
    EXPECT_NE(message.find("this build has no GPU backend"), std::string::npos) << message;
  }
}

// The GPU libraries are a module loaded on first use: a process that only
// computes on the CPU never maps cuBLAS or cuBLASLt, which alone cost about
// 160 MiB of resident memory. Checked in a fresh process (other tests here ask
// for a GPU, which loads the module).
bool MapsCublas() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("libcublas") != std::string::npos) return true;
  }
  return false;
}

TEST(MakeBackendTest, ACpuProcessMapsNoCublas) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // re-executes the binary: a fresh process
  EXPECT_EXIT(
      {
        auto cpu = MakeBackend(DeviceSpec{}, {});
        std::exit(cpu.ok() && !MapsCublas() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace tessera
