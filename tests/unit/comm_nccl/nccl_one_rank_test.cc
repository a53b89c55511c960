// A one-rank NCCL communicator over a one-rank loopback: device memory goes
// through NCCL, host memory through the bootstrap. Needs a GPU; skips without.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <numeric>
#include <vector>

#include "comm/loopback.h"
#include "comm/nccl/nccl_communicator.h"
#include "tests/unit/comm_nccl/nccl_test_support.h"

namespace tessera {
namespace {

using nccl_test::DeviceBuffer;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<std::byte> Bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) out.push_back(static_cast<std::byte>(x));
  return out;
}

class NcclOneRankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_GPU();
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
    hub_ = LoopbackHub::Create(1);
    auto made = MakeNcclCommunicator(hub_->Connect(0), 0, absl::Seconds(30));
    ASSERT_TRUE(made.ok()) << made.status();
    comm_ = *std::move(made);
  }

  std::shared_ptr<LoopbackHub> hub_;
  std::unique_ptr<Communicator> comm_;
};

TEST_F(NcclOneRankTest, DescribesItself) {
  EXPECT_EQ(comm_->rank(), 0);
  EXPECT_EQ(comm_->size(), 1);
  EXPECT_EQ(comm_->name(), "nccl world 0/1");
  EXPECT_TRUE(comm_->takes_device_memory());
  comm_->set_label("tp");
  EXPECT_EQ(comm_->name(), "nccl tp 0/1");
  auto* nccl = dynamic_cast<NcclCommunicator*>(comm_.get());
  ASSERT_NE(nccl, nullptr);
  EXPECT_EQ(nccl->cuda_device(), 0);
}

TEST_F(NcclOneRankTest, CollectivesOnDeviceMemory) {
  // One rank: the sum is the rank's own values, the gather and broadcast its
  // own bytes.
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.001f, -0.0f};
  DeviceBuffer<float> floats(values.size());
  ASSERT_TRUE(floats.ok());
  ASSERT_TRUE(floats.Upload(values));
  ASSERT_TRUE(comm_->AllReduceSum(floats.span()).ok());
  EXPECT_THAT(floats.Download(), ElementsAreArray(values));

  DeviceBuffer<std::byte> send(3), recv(3);
  ASSERT_TRUE(send.ok() && recv.ok());
  ASSERT_TRUE(send.Upload(Bytes({7, 8, 9})));
  ASSERT_TRUE(recv.Upload(Bytes({0, 0, 0})));
  ASSERT_TRUE(comm_->AllGather(send.bytes(), recv.bytes()).ok());
  EXPECT_THAT(recv.Download(), ElementsAreArray(Bytes({7, 8, 9})));

  DeviceBuffer<std::byte> bcast(2);
  ASSERT_TRUE(bcast.ok());
  ASSERT_TRUE(bcast.Upload(Bytes({4, 2})));
  ASSERT_TRUE(comm_->Broadcast(bcast.bytes(), 0).ok());
  EXPECT_THAT(bcast.Download(), ElementsAreArray(Bytes({4, 2})));

  const CommStats& stats = comm_->stats();
  EXPECT_EQ(stats.ops, 3);
  EXPECT_EQ(stats.bytes_sent, 20 + 3 + 2);
  EXPECT_EQ(stats.bytes_received, 20 + 3 + 0);
  EXPECT_GT(stats.seconds, 0.0);
}

TEST_F(NcclOneRankTest, LargeAllReduceRunsAKernelAndKeepsTheValues) {
  std::vector<float> values(1 << 20);
  std::iota(values.begin(), values.end(), -1000.0f);
  DeviceBuffer<float> floats(values.size());
  ASSERT_TRUE(floats.ok());
  ASSERT_TRUE(floats.Upload(values));
  (void)cudaGetLastError();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(comm_->AllReduceSum(floats.span()).ok());
  // Polling the stream must not leave "not ready" behind for the CUDA
  // backend's next launch check to find.
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(floats.Download(), values);
}

