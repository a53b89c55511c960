#include "comm/mpi_runtime.h"

#include <mpi.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "comm/mpi_communicator.h"

namespace tessera {

namespace {

// Ranks on this host: Open MPI says so in the environment; otherwise count
// the ranks that share memory with this one.
// This rank's place among the ranks on its host: {rank, size}. Open MPI's
// environment says it without a collective; otherwise a shared-memory split.
struct LocalPlace {
  int rank = 0;
  int size = 1;
};
LocalPlace FindLocalPlace() {
  LocalPlace p;
  const char* size_env = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const char* rank_env = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (size_env != nullptr && rank_env != nullptr && absl::SimpleAtoi(size_env, &p.size) &&
      absl::SimpleAtoi(rank_env, &p.rank) && p.size > 0 && p.rank >= 0 && p.rank < p.size) {
    return p;
  }
  p = LocalPlace{};
  MPI_Comm local = MPI_COMM_NULL;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) != MPI_SUCCESS) return p;
  MPI_Comm_size(local, &p.size);
  MPI_Comm_rank(local, &p.rank);
  MPI_Comm_free(&local);
  return p;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiRuntime>> MpiRuntime::Init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return absl::FailedPreconditionError("MPI is already initialized in this process");
  int provided = 0;
  if (int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided); rc != MPI_SUCCESS) {
    return mpi_internal::MpiError(rc, "starting MPI", "MPI_Init_thread");
  }
  std::unique_ptr<MpiRuntime> rt(new MpiRuntime);
  if (provided < MPI_THREAD_FUNNELED) {
    return absl::FailedPreconditionError(
        absl::StrCat("this MPI library provides thread level ", provided, ", tessera needs MPI_THREAD_FUNNELED"));
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rt->world_rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &rt->world_size_);
  const LocalPlace local = FindLocalPlace();
  rt->local_size_ = local.size;
  rt->local_rank_ = local.rank;
  return rt;
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool MpiRuntime::Oversubscribed() const {
  const unsigned threads = std::thread::hardware_concurrency();
  return threads > 0 && static_cast<unsigned>(local_size_) > threads;
}

absl::StatusOr<std::unique_ptr<Communicator>> MpiRuntime::World() {
  MPI_Comm world = MPI_COMM_NULL;
  if (int rc = MPI_Comm_dup(MPI_COMM_WORLD, &world); rc != MPI_SUCCESS) {
    return mpi_internal::MpiError(rc, "making the world communicator", "MPI_Comm_dup");
  }
  absl::StatusOr<std::unique_ptr<MpiCommunicator>> c = MpiCommunicator::Adopt(world, "world", poll_policy());
  if (!c.ok()) return c.status();
  return std::unique_ptr<Communicator>(std::move(*c));
}

}  // namespace tessera
