#include "comm/mpi_communicator.h"

#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "comm/mpi_collectives.h"

namespace tessera {

using comm_internal::CheckPeer;
using comm_internal::CheckTag;
using comm_internal::DeadlineAfter;
using comm_internal::NoAnswer;
using comm_internal::OpScope;
using mpi_internal::MpiError;

namespace {

// How long a destroyed communicator lets its abandoned requests finish.
constexpr absl::Duration kDrainGrace = absl::Milliseconds(100);

template <typename T>
std::span<T> Staged(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return std::span<T>(v.data(), n);
}

// Buffers MPI may still use after their communicator is gone. Reachable from a
// static, so leak checkers do not flag them; they live until the process ends.
void KeepForever(std::vector<float> a, std::vector<float> b, std::vector<std::byte> c, std::vector<std::byte> d) {
  struct Graveyard {
    std::vector<std::vector<float>> floats;
    std::vector<std::vector<std::byte>> bytes;
  };
  static auto* graveyard = new Graveyard;
  graveyard->floats.push_back(std::move(a));
  graveyard->floats.push_back(std::move(b));
  graveyard->bytes.push_back(std::move(c));
  graveyard->bytes.push_back(std::move(d));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Adopt(MPI_Comm comm, std::string label,
                                                                        const PollPolicy& policy) {
  MPI_Comm coll = MPI_COMM_NULL;
  const int rc = MPI_Comm_dup(comm, &coll);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&comm);
    return MpiError(rc, absl::StrCat("mpi ", label), "MPI_Comm_dup");
  }
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(comm, coll, std::move(label), policy));
}

MpiCommunicator::MpiCommunicator(MPI_Comm user, MPI_Comm coll, std::string label, const PollPolicy& policy)
    : user_(user), coll_(coll), policy_(policy) {
  MPI_Comm_rank(user_, &rank_);
  MPI_Comm_size(user_, &size_);
  set_label(std::move(label));
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;  // MPI is gone, and with it every request
  // Sends still on their way (a stop step forwarded just before the group
  // ends): let each finish by its own deadline, then treat the rest as
  // abandoned.
  for (Outgoing& o : outgoing_) {
    absl::StatusOr<bool> done = mpi_internal::WaitAll(std::span<MPI_Request>(&o.req, 1), o.deadline, policy_);
    if (!done.ok() || !*done) {
      abandoned_.push_back(o.req);
      KeepForever({}, {}, std::move(o.buf), {});
    }
  }
  outgoing_.clear();
  if (!abandoned_.empty()) {
    // A late peer may still complete its side; give it a moment, then cancel
    // what can be cancelled (receives) and look once more.
    absl::StatusOr<bool> done = mpi_internal::WaitAll(abandoned_, absl::Now() + kDrainGrace, policy_);
    if (!done.ok() || !*done) {
      for (MPI_Request& r : abandoned_) {
        // Sends and collectives cannot be cancelled; MPI_ERRORS_RETURN makes
        // trying harmless.
        if (r != MPI_REQUEST_NULL) MPI_Cancel(&r);
      }
      done = mpi_internal::WaitAll(abandoned_, absl::Now() + absl::Milliseconds(10), policy_);
    }
    if (!done.ok() || !*done) {
      KeepForever(std::move(floats_a_), std::move(floats_b_), std::move(bytes_out_), std::move(bytes_in_));
    }
  }
  // MPI_Comm_free only marks a communicator with pending operations; MPI
  // releases it when they complete.
  MPI_Comm_free(&coll_);
  MPI_Comm_free(&user_);
}

std::string MpiCommunicator::name() const { return absl::StrCat("mpi ", label(), " ", rank_, "/", size_); }

absl::Status MpiCommunicator::Fail(std::string_view op, std::string_view call, int rc) {
  return broken_.Break(MpiError(rc, absl::StrCat(std::string(op), " on ", name()), call));
}

void MpiCommunicator::Abandon(std::span<MPI_Request> reqs) {
  for (MPI_Request& r : reqs) {
    if (r != MPI_REQUEST_NULL) abandoned_.push_back(r);
    r = MPI_REQUEST_NULL;
  }
}

