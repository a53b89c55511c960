// Setting up the NCCL communicator where it must fail, quickly and on every
// rank together. These run without a GPU (so CI checks the code path), except
// where a test says otherwise.
#include "comm/nccl/nccl_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "comm/loopback.h"
#include "comm/nccl/nccl_communicator.h"
#include "tests/unit/comm_nccl/nccl_test_support.h"

namespace tessera {
namespace {

using nccl_test::RunRanks;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWatchdog = absl::Seconds(60);

struct Outcome {
  absl::Status status;
  absl::Duration took;
};

// Every rank of a fresh hub of `n` calls MakeNcclCommunicator on its device.
std::vector<Outcome> MakeOnEveryRank(const std::vector<int>& devices, absl::Duration timeout) {
  auto hub = LoopbackHub::Create(static_cast<int>(devices.size()));
  return RunRanks<Outcome>(static_cast<int>(devices.size()), kWatchdog, [&, hub](int r) {
    const absl::Time start = absl::Now();
    auto comm = MakeNcclCommunicator(hub->Connect(r), devices[r], timeout);
    return Outcome{comm.status(), absl::Now() - start};
  });
}

TEST(NcclSetupTest, AllRanksOkWhenEveryRankIs) {
  auto hub = LoopbackHub::Create(3);
  std::vector<absl::Status> got = RunRanks<absl::Status>(3, kWatchdog, [hub](int r) {
    std::unique_ptr<Communicator> c = hub->Connect(r);
    return nccl_internal::AllRanksOk(*c, absl::OkStatus(), "checking", absl::Seconds(10));
  });
  for (const absl::Status& s : got) EXPECT_TRUE(s.ok()) << s;
}

TEST(NcclSetupTest, AllRanksOkTellsEveryRankWhichRankFailedAndWhy) {
  auto hub = LoopbackHub::Create(3);
  std::vector<absl::Status> got = RunRanks<absl::Status>(3, kWatchdog, [hub](int r) {
    std::unique_ptr<Communicator> c = hub->Connect(r);
    const absl::Status mine = r == 1 ? absl::InternalError("cuda:7: the GPU fell off the bus") : absl::OkStatus();
    return nccl_internal::AllRanksOk(*c, mine, "preparing the GPU", absl::Seconds(10));
  });
  // The failed rank keeps its own code; the others are told the group cannot
  // be set up.
  EXPECT_EQ(got[0].code(), absl::StatusCode::kFailedPrecondition) << got[0];
  EXPECT_EQ(got[1].code(), absl::StatusCode::kInternal) << got[1];
  EXPECT_EQ(got[2].code(), absl::StatusCode::kFailedPrecondition) << got[2];
  for (int r = 0; r < 3; ++r) {
    EXPECT_THAT(got[r].message(), AllOf(HasSubstr("preparing the GPU failed on 1 of 3 ranks"), HasSubstr("rank 1"),
                                        HasSubstr("cuda:7: the GPU fell off the bus")))
        << r;
    EXPECT_THAT(got[r].message(), Not(HasSubstr("rank 0"))) << r;
  }
  EXPECT_THAT(got[1].message(), HasSubstr("(this rank)"));
}

TEST(NcclSetupTest, AllRanksOkKeepsLongReasonsOnTheRankThatFailed) {
  auto hub = LoopbackHub::Create(2);
  const std::string long_reason(1000, 'x');
  std::vector<absl::Status> got = RunRanks<absl::Status>(2, kWatchdog, [&, hub](int r) {
    std::unique_ptr<Communicator> c = hub->Connect(r);
    const absl::Status mine = r == 0 ? absl::FailedPreconditionError(long_reason) : absl::OkStatus();
    return nccl_internal::AllRanksOk(*c, mine, "step", absl::Seconds(10));
  });
  EXPECT_THAT(got[0].message(), HasSubstr(long_reason));
  // A peer gets the reason cut to the record's size, never more.
  EXPECT_THAT(got[1].message(), HasSubstr(std::string(200, 'x')));
  EXPECT_THAT(got[1].message(), Not(HasSubstr(std::string(300, 'x'))));
}

TEST(NcclSetupTest, MissingDeviceOnOneRankFailsEveryRankQuicklyNamingIt) {
  // Rank 1 asks for a device no machine here has; rank 0 for the first GPU
  // (there may be none). Neither may wait for the 30 s timeout.
  std::vector<Outcome> got = MakeOnEveryRank({0, 999}, absl::Seconds(30));
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(got[r].status.code(), absl::StatusCode::kFailedPrecondition) << got[r].status;
    EXPECT_THAT(got[r].status.message(),
                AllOf(HasSubstr("cuda:999"), HasSubstr("rank 1"), HasSubstr("preparing the GPU")))
        << r;
    EXPECT_LT(got[r].took, absl::Seconds(10)) << r;
  }
  EXPECT_THAT(got[0].status.message(), HasSubstr("setting up nccl world 0/2 on cuda:0"));
  EXPECT_THAT(got[1].status.message(), HasSubstr("setting up nccl world 1/2 on cuda:999"));
}

TEST(NcclSetupTest, WithoutAGpuEveryRankGetsFailedPreconditionNamingTheDevice) {
  if (nccl_test::GpuVisible()) GTEST_SKIP() << "a GPU is visible: this test is for machines without one";
  std::vector<Outcome> got = MakeOnEveryRank({0, 0}, absl::Seconds(30));
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(got[r].status.code(), absl::StatusCode::kFailedPrecondition) << got[r].status;
    EXPECT_THAT(got[r].status.message(),
                AllOf(HasSubstr("cuda:0: no CUDA device is visible"), HasSubstr("failed on 2 of 2 ranks")))
        << r;
    EXPECT_LT(got[r].took, absl::Seconds(10)) << r;
  }
}

