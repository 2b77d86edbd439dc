// `mxguard serve`: runs the services the config declares. [smtpd]: load the recipients file, run
// the relay-safety proof (refusing an unsafe config unless allow_open_relay = true), bind, serve
// on a thread per core. [dnsbld] (or --dnsbl): load the zones' data files, bind UDP and TCP, serve
// (net/dns_server.hpp). The main thread only waits for signals and watches the data files:
//   SIGHUP          reload config and recipients for new sessions, and the DNSBL data; a bad or
//                   unsafe new config is refused with a log line naming file:line, and the old one
//                   stays; DNSBL data that fails to load leaves the last good data in service;
//   data file change (dnsbld.check_interval) reload the DNSBL data, as SIGHUP does;
//   SIGTERM/SIGINT  stop accepting, close idle sessions with 421, let sessions inside DATA finish
//                   for up to shutdown_grace seconds, then exit 0.
// Started as root, serve binds and reads the TLS key, then runs as [service] user (cli/privileges);
// a SIGHUP after that re-reads files as that user (the key must be readable by it to reload).
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/privileges.hpp"
#include "cli/report.hpp"
#include "cli/server_config.hpp"
#include "core/log.hpp"
#include "net/dns_server.hpp"
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

// Loads and proves a config; the error says why it may not be served. The proof is about
// [smtpd]: a config without it runs no SMTP server and has nothing to prove.
expected<proven_config, std::string> load_and_prove(const std::string& path) {
  auto loaded = load_server_config(path);
  if (!loaded) return unexpected(loaded.error());
  if (!loaded->cfg.has_smtpd) return proven_config{std::move(*loaded), {}};
  auto proof = prove_config(*loaded);
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

void log_lines(log::level l, std::string_view text) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    log::write(l, text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

void log_dnsbl_load(const dnsbl_loaded& loaded) {
  for (const auto& w : loaded.warnings) log::warn("dnsbld: {}", w);
  if (loaded.warning_count > loaded.warnings.size()) {
    log::warn("dnsbld: {} more warnings not shown", loaded.warning_count - loaded.warnings.size());
  }
  for (const auto& line : loaded.summary) log::info("dnsbld: {}", line);
}

long long millis_since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count();
}

// The DNSBL side of serve: its plan, the files it watches, and reloads.
struct dnsbl_runtime {
  dnsbl_plan plan;
  std::vector<file_stamp> stamps;  // as they were before the last load (good or failed)
  std::unique_ptr<net::dns_server> server;
  clock_type::time_point next_check;
  // Loading leaves freed heap behind (the file text, the builders, and after a reload the old
  // generation, released once the last UDP batch using it ends): given back to the system a
  // moment after each load, so the resident size is the data's.
  std::optional<clock_type::time_point> trim_at;

  void schedule_trim() { trim_at = clock_type::now() + std::chrono::seconds(1); }
  void trim_if_due() {
    if (trim_at && clock_type::now() >= *trim_at) {
      trim_at.reset();
      ::malloc_trim(0);
    }
  }

  // Builds the next generation aside and publishes it; on failure the old one stays.
  void reload(std::string_view why) {
    const auto t0 = clock_type::now();
    stamps = stamp_files(plan);  // a change during the load triggers another one
    auto next = load_dnsbl(plan);
    if (!next) {
      log::error("dnsbld: reload ({}) failed: {}; still serving the previous data", why,
                 next.error());
      return;
    }
    log_dnsbl_load(*next);
    server->publish(std::move(next->data));
    log::info("dnsbld: reloaded ({}) in {} ms", why, millis_since(t0));
    schedule_trim();
  }

  void check_files() {
    if (plan.check_interval == 0 || clock_type::now() < next_check) return;
    next_check = clock_type::now() + std::chrono::seconds(plan.check_interval);
    if (stamp_files(plan) != stamps) reload("data file changed");
  }

  void log_counts() const {
    const auto c = server->counts();
    for (const auto& z : c.zones) {
      log::info("dnsbld: zone {}: {} queries, {} hits, {} misses, {} refused", z.zone, z.queries,
                z.hits, z.misses, z.refusals);
    }
    log::info(
        "dnsbld: {} udp and {} tcp queries; {} outside every zone, {} errors, {} dropped, {} "
        "truncated, {} transfers",
        c.udp_queries, c.tcp_queries, c.refused_outside, c.errors, c.dropped, c.truncated, c.axfr);
  }
};

}  // namespace

