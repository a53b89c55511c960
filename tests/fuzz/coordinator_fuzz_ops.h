// The coordinator fuzzer's input format, shared by the target (which reads
// it) and the corpus maker (which writes seeds in it).
//
// An input is a script of operations on one CoordinatorCore. Each starts with
// an opcode byte (taken modulo kOpCount, so every byte is some operation),
// followed by that operation's fields; a field past the end of the input
// reads as 0. Peers are a few fixed identities (clients, group leaders,
// admins), so scripts can refer back to them; group ids, epochs and
// sequence numbers can be "the right one" (what the core sent that peer
// last) or arbitrary, so both the protocol's normal paths and its stale and
// forged messages are reached.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::fuzz {

enum class Op : uint8_t {
  // Raw frames: [peer][frame count % 4] then per frame [u16 length][bytes].
  // The peer's identity frame is added in front.
  kClientRaw = 0,
  kWorkerRaw = 1,
  kAdminRaw = 2,
  // [client][id][flags][max_tokens + 16][seed][temperature][n] then n u16
  // token ids (flags & kGenText: n bytes of text).
  kGenerate = 3,
  kCancel = 4,    // [client][id]
  kStatus = 5,    // [client]
  // [leader][tp % 4][pp % 4][flags][memory: 1 << (b % 48)][u16 kv_tokens]
  kRegister = 6,
  // [leader][select][u16 kv_blocks][block_size][max_sequences][u16 max_batch_tokens]
  kReady = 7,
  // [leader][select][n % 4] then per update [seq select][n tokens % 6]
  // [u16 tokens...][flags]
  kUpdates = 8,
  kHeartbeat = 9,   // [leader][select][stages % 4] then per stage [steps][ms]
  kFailed = 10,     // [leader][select]
  kResharded = 11,  // [leader][select][ok][u16 kv_blocks][block_size]
  kTick = 12,       // [dt]: the clock moves dt * 50 ms, then Tick
  kOutcome = 13,    // [peer kind % 3][peer][outcome % 3]: how the outbox treats sends to it
  // [admin][kind % 7][group select][flags][n bounds % 6][bounds...]
  // [n shares % 4][shares...][drain timeout / 10 ms]
  kAdmin = 14,
  kShutdown = 15,  // [0x5D] shuts the core down (any other byte: nothing)
  kOpCount = 16,
};

inline constexpr int kClients = 4;
inline constexpr int kLeaders = 3;
inline constexpr int kAdmins = 2;
inline constexpr int kRequestIds = 8;

// kGenerate flags.
inline constexpr uint8_t kGenStream = 1;
inline constexpr uint8_t kGenText = 2;
inline constexpr uint8_t kGenIgnoreEos = 4;
inline constexpr uint8_t kGenBadVersion = 8;
inline constexpr uint8_t kGenBothPrompts = 16;
inline constexpr uint8_t kGenOddSampling = 32;
// kRegister flags.
inline constexpr uint8_t kRegWrongModel = 1;
inline constexpr uint8_t kRegFewerProfiles = 2;
inline constexpr uint8_t kRegBadVersion = 4;
// "select" bytes: bit 0 set forges the group id, bit 1 the epoch; else the
// ones the core last sent this leader.
inline constexpr uint8_t kSelForgeGroup = 1;
inline constexpr uint8_t kSelForgeEpoch = 2;
// Sequence select: below kSeqForged, the (b % n)-th sequence started on the
// leader; from it on, the number b itself.
inline constexpr uint8_t kSeqForged = 0xF0;
// SequenceUpdate flags.
inline constexpr uint8_t kUpdDone = 1;
inline constexpr uint8_t kUpdEos = 2;
inline constexpr uint8_t kUpdCancelled = 4;
inline constexpr uint8_t kUpdError = 8;
// kAdmin kinds.
enum class AdminKind : uint8_t { kStatus, kPreview, kDiff, kRebalance, kDrain, kUndrain, kRemove };
// kAdmin flags.
inline constexpr uint8_t kAdmAuto = 1;
inline constexpr uint8_t kAdmBadVersion = 2;
inline constexpr uint8_t kShutdownKey = 0x5D;

// Reads fields; 0 past the end.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() {
    const uint16_t lo = U8();
    return static_cast<uint16_t>(lo | (U8() << 8));
  }
  // Up to `n` bytes (fewer at the end of the input).
  std::string_view Bytes(size_t n) {
    const size_t take = pos_ < size_ ? std::min(n, size_ - pos_) : 0;
    std::string_view out(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Writes a script (the corpus maker).
class ScriptWriter {
 public:
  ScriptWriter& Op(fuzz::Op op) { return U8(static_cast<uint8_t>(op)); }
  ScriptWriter& U8(uint8_t v) {
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  ScriptWriter& U16(uint16_t v) { return U8(static_cast<uint8_t>(v & 0xff)).U8(static_cast<uint8_t>(v >> 8)); }
  ScriptWriter& Frame(std::string_view payload) {
    U16(static_cast<uint16_t>(payload.size()));
    bytes_.append(payload.data(), payload.size());
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace tessera::fuzz
