// Loader benchmark (not a test): times load_dataset_files on one dataset with a given number of
// parse threads, several rounds, and prints the best and median wall times, so the gain of
// parallel parsing can be read on one build (threads=1 against threads=N, same files).
//
// Build (bench/dnsbl_vs_rbldnsd.sh does it):
//   g++ -O2 -std=c++20 -Isrc bench/dnsbl_load.cpp BUILD/libmx_dnsbl.a BUILD/libmx_dns.a
//       BUILD/libmx_core.a -lfmt -lpthread -o dnsbl_load
// Usage: dnsbl_load TYPE:FILE[,FILE] THREADS [ROUNDS]
// malloc is tuned as `mxguard serve` tunes it before its first load (src/cli/serve.cpp).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dnsbl/dataset.hpp"
#include "dnsbl/files.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TYPE:FILE[,FILE] THREADS [ROUNDS]\n", argv[0]);
    return 2;
  }
  const auto spec = mx::dnsbl::parse_dataset_spec(argv[1]);
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.error().c_str());
    return 2;
  }
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
  ::mallopt(M_ARENA_MAX, 1);
  mx::dnsbl::load_options opts;
  opts.threads = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  std::vector<double> ms;
  std::size_t entries = 0;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = mx::dnsbl::load_dataset_files(spec->type, spec->files, opts);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r) {
      std::fprintf(stderr, "%s\n", mx::dnsbl::to_string(r.error()).c_str());
      return 1;
    }
    entries = r->data->entry_count();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("threads=%u entries=%zu best_ms=%.1f median_ms=%.1f\n", opts.threads, entries,
              ms.front(), ms[ms.size() / 2]);
  return 0;
}
