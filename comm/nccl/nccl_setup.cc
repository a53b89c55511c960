#include "comm/nccl/nccl_setup.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "comm/nccl/nccl_wait.h"
#include "comm/op_support.h"

namespace tessera::nccl_internal {

namespace {

// One rank's outcome of a setup step, as it travels over the bootstrap: a
// fixed size, so every rank passes the same number of bytes to AllGather.
struct StatusRecord {
  uint8_t failed = 0;
  char text[255] = {};
};
static_assert(sizeof(StatusRecord) == 256);

StatusRecord Encode(const absl::Status& s) {
  StatusRecord r;
  if (s.ok()) return r;
  r.failed = 1;
  // Longer messages are cut; the rank that failed returns its whole message.
  const size_t n = std::min(s.message().size(), sizeof(r.text) - 1);
  std::memcpy(r.text, s.message().data(), n);
  return r;
}

std::string Text(const StatusRecord& r) { return std::string(r.text, strnlen(r.text, sizeof(r.text))); }

// Rank 0's answer in ShareUniqueId: the id, or why there is none.
struct IdRecord {
  StatusRecord status;
  ncclUniqueId id = {};
};

}  // namespace

StreamOwner::~StreamOwner() {
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

std::string DeviceName(int device) { return absl::StrCat("cuda:", device); }

absl::Status CheckNonBlockingAllowed() {
  // NCCL reads NCCL_COMM_BLOCKING as it would a number (strtoll, base 0) and
  // lets 0 or 1 override ncclConfig_t::blocking. With 1 the communicator is
  // blocking whatever InitComm asks for: init and the first collective with a
  // peer wait inside NCCL for as long as the peer is missing, and no timeout
  // of ours can end the wait.
  const char* env = std::getenv("NCCL_COMM_BLOCKING");
  if (env == nullptr) return absl::OkStatus();
  char* end = nullptr;
  const long long value = std::strtoll(env, &end, 0);
  if (end == env || value != 1) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "NCCL_COMM_BLOCKING=", env,
      " is set; it makes NCCL calls block without a limit, so a dead peer would hang this rank instead of "
      "timing out: unset it"));
}

absl::StatusOr<StreamOwner> PrepareDevice(int device) {
  const std::string name = DeviceName(device);
  if (device < 0) return absl::InvalidArgumentError(absl::StrCat(name, ": a device ordinal is never negative"));
  if (absl::Status s = CheckNonBlockingAllowed(); !s.ok()) return s;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": no CUDA device is visible to this process (", CudaErrorText(e), ")"));
  }
  if (device >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": only ", count, " CUDA device", count == 1 ? " is" : "s are", " visible to this process"));
  }
  if (!UseDevice(device)) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": cannot make it the current device"));
  }
  // Non-blocking: the collectives must not wait for (or hold up) work other
  // code queues on the legacy default stream.
  cudaStream_t stream = nullptr;
  const cudaError_t made = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (made != cudaSuccess) {
    (void)cudaGetLastError();
    return absl::FailedPreconditionError(absl::StrCat(name, ": cannot create a stream (", CudaErrorText(made), ")"));
  }
  return StreamOwner(stream);
}

absl::Status AllRanksOk(Communicator& bootstrap, const absl::Status& mine, std::string_view step,
                        absl::Duration timeout) {
  const StatusRecord record = Encode(mine);
  std::vector<StatusRecord> all(static_cast<size_t>(bootstrap.size()));
  if (absl::Status s = bootstrap.AllGather(std::as_bytes(std::span<const StatusRecord>(&record, 1)),
                                           std::as_writable_bytes(std::span<StatusRecord>(all)), timeout);
      !s.ok()) {
    return s;
  }
  std::vector<std::string> failures;
  for (int r = 0; r < bootstrap.size(); ++r) {
    if (!all[r].failed) continue;
    if (r == bootstrap.rank()) {
      failures.push_back(absl::StrCat("rank ", r, " (this rank): ", mine.message()));
    } else {
      failures.push_back(absl::StrCat("rank ", r, ": ", Text(all[r])));
    }
  }
  if (failures.empty()) return absl::OkStatus();
  const absl::StatusCode code = mine.ok() ? absl::StatusCode::kFailedPrecondition : mine.code();
  return absl::Status(code, absl::StrCat(std::string(step), " failed on ", failures.size(), " of ", bootstrap.size(),
                                         " ranks: ", absl::StrJoin(failures, "; ")));
}

absl::StatusOr<ncclUniqueId> ShareUniqueId(Communicator& bootstrap, absl::Duration timeout) {
  IdRecord record;
  absl::Status mine;
  if (bootstrap.rank() == 0) {
    const ncclResult_t rc = ncclGetUniqueId(&record.id);
    if (rc != ncclSuccess) {
      mine = NcclError(rc, "rank 0: ncclGetUniqueId");
      record.status = Encode(mine);
    }
  }
  if (absl::Status s = bootstrap.Broadcast(std::as_writable_bytes(std::span<IdRecord>(&record, 1)), 0, timeout);
      !s.ok()) {
    return s;
  }
  if (!mine.ok()) return mine;
  if (record.status.failed) return absl::FailedPreconditionError(Text(record.status));
  return record.id;
}

absl::StatusOr<ncclComm_t> InitComm(const ncclUniqueId& id, int nranks, int rank, int device, absl::Time deadline,
                                    absl::Duration timeout) {
  // NCCL binds the communicator to the device current at this call.
  if (!UseDevice(device)) {
    return absl::FailedPreconditionError(absl::StrCat("NCCL init: cannot make ", DeviceName(device), " current"));
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  // Non-blocking: init and every later call return at once and are polled,
  // so a peer that never arrives is a timeout here, not a hang.
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  const ncclResult_t rc = ncclCommInitRankConfig(&comm, nranks, id, rank, &config);
  if (rc != ncclSuccess && rc != ncclInProgress) {
    absl::Status s = NcclError(rc, "NCCL init: ncclCommInitRankConfig");
    if (comm != nullptr) (void)ncclCommAbort(comm);
    return s;
  }
  const WaitOutcome w = AwaitCommState(comm, deadline);
  if (w.result == WaitResult::kDone) return comm;
  absl::Status s;
  if (w.result == WaitResult::kTimedOut) {
    s = absl::DeadlineExceededError(
        absl::StrCat("NCCL init: not every rank joined within ", comm_internal::FormatTimeout(timeout)));
  } else {
    s = NcclError(w.nccl, "NCCL init");
  }
  // Abort also ends NCCL's init thread, which waits on its sockets with the
  // abort flag in view.
  (void)ncclCommAbort(comm);
  return s;
}

}  // namespace tessera::nccl_internal
