// MpiCommunicator under mpirun (any number of ranks): the Communicator
// contract, splits into tensor/pipeline groups, and timeouts that leave every
// rank able to finish cleanly. No gtest: a failed check prints the rank and
// the check, and the process exits non-zero, which fails the mpirun.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "comm/communicator.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_runtime.h"

namespace tessera {
namespace {

int g_rank = 0;
int g_failures = 0;
int g_checks = 0;

#define CHECK_THAT(cond, what)                                                                     \
  do {                                                                                             \
    ++g_checks;                                                                                    \
    if (!(cond)) {                                                                                 \
      ++g_failures;                                                                                \
      std::fprintf(stderr, "rank %d: FAILED %s:%d: %s -- %s\n", g_rank, __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                     \
    }                                                                                              \
  } while (0)
#define CHECK_OK(expr)                                            \
  do {                                                            \
    const absl::Status check_ok_status = (expr);                  \
    CHECK_THAT(check_ok_status.ok(), check_ok_status.ToString()); \
  } while (0)

bool Mentions(const absl::Status& s, const std::string& text) {
  return s.message().find(text) != absl::string_view::npos;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Order-sensitive values: a rank-dependent summation order would show.
float Wild(int rank, size_t i) {
  const float scale[] = {1e8f, 1.0f, -1e8f, 3.25f, 1e-3f};
  return scale[(rank + i) % 5] * static_cast<float>(i % 7 + 1) + 0.1f * static_cast<float>(rank);
}

void TestAllReduce(Communicator& c) {
  const int n = c.size();
  // 1 float, 4 KB, 16 KB (point-to-point algorithm, in pieces), 64 KB and
  // 1 MB (MPI_Iallreduce).
  for (size_t count : {size_t{1}, size_t{1024}, size_t{4096}, size_t{16384}, size_t{262144}}) {
    // Small integers: exact in any order, so the hand-computed sum must match.
    std::vector<float> v(count);
    for (size_t i = 0; i < count; ++i) v[i] = static_cast<float>((c.rank() + 1) * (i % 100));
    CHECK_OK(c.AllReduceSum(std::span<float>(v)));
    const float ranks_sum = static_cast<float>(n * (n + 1) / 2);
    bool exact = true;
    for (size_t i = 0; i < count; ++i) exact &= v[i] == ranks_sum * static_cast<float>(i % 100);
    CHECK_THAT(exact, absl::StrCat("sum of ", count, " floats"));

    // Bit-identical on every rank, compared through an all-gather.
    for (size_t i = 0; i < count; ++i) v[i] = Wild(c.rank(), i);
    CHECK_OK(c.AllReduceSum(std::span<float>(v)));
    std::vector<float> all(count * n);
    CHECK_OK(c.AllGather(AsBytes(std::span<const float>(v)), AsWritableBytes(std::span<float>(all))));
    for (int r = 0; r < n; ++r) {
      CHECK_THAT(std::memcmp(all.data() + r * count, v.data(), count * sizeof(float)) == 0,
                 absl::StrCat("all-reduce of ", count, " floats differs on rank ", r));
    }
  }
}

void TestAllGatherBroadcastBarrier(Communicator& c) {
  const int n = c.size();
  const int32_t mine[2] = {c.rank(), 7 * c.rank()};
  std::vector<int32_t> all(2 * n, -1);
  CHECK_OK(c.AllGather(AsBytes(std::span<const int32_t>(mine)), AsWritableBytes(std::span<int32_t>(all))));
  for (int r = 0; r < n; ++r) CHECK_THAT(all[2 * r] == r && all[2 * r + 1] == 7 * r, "all-gather order");
  for (int root = 0; root < n; ++root) {
    for (size_t count : {size_t{3}, size_t{100000}}) {
      std::vector<int32_t> data(count, c.rank() == root ? 500 + root : -1);
      CHECK_OK(c.Broadcast(AsWritableBytes(std::span<int32_t>(data)), root));
      CHECK_THAT(data.front() == 500 + root && data.back() == 500 + root, absl::StrCat("broadcast from ", root));
    }
  }
  CHECK_OK(c.Barrier());
}

void TestPointToPoint(Communicator& c) {
  const int n = c.size();
  const int next = (c.rank() + 1) % n, prev = (c.rank() + n - 1) % n;
  // Two tags interleaved, received tag by tag: each stream stays in order.
  for (int32_t i = 0; i < 20; ++i) {
    const int32_t v = 1000 * c.rank() + i;
    CHECK_OK(c.Send(AsBytes(std::span<const int32_t>(&v, 1)), next, i % 2));
  }
  for (int tag : {1, 0}) {
    for (int32_t i = tag; i < 20; i += 2) {
      int32_t got = -1;
      CHECK_OK(c.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), prev, tag));
      CHECK_THAT(got == 1000 * prev + i, absl::StrCat("message ", i, " tag ", tag, " got ", got));
    }
  }
  // User tag 1 is also the all-reduce's internal tag (on another context): a
  // pending user message must not disturb a collective.
  if (n > 1) {
    const int32_t v = 77;
    if (c.rank() == 0) CHECK_OK(c.Send(AsBytes(std::span<const int32_t>(&v, 1)), 1, 1));
    std::vector<float> f(8, 1.0f);
    CHECK_OK(c.AllReduceSum(std::span<float>(f)));
    CHECK_THAT(f[0] == static_cast<float>(n), "all-reduce beside a user message");
    if (c.rank() == 1) {
      int32_t got = 0;
      CHECK_OK(c.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), 0, 1));
      CHECK_THAT(got == 77, "user message after the all-reduce");
    }
  }
  // RecvAny: any size, including past the eager limit. Every rank sends
  // before it receives: with a Send that waited for the receiver (as MPI_Send
  // may above the eager limit) this ring would deadlock; Send only hands the
  // message over.
  for (size_t bytes : {size_t{0}, size_t{5}, size_t{4096}, size_t{1} << 20}) {
    std::vector<std::byte> m(bytes, std::byte{static_cast<unsigned char>(c.rank())});
    CHECK_OK(c.Send(m, next, 9));
    absl::StatusOr<std::vector<std::byte>> got = c.RecvAny(prev, 9);
    CHECK_THAT(got.ok() && got->size() == bytes && (bytes == 0 || got->back() == std::byte(prev)),
               absl::StrCat("RecvAny of ", bytes, " bytes: ", got.status().ToString()));
  }
  // A wrong-sized Recv, longer or shorter, is InvalidArgument and consumes
  // the message.
  std::vector<std::byte> eight(8), four(4), two(2);
  CHECK_OK(c.Send(eight, next, 3));
  CHECK_OK(c.Send(two, next, 3));
  CHECK_OK(c.Send(four, next, 3));
  for (int i = 0; i < 2; ++i) {
    absl::Status wrong = c.Recv(std::span<std::byte>(four), prev, 3);
    CHECK_THAT(wrong.code() == absl::StatusCode::kInvalidArgument, wrong.ToString());
  }
  CHECK_OK(c.Recv(std::span<std::byte>(four), prev, 3));
  CHECK_THAT(c.Send(four, next, kMaxTag + 1).code() == absl::StatusCode::kInvalidArgument, "tag range");
  CHECK_OK(c.Barrier());
}

