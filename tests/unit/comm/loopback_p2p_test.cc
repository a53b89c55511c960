// Loopback point-to-point messages: order per (source, tag), sizes, checks.
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/comm/loopback_harness.h"

namespace tessera {
namespace {

using testing::LoopbackRanks;

std::span<const std::byte> Bytes(const int32_t& v) { return AsBytes(std::span<const int32_t>(&v, 1)); }

TEST(LoopbackP2p, OrderIsKeptPerSourceAndTag) {
  LoopbackRanks ranks(3);
  constexpr int kMessages = 50;
  ranks.Run([&](Communicator& c) {
    if (c.rank() != 2) {
      // Ranks 0 and 1 interleave two tags each.
      for (int32_t i = 0; i < kMessages; ++i) {
        ASSERT_TRUE(c.Send(Bytes(100 * c.rank() + i), 2, i % 2).ok());
      }
      return;
    }
    // Rank 2 drains tag 1 of rank 1 first, then the rest: each stream is in
    // send order whatever the interleaving.
    for (int src : {1, 0}) {
      for (int tag : {1, 0}) {
        for (int32_t i = tag; i < kMessages; i += 2) {
          int32_t v = -1;
          ASSERT_TRUE(c.Recv(AsWritableBytes(std::span<int32_t>(&v, 1)), src, tag).ok());
          EXPECT_EQ(v, 100 * src + i);
        }
      }
    }
  });
}

TEST(LoopbackP2p, RecvAnyReturnsWholeMessagesOfAnySize) {
  LoopbackRanks ranks(2);
  const std::vector<size_t> sizes = {0, 1, 7, 4096, 100000};
  ranks.Run([&](Communicator& c) {
    if (c.rank() == 0) {
      for (size_t n : sizes) {
        std::vector<std::byte> m(n, std::byte{static_cast<unsigned char>(n % 251)});
        ASSERT_TRUE(c.Send(m, 1, 3).ok());
      }
    } else {
      for (size_t n : sizes) {
        absl::StatusOr<std::vector<std::byte>> m = c.RecvAny(0, 3);
        ASSERT_TRUE(m.ok()) << m.status();
        ASSERT_EQ(m->size(), n);
        for (std::byte b : *m) ASSERT_EQ(b, std::byte{static_cast<unsigned char>(n % 251)});
      }
    }
  });
}

TEST(LoopbackP2p, RecvOfTheWrongSizeConsumesTheMessage) {
  LoopbackRanks ranks(2);
  ranks.Run([&](Communicator& c) {
    if (c.rank() == 0) {
      std::vector<std::byte> big(16), small(4);
      ASSERT_TRUE(c.Send(big, 1, 0).ok());
      ASSERT_TRUE(c.Send(small, 1, 0).ok());
    } else {
      std::vector<std::byte> buf(4);
      absl::Status s = c.Recv(std::span<std::byte>(buf), 0, 0);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
      EXPECT_NE(s.message().find("16 bytes"), std::string_view::npos) << s;
      EXPECT_TRUE(c.Recv(std::span<std::byte>(buf), 0, 0).ok());  // the next one, still usable
    }
  });
}

TEST(LoopbackP2p, SendToSelf) {
  LoopbackRanks ranks(1);
  Communicator& c = *ranks.comms[0];
  ASSERT_TRUE(c.Send(Bytes(42), 0, 5).ok());
  int32_t v = 0;
  ASSERT_TRUE(c.Recv(AsWritableBytes(std::span<int32_t>(&v, 1)), 0, 5).ok());
  EXPECT_EQ(v, 42);
}

TEST(LoopbackP2p, BadTagsAndPeersAreInvalidArgument) {
  LoopbackRanks ranks(2);
  Communicator& c = *ranks.comms[0];
  std::vector<std::byte> buf(4);
  EXPECT_EQ(c.Send(buf, 1, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Send(buf, 1, kMaxTag + 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Send(buf, 2, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Recv(std::span<std::byte>(buf), -1, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.RecvAny(1, kMaxTag + 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Broadcast(std::span<std::byte>(buf), 5).code(), absl::StatusCode::kInvalidArgument);
  // Argument errors do not break the communicator.
  EXPECT_TRUE(c.Send(buf, 1, kMaxTag).ok());
}

}  // namespace
}  // namespace tessera