absl::Status MpiCommunicator::TimedOut(std::string_view op, int late, absl::Duration timeout) {
  if (late < 0) return broken_.Break(NoAnswer(*this, op, {}, timeout));
  const int who[] = {late};
  return broken_.Break(NoAnswer(*this, op, who, timeout));
}

absl::Status MpiCommunicator::Settle(std::string_view op, const absl::StatusOr<mpi_internal::Progress>& p,
                                     std::vector<MPI_Request>& left, absl::Duration timeout) {
  Abandon(std::span<MPI_Request>(left));
  if (!p.ok()) {
    return broken_.Break(
        absl::Status(p.status().code(), absl::StrCat(std::string(op), " on ", name(), ": ", p.status().message())));
  }
  if (!p->done) return TimedOut(op, p->late_peer, timeout);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Await(std::string_view op, std::span<MPI_Request> reqs, absl::Time deadline,
                                    absl::Duration timeout, int late) {
  absl::StatusOr<bool> done = mpi_internal::WaitAll(reqs, deadline, policy_);
  if (done.ok() && *done) return absl::OkStatus();
  Abandon(reqs);
  if (!done.ok()) {
    return broken_.Break(absl::Status(done.status().code(),
                                      absl::StrCat(std::string(op), " on ", name(), ": ", done.status().message())));
  }
  return TimedOut(op, late, timeout);
}

absl::Status MpiCommunicator::AllReduceSum(std::span<float> data, absl::Duration timeout) {
  constexpr char kOp[] = "all-reduce";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (data.size() > INT_MAX) return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": too large"));
  timeout = Resolve(timeout);
  const absl::Time deadline = DeadlineAfter(timeout);
  const size_t bytes = data.size_bytes();
  std::span<float> acc = Staged(floats_a_, data.size());
  if (bytes > 0) std::memcpy(acc.data(), data.data(), bytes);
  if (bytes <= p2p_allreduce_limit_) {
    std::span<float> tmp = Staged(floats_b_, data.size());
    std::vector<MPI_Request> left;
    absl::StatusOr<mpi_internal::Progress> p =
        mpi_internal::RecursiveDoublingSum(coll_, kAllReduceTag, acc, tmp, deadline, policy_, &left);
    if (absl::Status s = Settle(kOp, p, left, timeout); !s.ok()) return s;
  } else {
    MPI_Request req = MPI_REQUEST_NULL;
    const int rc =
        MPI_Iallreduce(MPI_IN_PLACE, acc.data(), static_cast<int>(acc.size()), MPI_FLOAT, MPI_SUM, coll_, &req);
    if (rc != MPI_SUCCESS) return Fail(kOp, "MPI_Iallreduce", rc);
    if (absl::Status s = Await(kOp, std::span<MPI_Request>(&req, 1), deadline, timeout, -1); !s.ok()) return s;
  }
  if (bytes > 0) std::memcpy(data.data(), acc.data(), bytes);
  scope.Done(bytes, bytes);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::AllGather(std::span<const std::byte> send, std::span<std::byte> recv,
                                        absl::Duration timeout) {
  constexpr char kOp[] = "all-gather";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (recv.size() != send.size() * size_ || send.size() > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": recv has ", recv.size(), " bytes, needs ",
                                                   send.size(), " x ", size_, " (and at most 2 GiB per rank)"));
  }
  timeout = Resolve(timeout);
  std::span<std::byte> all = Staged(bytes_in_, recv.size());
  if (!send.empty()) std::memcpy(all.data() + rank_ * send.size(), send.data(), send.size());
  std::vector<MPI_Request> left;
  absl::StatusOr<mpi_internal::Progress> p =
      mpi_internal::RingAllGather(coll_, kAllGatherTag, all, send.size(), DeadlineAfter(timeout), policy_, &left);
  if (absl::Status s = Settle(kOp, p, left, timeout); !s.ok()) return s;
  if (!recv.empty()) std::memcpy(recv.data(), all.data(), recv.size());
  scope.Done(send.size(), recv.size());
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Broadcast(std::span<std::byte> data, int root, absl::Duration timeout) {
  const std::string op = absl::StrCat("broadcast from root ", root);
  OpScope scope(stats_);
  if (absl::Status s = Usable(op); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, "broadcast", "root", root); !s.ok()) return s;
  if (data.size() > INT_MAX) return absl::InvalidArgumentError(absl::StrCat(op, " on ", name(), ": too large"));
  timeout = Resolve(timeout);
  std::span<std::byte> buf = Staged(bytes_in_, data.size());
  if (rank_ == root && !data.empty()) std::memcpy(buf.data(), data.data(), data.size());
  std::vector<MPI_Request> left;
  absl::StatusOr<mpi_internal::Progress> p =
      mpi_internal::BinomialBroadcast(coll_, kBroadcastTag, buf, root, DeadlineAfter(timeout), policy_, &left);
  if (absl::Status s = Settle(op, p, left, timeout); !s.ok()) return s;
  if (rank_ != root && !data.empty()) std::memcpy(data.data(), buf.data(), data.size());
  scope.Done(rank_ == root ? data.size() : 0, rank_ == root ? 0 : data.size());
  return absl::OkStatus();
}