void TestSplit(Communicator& world) {
  const int n = world.size();
  const int tp = n % 2 == 0 ? 2 : n;  // tensor ranks per stage
  const int stage = world.rank() / tp, tp_rank = world.rank() % tp;
  absl::StatusOr<std::unique_ptr<Communicator>> tp_comm = world.Split(stage, tp_rank);
  absl::StatusOr<std::unique_ptr<Communicator>> pp_comm = world.Split(tp_rank, stage);
  CHECK_THAT(tp_comm.ok() && pp_comm.ok(), "split");
  if (!tp_comm.ok() || !pp_comm.ok()) return;
  (*tp_comm)->set_label("tp");
  (*pp_comm)->set_label("pp");
  CHECK_THAT((*tp_comm)->name() == absl::StrCat("mpi tp ", tp_rank, "/", tp), (*tp_comm)->name());
  CHECK_THAT((*pp_comm)->rank() == stage && (*pp_comm)->size() == n / tp, (*pp_comm)->name());
  std::vector<float> v = {static_cast<float>(world.rank())};
  CHECK_OK((*tp_comm)->AllReduceSum(std::span<float>(v)));
  float want = 0;
  for (int r = stage * tp; r < (stage + 1) * tp; ++r) want += static_cast<float>(r);
  CHECK_THAT(v[0] == want, absl::StrCat("tp sum ", v[0], " want ", want));
  // Stage to stage along the pipeline group.
  if ((*pp_comm)->size() > 1) {
    const int32_t token = world.rank();
    Communicator& pp = **pp_comm;
    if (pp.rank() + 1 < pp.size()) CHECK_OK(pp.Send(AsBytes(std::span<const int32_t>(&token, 1)), pp.rank() + 1, 0));
    if (pp.rank() > 0) {
      int32_t got = -1;
      CHECK_OK(pp.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), pp.rank() - 1, 0));
      CHECK_THAT(got == world.rank() - tp, "pipeline message");
    }
  }
  TestAllReduce(**tp_comm);
  CHECK_OK(world.Barrier());
}

