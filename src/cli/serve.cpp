// `mxguard serve`: load the config, run the relay-safety proof, refuse an unsafe config unless
// allow_open_relay = true, then run until SIGINT or SIGTERM. The network layer is the next issue:
// for now no socket is opened, and the log says so.
#include <pthread.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <string>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/report.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "policy/relay_proof.hpp"

namespace mx::cli {
namespace {

void warn_open_relay(const policy::relay_proof_result& proof, const std::string& config_path) {
  log::warn(
      "OPEN RELAY: smtpd.allow_open_relay = true and the relay-safety proof found {} relay "
      "path{} for unauthenticated outsiders, e.g. {}; `mxguard check-config --config {}` lists "
      "them all",
      proof.findings.size(), proof.findings.size() == 1 ? "" : "s",
      proof.findings.front().to_string(), config_path);
}

std::string listen_list(const config::config& cfg) {
  std::string s;
  for (const auto& e : cfg.smtpd.listen) {
    if (!s.empty()) s += ", ";
    s += e.to_string();
  }
  return s;
}

timespec to_timespec(std::chrono::steady_clock::duration d) {
  if (d < std::chrono::steady_clock::duration::zero()) d = {};
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(d - secs);
  timespec ts{};
  ts.tv_sec = static_cast<std::time_t>(secs.count());
  ts.tv_nsec = static_cast<long>(nanos.count());
  return ts;
}

}  // namespace

int run_serve(const serve_options& opts) {
  log::set_format(opts.log_format);

  // Block the stop signals first, so that one arriving during start-up waits for sigtimedwait
  // below instead of killing the process half-started.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); rc != 0) {
    log::error("cannot block SIGINT/SIGTERM: {}", std::strerror(rc));
    return exit_internal;
  }

  auto loaded = config::load_file(opts.config_path);
  if (!loaded) {
    log::error("{}", loaded.error().to_string());
    return exit_invalid;
  }
  const config::config& cfg = *loaded;

  const auto proof = policy::prove_relay_safety(config::relay_policy(cfg), cfg.smtpd.hostname);
  const bool open_relay = !proof.safe();
  if (open_relay && !cfg.smtpd.allow_open_relay) {
    for (const auto& line : unsafe_report(proof)) log::error("{}", line);
    log::error(
        "refusing to start: fix the config, or set smtpd.allow_open_relay = true to run this "
        "open relay deliberately (never on a server reachable from the Internet)");
    return exit_unsafe;
  }
  if (open_relay) {
    warn_open_relay(proof, opts.config_path);
  } else {
    log::info("{}", safe_summary(proof));
  }

  log::info(
      "smtpd {} would listen on {}; the network layer is not built yet, so no socket is open and "
      "no mail is accepted",
      cfg.smtpd.hostname, listen_list(cfg));
  log::info("config {} loaded; waiting for SIGINT or SIGTERM", opts.config_path);

  using clock = std::chrono::steady_clock;
  auto next_warning = clock::now() + opts.open_relay_warning_interval;
  for (;;) {
    int sig = -1;
    if (open_relay) {
      const timespec timeout = to_timespec(next_warning - clock::now());
      sig = sigtimedwait(&stop_signals, nullptr, &timeout);
    } else {
      sig = sigwaitinfo(&stop_signals, nullptr);
    }
    if (sig == SIGINT || sig == SIGTERM) {
      log::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      return exit_ok;
    }
    if (sig < 0 && errno != EAGAIN && errno != EINTR) {
      log::error("waiting for signals failed: {}", std::strerror(errno));
      return exit_internal;
    }
    if (open_relay && clock::now() >= next_warning) {
      warn_open_relay(proof, opts.config_path);
      next_warning += opts.open_relay_warning_interval;
    }
  }
}

}  // namespace mx::cli
