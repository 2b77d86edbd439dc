// cli/main: the one mxguard binary and its subcommands (CLI11). Placeholder until config lands.
#include <cstdio>

int main() {
  std::puts("mxguard " MXGUARD_VERSION);
  return 0;
}
