#include "comm/loopback.h"

#include <cstdio>
#include <cstdlib>

#include "comm/loopback_communicator.h"
#include "comm/loopback_fabric.h"

namespace tessera {

namespace {

[[noreturn]] void Die(const char* what, int rank, int size) {
  std::fprintf(stderr, "LoopbackHub: %s (rank %d, hub of %d)\n", what, rank, size);
  std::abort();
}

}  // namespace

std::shared_ptr<LoopbackHub> LoopbackHub::Create(int n) { return std::make_shared<LoopbackHub>(n); }

LoopbackHub::LoopbackHub(int n) {
  if (n < 1) Die("a hub needs at least one rank", 0, n);
  fabric_ = std::make_shared<loopback_internal::Fabric>(n);
}

int LoopbackHub::size() const { return fabric_->world_size(); }

std::unique_ptr<Communicator> LoopbackHub::Connect(int rank) {
  if (rank < 0 || rank >= size()) Die("Connect: no such rank", rank, size());
  if (!fabric_->MarkConnected(rank)) Die("Connect: rank already connected", rank, size());
  return std::make_unique<loopback_internal::LoopbackCommunicator>(fabric_, fabric_->world(), rank);
}

std::vector<std::unique_ptr<Communicator>> LoopbackHub::ConnectAll() {
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < size(); ++r) comms.push_back(Connect(r));
  return comms;
}

void LoopbackHub::Kill(int rank) {
  if (rank < 0 || rank >= size()) Die("Kill: no such rank", rank, size());
  fabric_->Kill(rank);
}

void LoopbackHub::DropMessagesFrom(int rank, int64_t count) {
  if (rank < 0 || rank >= size()) Die("DropMessagesFrom: no such rank", rank, size());
  fabric_->Drop(rank, count);
}

void LoopbackHub::Delay(int rank, absl::Duration delay) {
  if (rank < 0 || rank >= size()) Die("Delay: no such rank", rank, size());
  fabric_->Delay(rank, delay);
}

void LoopbackHub::Heal(int rank) {
  if (rank < 0 || rank >= size()) Die("Heal: no such rank", rank, size());
  fabric_->Heal(rank);
}

}  // namespace tessera