int run_serve(const serve_options& opts) {
  log::set_format(opts.log_format);
  log::use_syslog(opts.syslog);

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

  if (opts.config_path.empty() && opts.dnsbl_zones.empty()) {
    log::error("serve needs --config FILE, or --dnsbl ZONE:TYPE:FILE[,FILE]... for a DNSBL server");
    return exit_invalid;
  }
  std::optional<proven_config> first;
  if (!opts.config_path.empty()) {
    auto loaded = load_and_prove(opts.config_path);
    if (!loaded) {
      // An invalid file is exit 2; an unsafe one is exit 1 (the message says which).
      const bool unsafe = loaded.error().find("refusing to start") != std::string::npos;
      log_lines(log::level::error, loaded.error());
      return unsafe ? exit_unsafe : exit_invalid;
    }
    first = std::move(*loaded);
  }
  const config::config* cfg = first ? &first->loaded.cfg : nullptr;
  const bool run_smtpd = cfg != nullptr && cfg->has_smtpd;
  const bool run_dnsbld = (cfg != nullptr && cfg->has_dnsbld) || !opts.dnsbl_zones.empty();
  if (!run_smtpd && !run_dnsbld) {
    log::error("{}: nothing to serve: the config has neither [smtpd] nor [dnsbld]",
               opts.config_path);
    return exit_invalid;
  }
  if (!run_dnsbld && !opts.dnsbl_listen.empty()) {
    log::error("--dnsbl-listen without a DNSBL zone ([[dnsbld.zone]] or --dnsbl)");
    return exit_invalid;
  }

  asio::io_context ioc;

  // dnsbld first: its data may take a while to load, and smtpd should not accept meanwhile.
  dnsbl_runtime dnsbl;
  if (run_dnsbld) {
    auto plan = make_dnsbl_plan(cfg, opts.dnsbl_zones, opts.dnsbl_listen);
    if (!plan) {
      log::error("{}", plan.error());
      return exit_invalid;
    }
    if (plan->zones.empty()) {
      log::error("dnsbld: no zones to serve: add [[dnsbld.zone]] tables or --dnsbl arguments");
      return exit_invalid;
    }
    dnsbl.plan = std::move(*plan);
    // A load's large temporary vectors (chunks, sort buffers) then come from the heap rather
    // than a fresh mmap each, so memory one step frees is reused by the next instead of being
    // unmapped and faulted in again; the trim after each load gives back what is left. One
    // arena: the loader's threads allocate a few dozen blocks a load, and malloc_trim gives
    // back the free top of the main arena only (a thread's arena kept ~10 MiB after a load).
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
    ::mallopt(M_ARENA_MAX, 1);
    const auto t0 = clock_type::now();
    dnsbl.stamps = stamp_files(dnsbl.plan);
    auto loaded = load_dnsbl(dnsbl.plan);
    if (!loaded) {
      log::error("dnsbld: {}", loaded.error());
      return exit_invalid;
    }
    log_dnsbl_load(*loaded);
    log::info("dnsbld: data loaded in {} ms", millis_since(t0));
    try {
      dnsbl.server =
          std::make_unique<net::dns_server>(ioc, dnsbl.plan.settings, std::move(loaded->data));
    } catch (const std::system_error& e) {
      log::error("dnsbld: cannot start: {}", e.what());
      return exit_invalid;
    }
    dnsbl.next_check = clock_type::now() + std::chrono::seconds(dnsbl.plan.check_interval);
    dnsbl.schedule_trim();
  }

  bool open_relay = false;
  policy::relay_proof_result proof;
  std::shared_ptr<const net::smtp_settings> settings;
  std::unique_ptr<net::smtp_server> server;
  std::uint32_t grace = 0;
  if (run_smtpd) {
    proof = first->proof;
    open_relay = !proof.safe();
    if (open_relay) {
      warn_open_relay(proof, opts.config_path);
    } else {
      log::info("{}", safe_summary(proof));
    }
    settings = make_settings(first->loaded);
    try {
      server = std::make_unique<net::smtp_server>(ioc, settings);
    } catch (const std::system_error& e) {
      log::error("cannot start: {}", e.what());
      return exit_invalid;
    }
    grace = first->loaded.cfg.smtpd.shutdown_grace;
  }

  // Started as root: everything that needs root is done (listeners bound, key read); from here
  // on the process is [service] user, before a single client is served.
  if (::geteuid() == 0) {
    const std::string user = cfg != nullptr ? cfg->service.user : std::string("mxguard");
    auto who = find_service_user(user);
    if (!who) {
      log::error("{}", who.error());
      return exit_invalid;
    }
    std::vector<std::string> dirs;
    if (server) dirs = {settings->mail_dir, settings->queue_dir};
    if (auto err = drop_privileges(*who, dirs)) {
      log::error("cannot drop privileges to user {}: {}", who->name, *err);
      return exit_invalid;
    }
    log::info("running as user {} (uid {}, gid {})", who->name, who->uid, who->gid);
  }

  if (dnsbl.server) {
    dnsbl.server->start();
    for (const auto& ep : dnsbl.server->bound()) {
      log::info("dnsbld: listening on {} (udp, tcp)", ep.to_string());
    }
  }
  if (server) {
    server->start();
    for (const auto& d : server->bound_descriptions()) log::info("smtpd: listening on {}", d);
  }

  auto work = asio::make_work_guard(ioc);
  const unsigned n_threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n_threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  if (server) {
    log::info("smtpd {} serving with {} threads; config {}", settings->session.hostname,
              n_threads, opts.config_path);
  }

  auto next_warning = clock_type::now() + opts.open_relay_warning_interval;
  for (;;) {
    auto until = clock_type::now() + std::chrono::hours(24);
    if (open_relay) until = std::min(until, next_warning);
    if (dnsbl.server && dnsbl.plan.check_interval > 0) until = std::min(until, dnsbl.next_check);
    if (dnsbl.trim_at) until = std::min(until, *dnsbl.trim_at);
    const timespec timeout = to_timespec(until - clock_type::now());
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      log::info("received {}, stopping{}", sig == SIGINT ? "SIGINT" : "SIGTERM",
                server ? fmt::format(": no new sessions; sessions inside DATA have {} s", grace)
                       : std::string());
      break;
    }
    if (sig == SIGHUP) {
      std::optional<proven_config> next;
      if (!opts.config_path.empty()) {
        auto loaded = load_and_prove(opts.config_path);
        if (!loaded) {
          log::error("reload refused: {}; still serving the previous config", loaded.error());
        } else {
          next = std::move(*loaded);
        }
      }
      if (next) {
        const auto& c = next->loaded.cfg;
        if (c.has_smtpd != run_smtpd || (c.has_dnsbld || !opts.dnsbl_zones.empty()) != run_dnsbld) {
          log::warn("reload: [smtpd] or [dnsbld] added or removed; services start and stop only "
                    "on restart");
        }
        if (server && c.has_smtpd) {
          std::vector<inet::endpoint> before, after;
          for (const auto& l : settings->listeners) before.push_back(l.endpoint);
          auto next_settings = make_settings(next->loaded);
          for (const auto& l : next_settings->listeners) after.push_back(l.endpoint);
          if (before != after) {
            log::warn("reload: smtpd.listen changed; listeners change only on restart");
          }
          settings = std::move(next_settings);
          server->reload(settings);
          open_relay = !next->proof.safe();
          proof = next->proof;
          grace = c.smtpd.shutdown_grace;
          if (open_relay) warn_open_relay(proof, opts.config_path);
        }
        if (dnsbl.server) {
          auto plan = make_dnsbl_plan(&c, opts.dnsbl_zones, opts.dnsbl_listen);
          if (!plan) {
            log::error("reload: {}; dnsbld keeps its previous zones", plan.error());
          } else if (plan->zones.empty()) {
            log::warn("reload: no dnsbld zones in the new config; dnsbld keeps its previous zones");
          } else {
            if (!(plan->settings == dnsbl.plan.settings)) {
              log::warn("reload: dnsbld listen, udp_*, tcp_* settings change only on restart");
            }
            plan->settings = dnsbl.plan.settings;
            dnsbl.plan = std::move(*plan);
          }
        }
        log::info("reloaded {}", opts.config_path);
      }
      if (dnsbl.server) dnsbl.reload("SIGHUP");
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
    if (dnsbl.server) {
      dnsbl.check_files();
      dnsbl.trim_if_due();
    }
  }

  if (dnsbl.server) dnsbl.server->stop();
  if (server) {
    server->begin_shutdown();
    const auto deadline = clock_type::now() + std::chrono::seconds(grace);
    while (server->sessions() > 0 && clock_type::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (server->sessions() > 0) {
      log::warn("shutdown grace over: closing {} session(s)", server->sessions());
    }
  }
  work.reset();
  ioc.stop();
  for (auto& t : threads) t.join();
  if (dnsbl.server) dnsbl.log_counts();
  server.reset();
  dnsbl.server.reset();
  log::info("stopped");
  return exit_ok;
}

}  // namespace mx::cli
