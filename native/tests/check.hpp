// The ctest programs' one assertion: CHECK(cond) reports a failed condition with its place
// and counts it in `failures`; main() returns non-zero when any failed.
#pragma once

#include <cstdio>

inline int failures = 0;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)