// Rank 1 joins an all-reduce 1 s late; the others must give up after 300 ms,
// name the operation, stay broken, and every rank must still finish.
void TestLateRank(MpiRuntime& mpi, Communicator& check, size_t count) {
  absl::StatusOr<std::unique_ptr<Communicator>> victim_or = mpi.World();
  CHECK_OK(victim_or.status());
  if (!victim_or.ok()) return;
  Communicator& victim = **victim_or;
  victim.set_label("victim");
  CHECK_OK(victim.Barrier());
  std::vector<float> v(count, 1.0f);
  if (victim.rank() == 1) {
    absl::SleepFor(absl::Seconds(1));
    // Its peers have given up; whatever this returns, it must return.
    (void)victim.AllReduceSum(std::span<float>(v), absl::Seconds(5));
  } else {
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = victim.AllReduceSum(std::span<float>(v), absl::Milliseconds(300));
    const double took = Since(start);
    CHECK_THAT(s.code() == absl::StatusCode::kDeadlineExceeded, s.ToString());
    CHECK_THAT(Mentions(s, "all-reduce on mpi victim") && Mentions(s, "300 ms"), s.ToString());
    CHECK_THAT(took < 1.0, absl::StrCat("gave up after ", took, " s"));
    if (victim.rank() == 0 && count * sizeof(float) <= MpiCommunicator::kDefaultP2pAllReduceLimit) {
      CHECK_THAT(Mentions(s, "no answer from rank 1"), s.ToString());
    }
    absl::Status later = victim.Barrier(absl::Seconds(5));
    CHECK_THAT(later.code() == absl::StatusCode::kUnavailable && Mentions(later, "broken"), later.ToString());
    if (victim.rank() == 0 && count == 16) std::printf("timeout error reads: %s\n", s.ToString().c_str());
  }
  // Everyone meets on a healthy communicator; meanwhile MPI progresses the
  // abandoned requests, so the late rank's call completes.
  CHECK_OK(check.Barrier(absl::Seconds(30)));
}

void TestRecvTimeout(MpiRuntime& mpi) {
  absl::StatusOr<std::unique_ptr<Communicator>> c = mpi.World();
  CHECK_OK(c.status());
  if (!c.ok()) return;
  if ((*c)->rank() == 0) {
    std::vector<std::byte> buf(4);
    absl::Status s = (*c)->Recv(std::span<std::byte>(buf), (*c)->size() - 1, 4, absl::Milliseconds(300));
    CHECK_THAT(s.code() == absl::StatusCode::kDeadlineExceeded &&
                   Mentions(s, absl::StrCat("recv on mpi world 0/", (*c)->size(), ": no answer from rank ",
                                            (*c)->size() - 1, " within 300 ms")),
               s.ToString());
  }
}

int Main(int argc, char** argv) {
  absl::StatusOr<std::unique_ptr<MpiRuntime>> mpi = MpiRuntime::Init(&argc, &argv);
  if (!mpi.ok()) {
    std::fprintf(stderr, "%s\n", mpi.status().ToString().c_str());
    return 1;
  }
  g_rank = (*mpi)->world_rank();
  {
    absl::StatusOr<std::unique_ptr<Communicator>> world = (*mpi)->World();
    absl::StatusOr<std::unique_ptr<Communicator>> check = (*mpi)->World();
    if (!world.ok() || !check.ok()) {
      std::fprintf(stderr, "no world communicator\n");
      return 1;
    }
    (*world)->set_default_timeout(absl::Seconds(30));
    CHECK_THAT((*world)->name() == absl::StrCat("mpi world ", g_rank, "/", (*mpi)->world_size()), (*world)->name());
    TestAllReduce(**world);
    TestAllGatherBroadcastBarrier(**world);
    TestPointToPoint(**world);
    TestSplit(**world);
    const CommStats& stats = (*world)->stats();
    CHECK_THAT(stats.ops > 0 && stats.bytes_sent > 0 && stats.bytes_received > 0 && stats.seconds > 0, "stats");
    if ((*mpi)->world_size() > 1) {
      TestLateRank(**mpi, **check, 16);      // recursive doubling
      TestLateRank(**mpi, **check, 131072);  // MPI_Iallreduce (512 KB)
      TestRecvTimeout(**mpi);
    }
    CHECK_OK((*check)->Barrier(absl::Seconds(30)));
  }
  std::printf("rank %d of %d (%s): %d of %d checks passed\n", g_rank, (*mpi)->world_size(),
              (*mpi)->Oversubscribed() ? "oversubscribed" : "dedicated cores", g_checks - g_failures, g_checks);
  return g_failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Main(argc, argv); }
