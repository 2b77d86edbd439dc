// `mxguard serve`: load the config and the recipients file, run the relay-safety proof (refusing
// an unsafe config unless allow_open_relay = true), bind the listeners, then serve on a thread per
// core. The main thread only waits for signals:
//   SIGHUP          reload config and recipients for new sessions; a bad or unsafe new config is
//                   refused with a log line naming file:line, and the old one stays;
//   SIGTERM/SIGINT  stop accepting, close idle sessions with 421, let sessions inside DATA finish
//                   for up to shutdown_grace seconds, then exit 0.
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/report.hpp"
#include "cli/server_config.hpp"
#include "core/log.hpp"
#include "net/smtp_server.hpp"
#include "policy/relay_proof.hpp"

namespace mx::cli {
namespace {

using clock_type = std::chrono::steady_clock;

void warn_open_relay(const policy::relay_proof_result& proof, const std::string& config_path) {
  log::warn(
      "OPEN RELAY: smtpd.allow_open_relay = true and the relay-safety proof found {} relay "
      "path{} for unauthenticated outsiders, e.g. {}; `mxguard check-config --config {}` lists "
      "them all",
      proof.findings.size(), proof.findings.size() == 1 ? "" : "s",
      proof.findings.front().to_string(), config_path);
}

timespec to_timespec(clock_type::duration d) {
  if (d < clock_type::duration::zero()) d = {};
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(d - secs);
  timespec ts{};
  ts.tv_sec = static_cast<std::time_t>(secs.count());
  ts.tv_nsec = static_cast<long>(nanos.count());
  return ts;
}

struct proven_config {
  loaded_config loaded;
  policy::relay_proof_result proof;
};

// Loads and proves a config; the error says why it may not be served.
expected<proven_config, std::string> load_and_prove(const std::string& path) {
  auto loaded = load_server_config(path);
  if (!loaded) return unexpected(loaded.error());
  auto proof = policy::prove_relay_safety(config::relay_policy(loaded->cfg), loaded->cfg.smtpd.hostname);
  if (!proof.safe() && !loaded->cfg.smtpd.allow_open_relay) {
    std::string why;
    for (const auto& line : unsafe_report(proof)) why += line + "\n";
    return unexpected(why +
                      "refusing to start: fix the config, or set smtpd.allow_open_relay = true to "
                      "run this open relay deliberately (never on a server reachable from the "
                      "Internet)");
  }
  return proven_config{std::move(*loaded), std::move(proof)};
}

}  // namespace

int run_serve(const serve_options& opts) {
  log::set_format(opts.log_format);

  // Block the signals in every thread (the io threads inherit the mask); the main thread takes
  // them with sigtimedwait, so a signal during start-up waits instead of killing us half-started.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, sig);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &signals, nullptr); rc != 0) {
    log::error("cannot block signals: {}", std::strerror(rc));
    return exit_internal;
  }
  std::signal(SIGPIPE, SIG_IGN);

  auto first = load_and_prove(opts.config_path);
  if (!first) {
    // An invalid file is exit 2; an unsafe one is exit 1 (the message says which).
    const bool unsafe = first.error().find("refusing to start") != std::string::npos;
    std::string_view text = first.error();
    while (!text.empty()) {
      const auto nl = text.find('\n');
      log::error("{}", text.substr(0, nl));
      if (nl == std::string_view::npos) break;
      text.remove_prefix(nl + 1);
    }
    return unsafe ? exit_unsafe : exit_invalid;
  }
  bool open_relay = !first->proof.safe();
  policy::relay_proof_result proof = first->proof;
  if (open_relay) {
    warn_open_relay(proof, opts.config_path);
  } else {
    log::info("{}", safe_summary(proof));
  }

  auto settings = make_settings(first->loaded);
  asio::io_context ioc;
  std::unique_ptr<net::smtp_server> server;
  try {
    server = std::make_unique<net::smtp_server>(ioc, settings);
  } catch (const std::system_error& e) {
    log::error("cannot start: {}", e.what());
    return exit_invalid;
  }
  server->start();
  for (const auto& ep : server->bound()) log::info("smtpd: listening on {}", ep.to_string());

  auto work = asio::make_work_guard(ioc);
  const unsigned n_threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n_threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  log::info("smtpd {} serving with {} threads; config {}", settings->session.hostname, n_threads,
            opts.config_path);

  auto next_warning = clock_type::now() + opts.open_relay_warning_interval;
  std::uint32_t grace = first->loaded.cfg.smtpd.shutdown_grace;
  for (;;) {
    const auto wait = open_relay ? next_warning - clock_type::now() : std::chrono::hours(24);
    const timespec timeout = to_timespec(wait);
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      log::info("received {}, stopping: no new sessions; sessions inside DATA have {} s",
                sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
      break;
    }
    if (sig == SIGHUP) {
      auto next = load_and_prove(opts.config_path);
      if (!next) {
        log::error("reload refused: {}; still serving the previous config", next.error());
        continue;
      }
      if (next->loaded.cfg.smtpd.listen != settings->listen) {
        log::warn("reload: smtpd.listen changed; listeners change only on restart");
      }
      settings = make_settings(next->loaded);
      server->reload(settings);
      open_relay = !next->proof.safe();
      proof = next->proof;
      grace = next->loaded.cfg.smtpd.shutdown_grace;
      if (open_relay) warn_open_relay(proof, opts.config_path);
      log::info("reloaded {}: new sessions use it", opts.config_path);
      continue;
    }
    if (sig < 0 && errno != EAGAIN && errno != EINTR) {
      log::error("waiting for signals failed: {}", std::strerror(errno));
      break;
    }
    if (open_relay && clock_type::now() >= next_warning) {
      warn_open_relay(proof, opts.config_path);
      next_warning += opts.open_relay_warning_interval;
    }
  }

  server->begin_shutdown();
  const auto deadline = clock_type::now() + std::chrono::seconds(grace);
  while (server->sessions() > 0 && clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (server->sessions() > 0) {
    log::warn("shutdown grace over: closing {} session(s)", server->sessions());
  }
  work.reset();
  ioc.stop();
  for (auto& t : threads) t.join();
  server.reset();
  log::info("stopped");
  return exit_ok;
}

}  // namespace mx::cli
