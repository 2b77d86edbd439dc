// Fuzz targets' invariant check: a broken invariant prints the caller's line and traps, which
// libFuzzer reports as a crash with the input that caused it.
#pragma once

#include <cstdio>

namespace mx::fuzz {

// __builtin_LINE as a default argument names the caller's line (gcc and clang alike; clang 14
// has no std::source_location).
inline void require(bool ok, int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "invariant failed at line %d\n", line);
  __builtin_trap();
}

}  // namespace mx::fuzz