absl::Status MpiCommunicator::ReapSends() {
  size_t kept = 0;
  const absl::Time now = absl::Now();
  for (size_t i = 0; i < outgoing_.size(); ++i) {
    Outgoing& o = outgoing_[i];
    int done = 0;
    const int rc = MPI_Test(&o.req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return Fail("send", "MPI_Test", rc);
    if (done) continue;
    if (now > o.deadline) {
      const int dest = o.dest;
      const absl::Duration timeout = o.timeout;
      // Leave every unfinished send to the destructor's drain.
      for (size_t j = i; j < outgoing_.size(); ++j) outgoing_[kept++] = std::move(outgoing_[j]);
      outgoing_.resize(kept);
      return TimedOut("send", dest, timeout);
    }
    if (kept != i) outgoing_[kept] = std::move(o);
    ++kept;
  }
  outgoing_.resize(kept);
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Send(std::span<const std::byte> data, int dest, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "send";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "destination", dest); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  if (data.size() > INT_MAX) return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": too large"));
  if (absl::Status s = ReapSends(); !s.ok()) return s;
  timeout = Resolve(timeout);
  // Posted and left: waiting here for a large message to be matched would
  // let two ranks that send to each other deadlock (MPI sends above the eager
  // limit complete only once the receiver posts its receive).
  Outgoing o;
  o.buf.assign(data.begin(), data.end());
  o.deadline = DeadlineAfter(timeout);
  o.timeout = timeout;
  o.dest = dest;
  const int rc = MPI_Isend(o.buf.data(), static_cast<int>(o.buf.size()), MPI_BYTE, dest, tag, user_, &o.req);
  if (rc != MPI_SUCCESS) return Fail(kOp, "MPI_Isend", rc);
  outgoing_.push_back(std::move(o));
  scope.Done(data.size(), 0);
  return absl::OkStatus();
}

absl::StatusOr<size_t> MpiCommunicator::ReceiveMatched(std::string_view op, int source, int tag,
                                                       absl::Duration timeout) {
  timeout = Resolve(timeout);
  const absl::Time deadline = DeadlineAfter(timeout);
  // Probe first, so a message of any size is received whole (and consumed)
  // and a timeout while nothing has matched leaves no request behind.
  MPI_Message msg = MPI_MESSAGE_NULL;
  MPI_Status status;
  mpi_internal::Poller poller(policy_, deadline);
  while (true) {
    int found = 0;
    const int rc = MPI_Improbe(source, tag, user_, &found, &msg, &status);
    if (rc != MPI_SUCCESS) return Fail(op, "MPI_Improbe", rc);
    if (found) break;
    if (!poller.Continue()) return TimedOut(op, source, timeout);
  }
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::span<std::byte> in = Staged(bytes_in_, static_cast<size_t>(count));
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = MPI_Imrecv(in.data(), count, MPI_BYTE, &msg, &req);
  if (rc != MPI_SUCCESS) return Fail(op, "MPI_Imrecv", rc);
  if (absl::Status s = Await(op, std::span<MPI_Request>(&req, 1), deadline, timeout, source); !s.ok()) return s;
  return static_cast<size_t>(count);
}

