// The NCCL communicator's abort path on one GPU: a collective whose peer
// never arrives, and an NCCL init whose peer died. Everything runs under a
// watchdog; a hang aborts the test binary. Needs a GPU; skips without.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "comm/loopback.h"
#include "comm/nccl/nccl_communicator.h"
#include "comm/nccl/nccl_setup.h"
#include "tests/unit/comm_nccl/nccl_test_support.h"

namespace tessera {
namespace {

using nccl_test::DeviceBuffer;
using nccl_test::RunRanks;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::Duration kWatchdog = absl::Seconds(60);
constexpr absl::Duration kStallTimeout = absl::Milliseconds(300);
constexpr absl::Duration kInitTimeout = absl::Seconds(2);

TEST(NcclAbortTest, CollectiveWhosePeerNeverArrivesTimesOutAbortsAndBreaks) {
  TESSERA_SKIP_WITHOUT_GPU();
  auto hub = LoopbackHub::Create(1);
  std::vector<int> done = RunRanks<int>(1, kWatchdog, [hub](int) {
    auto made = MakeNcclCommunicator(hub->Connect(0), 0, absl::Seconds(30));
    EXPECT_TRUE(made.ok()) << made.status();
    if (!made.ok()) return 0;
    auto* comm = dynamic_cast<NcclCommunicator*>(made->get());
    EXPECT_NE(comm, nullptr);
    if (comm == nullptr) return 0;
    DeviceBuffer<float> floats(1024);
    EXPECT_TRUE(floats.ok());

    comm->StallNextCollectiveForTesting();
    const absl::Time start = absl::Now();
    absl::Status s = comm->AllReduceSum(floats.span(), kStallTimeout);
    const absl::Duration took = absl::Now() - start;
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
    EXPECT_THAT(s.message(), AllOf(HasSubstr("all-reduce of 4096 bytes on nccl world 0/1"),
                                   HasSubstr("not every rank joined within 300 ms")));
    EXPECT_GE(took, kStallTimeout);
    EXPECT_LT(took, kStallTimeout + absl::Seconds(5));

    // Broken: everything fails fast, device memory or host, naming the cause.
    const absl::Time after = absl::Now();
    s = comm->AllReduceSum(floats.span());
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(s.message(), AllOf(HasSubstr("broken"), HasSubstr("not every rank joined")));
    std::vector<float> host(4);
    EXPECT_EQ(comm->AllReduceSum(std::span<float>(host)).code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(comm->Barrier().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(comm->Split(0, 0).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_LT(absl::Now() - after, absl::Seconds(1));
    EXPECT_EQ(comm->stats().ops, 5);
    EXPECT_EQ(comm->stats().bytes_sent, 0);
    // The destructor (ncclCommAbort done, stream released) must not hang
    // either: it runs under the watchdog.
    made->reset();
    return 1;
  });
  EXPECT_EQ(done[0], 1);
}

TEST(NcclAbortTest, InitWhosePeerDiedTimesOutAndAborts) {
  TESSERA_SKIP_WITHOUT_GPU();
  // Rank 1 passes the GPU check, then dies before NCCL's init (it plays its
  // part of the exchange by hand and leaves). Rank 0 enters the real init,
  // waits for a peer that never comes, and aborts at the timeout.
  auto hub = LoopbackHub::Create(2);
  struct Outcome {
    absl::Status status;
    absl::Duration took;
  };
  std::vector<Outcome> got = RunRanks<Outcome>(2, kWatchdog, [hub](int r) {
    const absl::Time start = absl::Now();
    if (r == 1) {
      std::unique_ptr<Communicator> c = hub->Connect(1);
      absl::Status s = nccl_internal::AllRanksOk(*c, absl::OkStatus(), "preparing the GPU", absl::Seconds(30));
      return Outcome{s, absl::Now() - start};
    }
    auto comm = MakeNcclCommunicator(hub->Connect(0), 0, kInitTimeout);
    return Outcome{comm.status(), absl::Now() - start};
  });
  EXPECT_TRUE(got[1].status.ok()) << got[1].status;
  EXPECT_EQ(got[0].status.code(), absl::StatusCode::kDeadlineExceeded) << got[0].status;
  EXPECT_THAT(got[0].status.message(), AllOf(HasSubstr("setting up nccl world 0/2 on cuda:0"),
                                             HasSubstr("NCCL init: not every rank joined within 2 s")));
  EXPECT_GE(got[0].took, kInitTimeout);
  EXPECT_LT(got[0].took, kInitTimeout + absl::Seconds(10));
}

TEST(NcclAbortTest, DeviceBufferOfAnotherGpuIsRejected) {
  TESSERA_SKIP_WITHOUT_GPU();
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  if (count < 2) GTEST_SKIP() << "needs two GPUs";
  auto hub = LoopbackHub::Create(1);
  auto made = MakeNcclCommunicator(hub->Connect(0), 1, absl::Seconds(30));
  ASSERT_TRUE(made.ok()) << made.status();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  DeviceBuffer<float> on_zero(4);
  ASSERT_TRUE(on_zero.ok());
  absl::Status s = (*made)->AllReduceSum(on_zero.span());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("the buffer is on cuda:0, this communicator's GPU is cuda:1"));
}

}  // namespace
}  // namespace tessera
