// The e2e checkers' soft assertion: a failed check is printed with its place
// and counted, and the checker goes on, so one run reports every mismatch;
// main() exits non-zero when g_failures is not 0.
#pragma once

#include <cstdio>

namespace tessera {

inline int g_failures = 0;

}  // namespace tessera

#define CHECK_THAT(cond, ...)                                                \
  do {                                                                       \
    if (!(cond)) {                                                           \
      ++::tessera::g_failures;                                               \
      std::fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
    }                                                                        \
  } while (0)