TEST(NcclSetupTest, RankThatNeverJoinsIsADeadlineNotAHang) {
  // Rank 1 of the hub never calls anything. Whether or not this machine has a
  // GPU, rank 0 must give up after its timeout.
  auto hub = LoopbackHub::Create(2);
  constexpr absl::Duration kTimeout = absl::Milliseconds(300);
  std::vector<Outcome> got = RunRanks<Outcome>(1, kWatchdog, [hub](int) {
    const absl::Time start = absl::Now();
    auto comm = MakeNcclCommunicator(hub->Connect(0), 0, kTimeout);
    return Outcome{comm.status(), absl::Now() - start};
  });
  EXPECT_EQ(got[0].status.code(), absl::StatusCode::kDeadlineExceeded) << got[0].status;
  EXPECT_THAT(got[0].status.message(), AllOf(HasSubstr("setting up nccl world 0/2"), HasSubstr("rank 1")));
  EXPECT_GE(got[0].took, kTimeout);
  EXPECT_LT(got[0].took, kTimeout + absl::Seconds(3));
}

// Sets an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name); old != nullptr) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(NcclSetupTest, BlockingModeFromTheEnvironmentIsRefusedOnEveryRank) {
  // NCCL_COMM_BLOCKING=1 would override the non-blocking config and let a
  // dead peer hang NCCL's init; every rank refuses before NCCL is touched,
  // GPU or not.
  {
    ScopedEnv blocking("NCCL_COMM_BLOCKING", "1");
    std::vector<Outcome> got = MakeOnEveryRank({0, 0}, absl::Seconds(30));
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(got[r].status.code(), absl::StatusCode::kFailedPrecondition) << got[r].status;
      EXPECT_THAT(got[r].status.message(),
                  AllOf(HasSubstr("NCCL_COMM_BLOCKING=1"), HasSubstr("failed on 2 of 2 ranks")))
          << r;
      EXPECT_LT(got[r].took, absl::Seconds(10)) << r;
    }
  }
  {
    ScopedEnv nonblocking("NCCL_COMM_BLOCKING", "0");
    EXPECT_TRUE(nccl_internal::CheckNonBlockingAllowed().ok());
  }
  {
    ScopedEnv hex("NCCL_COMM_BLOCKING", "0x1");  // NCCL parses with base 0
    EXPECT_EQ(nccl_internal::CheckNonBlockingAllowed().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(NcclSetupTest, NegativeDeviceAndNoBootstrapAreRejected) {
  auto hub = LoopbackHub::Create(1);
  auto negative = MakeNcclCommunicator(hub->Connect(0), -1, absl::Seconds(5));
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument) << negative.status();
  EXPECT_THAT(negative.status().message(), HasSubstr("cuda:-1"));
  auto none = MakeNcclCommunicator(nullptr, 0, absl::Seconds(5));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument) << none.status();
}

}  // namespace
}  // namespace tessera
