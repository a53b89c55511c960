#include "comm/mpi_collectives.h"

#include <algorithm>

namespace tessera::mpi_internal {

namespace {

// Open MPI 4.1's shared-memory transport (vader) sends a message of up to
// 4 KB minus its header eagerly; a larger one takes a rendezvous handshake
// that costs more than the copy (an exchange of 4 KB in one message: 2.6 us;
// in two: 0.95 us, on 2 cores). So a message of up to kMaxSegments eager
// pieces goes in pieces. Larger ones go whole: more eager pieces cost more
// than the rendezvous, and so did 32 KB pieces (bench/comm_bench). Sender
// and receiver split a message of one size the same way, and MPI keeps the
// pieces of one (source, tag) in order.
constexpr size_t kSegmentBytes = 4000;
constexpr size_t kMaxSegments = 5;

size_t SegmentSize(size_t bytes) {
  const size_t segments = (bytes + kSegmentBytes - 1) / kSegmentBytes;
  if (segments > kMaxSegments || segments == 0) return std::max<size_t>(bytes, 1);
  return (bytes + segments - 1) / segments;
}

}  // namespace

absl::StatusOr<Progress> SendRecv(MPI_Comm comm, int tag, int to, std::span<const std::byte> out, int from,
                                  std::span<std::byte> in, absl::Time deadline, const PollPolicy& policy,
                                  std::vector<MPI_Request>* abandoned) {
  MPI_Request reqs[2 * kMaxSegments];
  int n = 0;
  int rc = MPI_SUCCESS;
  const size_t in_seg = SegmentSize(in.size());
  for (size_t off = 0; off < in.size() && rc == MPI_SUCCESS; off += in_seg) {
    const int len = static_cast<int>(std::min(in_seg, in.size() - off));
    rc = MPI_Irecv(in.data() + off, len, MPI_BYTE, from, tag, comm, &reqs[n]);
    if (rc == MPI_SUCCESS) ++n;
  }
  const size_t out_seg = SegmentSize(out.size());
  for (size_t off = 0; off < out.size() && rc == MPI_SUCCESS; off += out_seg) {
    const int len = static_cast<int>(std::min(out_seg, out.size() - off));
    rc = MPI_Isend(out.data() + off, len, MPI_BYTE, to, tag, comm, &reqs[n]);
    if (rc == MPI_SUCCESS) ++n;
  }
  const std::span<MPI_Request> posted(reqs, n);
  absl::StatusOr<bool> done = rc == MPI_SUCCESS ? WaitAll(posted, deadline, policy)
                                                : absl::StatusOr<bool>(MpiError(rc, "post", "MPI_Isend/Irecv"));
  if (!done.ok() || !*done) {
    for (MPI_Request r : posted) {
      if (r != MPI_REQUEST_NULL) abandoned->push_back(r);
    }
  }
  if (!done.ok()) return done.status();
  // On a timeout, blame the rank this one receives from: a receiver that is
  // late shows up on its own sender's side as well.
  return Progress{*done, *done ? -1 : (in.empty() ? to : from)};
}

absl::StatusOr<Progress> RecursiveDoublingSum(MPI_Comm comm, int tag, std::span<float> acc, std::span<float> tmp,
                                              absl::Time deadline, const PollPolicy& policy,
                                              std::vector<MPI_Request>* abandoned) {
  int rank = 0, n = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &n);
  int p = 1;
  while (p * 2 <= n) p *= 2;
  const std::span<std::byte> acc_bytes = std::as_writable_bytes(acc);
  const std::span<std::byte> tmp_bytes = std::as_writable_bytes(tmp);
  auto exchange = [&](int peer, bool send, bool recv) {
    return SendRecv(comm, tag, peer, send ? acc_bytes : std::span<std::byte>(), peer,
                    recv ? tmp_bytes : std::span<std::byte>(), deadline, policy, abandoned);
  };
  auto add = [&] {
    for (size_t i = 0; i < acc.size(); ++i) acc[i] += tmp[i];
  };

  if (rank >= p) {
    // Hand the data to rank - p, which folds it in; get the result back.
    absl::StatusOr<Progress> r = exchange(rank - p, true, false);
    if (!r.ok() || !r->done) return r;
    return SendRecv(comm, tag, rank - p, {}, rank - p, acc_bytes, deadline, policy, abandoned);
  }
  if (rank + p < n) {
    absl::StatusOr<Progress> r = exchange(rank + p, false, true);
    if (!r.ok() || !r->done) return r;
    add();
  }
  for (int mask = 1; mask < p; mask <<= 1) {
    absl::StatusOr<Progress> r = exchange(rank ^ mask, true, true);
    if (!r.ok() || !r->done) return r;
    add();
  }
  if (rank + p < n) return exchange(rank + p, true, false);
  return Progress{true, -1};
}

absl::StatusOr<Progress> RingAllGather(MPI_Comm comm, int tag, std::span<std::byte> all, size_t block,
                                       absl::Time deadline, const PollPolicy& policy,
                                       std::vector<MPI_Request>* abandoned) {
  int rank = 0, n = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &n);
  const int next = (rank + 1) % n, prev = (rank + n - 1) % n;
  for (int step = 0; step + 1 < n; ++step) {
    const int send_block = (rank - step + n) % n;
    const int recv_block = (rank - step - 1 + n) % n;
    absl::StatusOr<Progress> r = SendRecv(comm, tag, next, all.subspan(send_block * block, block), prev,
                                          all.subspan(recv_block * block, block), deadline, policy, abandoned);
    if (!r.ok() || !r->done) return r;
  }
  return Progress{true, -1};
}

absl::StatusOr<Progress> BinomialBroadcast(MPI_Comm comm, int tag, std::span<std::byte> data, int root,
                                           absl::Time deadline, const PollPolicy& policy,
                                           std::vector<MPI_Request>* abandoned) {
  int rank = 0, n = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &n);
  // Ranks relative to the root: vrank 0 is the root; a vrank receives from
  // the vrank without its lowest set bit and sends to vrank + each lower power
  // of two.
  const int vrank = (rank - root + n) % n;
  int mask = 1;
  while (mask < n && (vrank & mask) == 0) mask <<= 1;
  if (vrank != 0) {
    const int parent = (vrank - mask + root) % n;
    absl::StatusOr<Progress> r = SendRecv(comm, tag, parent, {}, parent, data, deadline, policy, abandoned);
    if (!r.ok() || !r->done) return r;
  }
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (vrank + mask >= n) continue;
    const int child = (vrank + mask + root) % n;
    absl::StatusOr<Progress> r = SendRecv(comm, tag, child, data, child, {}, deadline, policy, abandoned);
    if (!r.ok() || !r->done) return r;
  }
  return Progress{true, -1};
}

}  // namespace tessera::mpi_internal
