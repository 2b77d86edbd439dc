// `mxguard check-config`, `version` and `config-reference`: load, prove, report on stdout.
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/report.hpp"
#include "cli/server_config.hpp"
#include "config/config.hpp"
#include "policy/relay_proof.hpp"

namespace mx::cli {

int run_version() {
  fmt::print("mxguard {}\n", MXGUARD_VERSION);
  return exit_ok;
}

int run_config_reference() {
  fmt::print("{}", config::reference_markdown());
  return exit_ok;
}

int run_check_config(const std::string& config_path, bool show) {
  auto loaded = load_server_config(config_path);  // the config and its recipients file
  if (!loaded) {
    fmt::print(stderr, "{}\n", loaded.error());
    return exit_invalid;
  }
  const config::config* cfg = &loaded->cfg;
  if (show) fmt::print("{}\n", config::effective_toml(*cfg));
  if (!cfg->has_smtpd && !cfg->has_dnsbld) {
    fmt::print(stderr, "{}: declares no service ([smtpd] or [dnsbld])\n", config_path);
    return exit_invalid;
  }
  if (cfg->has_dnsbld) {
    // The zone data must load as serve would load it; bad lines are warnings, as in rbldnsd.
    auto plan = make_dnsbl_plan(cfg, {}, {});
    if (!plan) {
      fmt::print(stderr, "{}\n", plan.error());
      return exit_invalid;
    }
    auto data = load_dnsbl(*plan);
    if (!data) {
      fmt::print(stderr, "{}\n", data.error());
      return exit_invalid;
    }
    for (const auto& w : data->warnings) fmt::print(stderr, "warning: {}\n", w);
    for (const auto& line : data->summary) fmt::print("dnsbld: {}\n", line);
  }
  if (!cfg->has_smtpd) {
    fmt::print("no [smtpd] section: no relay policy to prove\n");
    return exit_ok;
  }
  const auto proof = prove_config(*loaded);
  if (proof.safe()) {
    fmt::print("{}\n", safe_summary(proof));
    return exit_ok;
  }
  for (const auto& line : unsafe_report(proof)) fmt::print("{}\n", line);
  if (cfg->smtpd.allow_open_relay) {
    fmt::print(
        "smtpd.allow_open_relay = true: `mxguard serve` would start with this config anyway, "
        "warning at start and every hour.\n");
  } else {
    fmt::print("`mxguard serve` refuses to start with this config.\n");
  }
  return exit_unsafe;
}

}  // namespace mx::cli
