// cli/commands: the subcommands behind the mxguard binary, each returning the process exit code.
// main.cpp parses the command line (CLI11) and calls these.
//
// SECURITY: check-config and serve run the same relay-safety proof on the same relay_policy(),
// so what check-config reports is what serve enforces: serve refuses an unsafe config unless
// allow_open_relay = true, and then warns at start and every hour.
// RFCs: none of their own (see policy/relay_proof.hpp).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/log.hpp"

namespace mx::cli {

// Exit codes shared by check-config and serve.
inline constexpr int exit_ok = 0;
inline constexpr int exit_unsafe = 1;    // the proof found a relay path (or serve refused)
inline constexpr int exit_invalid = 2;   // the config does not load; also command-line errors
inline constexpr int exit_internal = 3;  // an unexpected exception (a bug)

int run_version();
int run_config_reference();
int run_check_config(const std::string& config_path, bool show);

struct serve_options {
  std::string config_path;                // "" with --dnsbl only
  std::vector<std::string> dnsbl_zones;   // --dnsbl ZONE:TYPE:FILE[,FILE]... (rbldnsd's form)
  std::vector<std::string> dnsbl_listen;  // --dnsbl-listen ADDR: replaces dnsbld.listen
  log::format log_format = log::format::text;
  bool syslog = false;
  std::chrono::seconds open_relay_warning_interval{3600};
};
int run_serve(const serve_options& opts);

// `mxguard probe ...` (argv[0] is "probe"): parses its own options; exit 0 all CLOSED, 1 any
// OPEN, 2 otherwise, 64 usage error (cli/probe.cpp).
int run_probe(int argc, char** argv);

}  // namespace mx::cli