TEST_F(NcclOneRankTest, HostMemoryGoesThroughTheBootstrap) {
  std::vector<float> host = {1.0f, 2.0f};
  ASSERT_TRUE(comm_->AllReduceSum(std::span<float>(host)).ok());
  EXPECT_THAT(host, ElementsAre(1.0f, 2.0f));
  float* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, 2 * sizeof(float)), cudaSuccess);
  pinned[0] = 5.0f;
  pinned[1] = 6.0f;
  EXPECT_TRUE(comm_->AllReduceSum(std::span<float>(pinned, 2)).ok());

  // Killing the loopback rank fails what goes over the loopback, pinned host
  // memory included, with the loopback's own error; the failure breaks the
  // NCCL communicator too, device memory or not.
  hub_->Kill(0);
  absl::Status s = comm_->AllReduceSum(std::span<float>(pinned, 2));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("loopback world 0/1"));
  ASSERT_EQ(cudaFreeHost(pinned), cudaSuccess);
  DeviceBuffer<float> floats(2);
  ASSERT_TRUE(floats.ok());
  s = comm_->AllReduceSum(floats.span());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("broken"));
  EXPECT_THAT(s.message(), HasSubstr("nccl world 0/1"));
}

TEST_F(NcclOneRankTest, SendAndRecvToSelfFromDeviceAndHostMemory) {
  DeviceBuffer<std::byte> from(4), to(4);
  ASSERT_TRUE(from.ok() && to.ok());
  ASSERT_TRUE(from.Upload(Bytes({1, 2, 3, 4})));
  ASSERT_TRUE(to.Upload(Bytes({0, 0, 0, 0})));
  ASSERT_TRUE(comm_->Send(from.bytes(), 0, 5).ok());
  ASSERT_TRUE(comm_->Recv(to.bytes(), 0, 5).ok());
  EXPECT_THAT(to.Download(), ElementsAreArray(Bytes({1, 2, 3, 4})));

  // Device to host and host to device, and a message of any size.
  ASSERT_TRUE(comm_->Send(from.bytes(), 0, 6).ok());
  std::vector<std::byte> host(4);
  ASSERT_TRUE(comm_->Recv(std::span<std::byte>(host), 0, 6).ok());
  EXPECT_EQ(host, Bytes({1, 2, 3, 4}));
  const std::vector<std::byte> back = Bytes({9, 8, 7, 6});
  ASSERT_TRUE(comm_->Send(std::span<const std::byte>(back), 0, 7).ok());
  ASSERT_TRUE(comm_->Recv(to.bytes(), 0, 7).ok());
  EXPECT_THAT(to.Download(), ElementsAreArray(back));
  ASSERT_TRUE(comm_->Send(from.bytes(), 0, 8).ok());
  auto any = comm_->RecvAny(0, 8);
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(*any, Bytes({1, 2, 3, 4}));

  EXPECT_EQ(comm_->stats().bytes_sent, 16);
  EXPECT_EQ(comm_->stats().bytes_received, 16);
  EXPECT_EQ(comm_->stats().ops, 8);
  ASSERT_TRUE(comm_->Barrier().ok());

  // A wrong size loses the message but leaves the communicator usable.
  ASSERT_TRUE(comm_->Send(from.bytes(), 0, 9).ok());
  EXPECT_EQ(comm_->Recv(std::span<std::byte>(host.data(), 3), 0, 9).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(comm_->Barrier().ok());
}

TEST_F(NcclOneRankTest, MixedMemoryInAllGatherIsRejectedWithoutBreaking) {
  DeviceBuffer<std::byte> send(2);
  ASSERT_TRUE(send.ok());
  std::vector<std::byte> recv(2);
  absl::Status s = comm_->AllGather(send.bytes(), std::span<std::byte>(recv));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("send is in device memory, recv in host memory"));
  EXPECT_TRUE(comm_->AllGather(send.bytes(), send.bytes()).ok());
}

TEST_F(NcclOneRankTest, SplitMakesAnotherNcclCommunicator) {
  comm_->set_label("tp");
  auto sub = comm_->Split(3, 0, absl::Seconds(30));
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ((*sub)->name(), "nccl tp.3 0/1");
  EXPECT_TRUE((*sub)->takes_device_memory());
  DeviceBuffer<float> floats(4);
  ASSERT_TRUE(floats.ok());
  ASSERT_TRUE(floats.Upload({1, 2, 3, 4}));
  ASSERT_TRUE((*sub)->AllReduceSum(floats.span()).ok());
  EXPECT_THAT(floats.Download(), ElementsAre(1, 2, 3, 4));
  // The parent still works after its child is gone.
  sub->reset();
  ASSERT_TRUE(comm_->AllReduceSum(floats.span()).ok());
}

}  // namespace
}  // namespace tessera