absl::Status MpiCommunicator::Recv(std::span<std::byte> data, int source, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "recv";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "source", source); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  if (absl::Status s = ReapSends(); !s.ok()) return s;
  if (data.size() > INT_MAX) return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": too large"));
  timeout = Resolve(timeout);
  // A posted receive of the expected size: about half the latency of
  // probing first (RecvAny's way). MPI reports a longer message as truncated
  // and a shorter one by its count; both are consumed.
  std::span<std::byte> in = Staged(bytes_in_, data.size());
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = MPI_Irecv(in.data(), static_cast<int>(in.size()), MPI_BYTE, source, tag, user_, &req);
  if (rc != MPI_SUCCESS) return Fail(kOp, "MPI_Irecv", rc);
  MPI_Status status;
  mpi_internal::Poller poller(policy_, DeadlineAfter(timeout));
  while (true) {
    int done = 0;
    rc = MPI_Test(&req, &done, &status);
    if (rc != MPI_SUCCESS) {
      int error_class = 0;
      MPI_Error_class(rc, &error_class);
      if (error_class != MPI_ERR_TRUNCATE) return Fail(kOp, "MPI_Test", rc);
      return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": rank ", source,
                                                     " sent more than the expected ", data.size(), " bytes with tag ",
                                                     tag));
    }
    if (done) break;
    if (!poller.Continue()) {
      Abandon(std::span<MPI_Request>(&req, 1));
      return TimedOut(kOp, source, timeout);
    }
  }
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  if (static_cast<size_t>(count) != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": rank ", source, " sent ", count,
                                                   " bytes with tag ", tag, ", expected ", data.size()));
  }
  if (!data.empty()) std::memcpy(data.data(), in.data(), data.size());
  scope.Done(0, data.size());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::byte>> MpiCommunicator::RecvAny(int source, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "recv";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "source", source); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  if (absl::Status s = ReapSends(); !s.ok()) return s;
  absl::StatusOr<size_t> got = ReceiveMatched(kOp, source, tag, timeout);
  if (!got.ok()) return got.status();
  scope.Done(0, *got);
  return std::vector<std::byte>(bytes_in_.begin(), bytes_in_.begin() + *got);
}

absl::Status MpiCommunicator::Barrier(absl::Duration timeout) {
  constexpr char kOp[] = "barrier";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  timeout = Resolve(timeout);
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = MPI_Ibarrier(coll_, &req);
  if (rc != MPI_SUCCESS) return Fail(kOp, "MPI_Ibarrier", rc);
  return Await(kOp, std::span<MPI_Request>(&req, 1), DeadlineAfter(timeout), timeout, -1);
}

absl::StatusOr<std::unique_ptr<Communicator>> MpiCommunicator::Split(int color, int key, absl::Duration timeout) {
  constexpr char kOp[] = "split";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (color < 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": color ", color, " is negative"));
  }
  // MPI_Comm_split blocks without a limit; run it only once every rank is
  // known to be here.
  timeout = Resolve(timeout);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = MPI_Ibarrier(coll_, &req);
  if (rc != MPI_SUCCESS) return Fail(kOp, "MPI_Ibarrier", rc);
  if (absl::Status s = Await(kOp, std::span<MPI_Request>(&req, 1), DeadlineAfter(timeout), timeout, -1); !s.ok()) {
    return s;
  }
  MPI_Comm sub = MPI_COMM_NULL;
  rc = MPI_Comm_split(user_, color, key, &sub);
  if (rc != MPI_SUCCESS) return Fail(kOp, "MPI_Comm_split", rc);
  absl::StatusOr<std::unique_ptr<MpiCommunicator>> c = Adopt(sub, absl::StrCat(label(), ".", color), policy_);
  if (!c.ok()) return broken_.Break(c.status());
  (*c)->set_default_timeout(default_timeout());
  (*c)->set_p2p_allreduce_limit(p2p_allreduce_limit_);
  return std::unique_ptr<Communicator>(std::move(*c));
}

}  // namespace tessera
