// The NCCL communicator's waiting helpers: the poll pacing and deadline, the
// mapping of NCCL's errors to Status codes (both without a GPU), and that
// polling a busy stream leaves no CUDA error behind (needs a GPU).
#include "comm/nccl/nccl_wait.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "tests/unit/comm_nccl/nccl_test_support.h"

namespace tessera {
namespace {

using nccl_test::DeviceBuffer;
using ::testing::HasSubstr;

TEST(NcclWaitTest, PacerStopsAtItsDeadlineAndNotBefore) {
  constexpr absl::Duration kLimit = absl::Milliseconds(30);
  const absl::Time start = absl::Now();
  nccl_internal::Pacer pacer(start + kLimit);
  int polls = 0;
  while (pacer.Next()) ++polls;
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, kLimit);
  // Sleeps are capped at 1 ms and never run past the deadline.
  EXPECT_LT(took, kLimit + absl::Milliseconds(200));
  // It spins for the first millisecond, then sleeps: many polls, not one.
  EXPECT_GT(polls, 10);
}

TEST(NcclWaitTest, PacerWithAPastDeadlineStopsAtOnce) {
  nccl_internal::Pacer pacer(absl::Now() - absl::Milliseconds(1));
  EXPECT_FALSE(pacer.Next());
}

TEST(NcclWaitTest, NcclErrorsMapToStatusCodes) {
  absl::Status s = nccl_internal::NcclError(ncclRemoteError, "all-reduce on nccl tp 0/2");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("all-reduce on nccl tp 0/2: ncclRemoteError (6)"));
  EXPECT_EQ(nccl_internal::NcclError(ncclSystemError, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(nccl_internal::NcclError(ncclInvalidUsage, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nccl_internal::NcclError(ncclInvalidArgument, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nccl_internal::NcclError(ncclInternalError, "x").code(), absl::StatusCode::kInternal);
}

TEST(NcclWaitTest, DrainingABusyStreamLeavesNoCudaErrorBehind) {
  TESSERA_SKIP_WITHOUT_GPU();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  DeviceBuffer<std::byte> big(size_t{1} << 30);
  ASSERT_TRUE(big.ok());
  // Tens of milliseconds of work, so the first polls find it unfinished.
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(cudaMemsetAsync(big.bytes().data(), i, big.bytes().size(), stream), cudaSuccess);
  }
  (void)cudaGetLastError();
  EXPECT_TRUE(nccl_internal::DrainStream(stream, absl::Seconds(30)));
  // The CUDA backend checks each launch with cudaGetLastError: a "not ready"
  // left by a poll would fail its next, unrelated kernel.
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

}  // namespace
}  // namespace tessera
