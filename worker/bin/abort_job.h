// Ending a tessera-worker job from any rank.
#pragma once

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace tessera {

// A broken group cannot be shut down politely: its peers may be waiting on
// a collective that will never complete. Ending the whole job is what Open
// MPI does for a dead rank anyway, and the supervisor restarts it.
[[noreturn]] inline void AbortJob(const std::string& why) {
  std::fprintf(stderr, "tessera-worker: %s\n", why.c_str());
  if (why.find("DEADLINE_EXCEEDED") != std::string::npos) {
    std::fprintf(stderr,
                 "tessera-worker: a peer that computes one step for longer than --timeout-ms (or a step that "
                 "takes longer than --step-timeout-ms) looks dead too; raise them for large models or long "
                 "prompts\n");
  }
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

}  // namespace tessera
