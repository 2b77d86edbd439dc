// cli/main: the one mxguard binary. Parses the command line (CLI11) and hands over to a
// subcommand in commands.hpp. An exception reaching main is a bug: reported, exit 3.
//
// SECURITY: no subcommand runs with a config it could not fully validate; see commands.hpp.
#include <chrono>
#include <exception>
#include <map>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"

namespace mx::cli {
int run_lookup(int argc, char** argv);  // cli/lookup.cpp: parses its own options
}  // namespace mx::cli

namespace mx::cli {
int run_passwd(const std::string& user);  // cli/passwd.cpp
}  // namespace mx::cli

namespace {

int run(int argc, char** argv) {
  using namespace mx::cli;
  CLI::App app{"mxguard: an SMTP server that cannot be turned into an open relay by accident"};
  app.name("mxguard");
  app.require_subcommand(1);

  auto* version = app.add_subcommand("version", "Print the version");

  std::string check_path;
  bool show = false;
  auto* check = app.add_subcommand(
      "check-config",
      "Load a config and prove it relay-safe: exit 0 safe, 1 unsafe (every relay path listed), "
      "2 invalid (file:line:column)");
  check->add_option("-c,--config", check_path, "Config file (TOML)")->required();
  check->add_flag("--show", show, "Also print every option's effective value, as TOML");

  serve_options serve_opts;
  std::string log_format = "text";
  long warning_seconds = 3600;
  auto* serve = app.add_subcommand(
      "serve",
      "Run the services the config declares ([smtpd], [dnsbld]) until SIGINT/SIGTERM; SIGHUP "
      "reloads. Refuses a relay-unsafe [smtpd] unless allow_open_relay = true.");
  serve->add_option("-c,--config", serve_opts.config_path, "Config file (TOML)");
  serve->add_option("--dnsbl", serve_opts.dnsbl_zones,
                    "Serve a DNSBL zone from rbldnsd data files: ZONE:TYPE:FILE[,FILE]... "
                    "(repeatable; works without --config)");
  serve->add_option("--dnsbl-listen", serve_opts.dnsbl_listen,
                    "Where the DNSBL server listens, IP:port (repeatable; default "
                    "127.0.0.1:5353 or dnsbld.listen)");
  serve->add_option("--log-format", log_format, "Log lines on stderr: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  serve->add_flag("--syslog", serve_opts.syslog,
                  "Log to syslog (facility mail) instead of stderr");
  serve
      ->add_option("--open-relay-warning-interval", warning_seconds,
                   "Seconds between the repeated open-relay warnings (allow_open_relay = true)")
      ->check(CLI::Range(1L, 7L * 24 * 3600))
      ->capture_default_str();

  auto* reference = app.add_subcommand(
      "config-reference", "Print the configuration reference (docs/config.md) as Markdown");

  std::string passwd_user;
  auto* passwd = app.add_subcommand(
      "passwd",
      "Print a passwd-file line ([auth] passwd_file) with a yescrypt hash of a password read "
      "from stdin");
  passwd->add_option("user", passwd_user, "User name to print before the hash (USER:{CRYPT}...)");

  // probe parses its own command line (its usage errors exit 64); listed here for --help.
  app.add_subcommand("probe", "Test SMTP servers for open relaying (never sends a message); "
                              "see `mxguard probe --help`");
  if (argc >= 2 && std::string(argv[1]) == "probe") return run_probe(argc - 1, argv + 1);
  app.add_subcommand("lookup", "Check IPs and domains against many DNS block lists at once; "
                               "see `mxguard lookup --help`");
  if (argc >= 2 && std::string(argv[1]) == "lookup") return run_lookup(argc - 1, argv + 1);

  if (argc <= 1) {
    fmt::print(stderr, "{}", app.help());
    return exit_invalid;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, or the error and a hint
    return rc == 0 ? exit_ok : exit_invalid;
  }

  if (version->parsed()) return run_version();
  if (reference->parsed()) return run_config_reference();
  if (passwd->parsed()) return run_passwd(passwd_user);
  if (check->parsed()) return run_check_config(check_path, show);
  if (serve->parsed()) {
    serve_opts.log_format = log_format == "json" ? mx::log::format::json : mx::log::format::text;
    serve_opts.open_relay_warning_interval = std::chrono::seconds(warning_seconds);
    return run_serve(serve_opts);
  }
  fmt::print(stderr, "{}", app.help());
  return exit_invalid;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "mxguard: internal error: {}\n", e.what());
  } catch (...) {
    fmt::print(stderr, "mxguard: internal error\n");
  }
  return mx::cli::exit_internal;
}
