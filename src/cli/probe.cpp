// `mxguard probe`: the open-relay tester. Parses its own command line (usage errors exit 64, as
// sysexits' EX_USAGE), builds one probe job per TARGET, runs them through net::run_probes and
// prints a table per target, or JSON. Exit: 0 every target CLOSED, 1 any OPEN, 2 any TEMPFAIL,
// AUTH-REQUIRED or INCONCLUSIVE (and none OPEN), 64 usage error.
//
// SECURITY: it never sends DATA or BDAT (smtp::client_session cannot). The sender, recipient and
// domains given on the command line are checked by the same parsers the server uses, so no CR/LF
// or malformed path reaches the wire. Probe only servers you are responsible for.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "net/probe_runner.hpp"
#include "probe/output.hpp"
#include "probe/spec.hpp"
#include "smtp/address.hpp"

namespace mx::cli {

namespace {

constexpr int exit_usage = 64;

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:08x}", static_cast<std::uint32_t>(rd()));
}

std::string default_helo() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) {
    if (auto c = smtp::canonical_domain(name); c && c->find('.') != std::string::npos) return *c;
  }
  return "localhost";
}

int usage(const std::string& why) {
  fmt::print(stderr, "mxguard probe: {}\nRun `mxguard probe --help` for the options.\n", why);
  return exit_usage;
}

// A local part as --to takes it: a dot-string of atext (RFC 5321 4.1.2), no quoting.
bool valid_local_part(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || std::string_view("!#$&'*+-/=?^_`{|}~").find(c) != std::string_view::npos) {
      continue;
    }
    if (c == '.' && s[i + 1] != '.') continue;
    return false;
  }
  return true;
}

}  // namespace

int run_probe(int argc, char** argv) {
  CLI::App app{
      "Test SMTP servers for open relaying, with a battery of relay tricks and honest verdicts. "
      "Never sends a message (no DATA, no BDAT): a relay is judged at RCPT. Probe only servers "
      "you are responsible for.\n"
      "Exit: 0 every target CLOSED, 1 any OPEN, 2 any TEMPFAIL, AUTH-REQUIRED or INCONCLUSIVE, "
      "64 usage error."};
  app.name("mxguard probe");

  std::vector<std::string> targets;
  std::string targets_file;
  std::vector<std::string> local_domains;
  std::string test_domain(probe::default_test_domain);
  std::string helo;
  std::string from;
  std::string to(probe::default_to);
  std::size_t concurrency = 256;
  double timeout = 30;
  long delay_ms = 0;
  std::size_t pipeline = probe::target_config{}.pipeline_tests;
  std::string starttls = "auto";
  bool json = false;
  bool trace = false;
  bool list_tests = false;
  std::vector<std::string> dns_servers;

  app.add_option("TARGET", targets,
                 "host, host:port, [v6addr]:port, or mx:DOMAIN (every MX of DOMAIN; the domain is "
                 "then a local domain too). Default port 25");
  app.add_option("--targets", targets_file, "Read targets from FILE, one per line ('#' comments)");
  app.add_option("--local-domain", local_domains,
                 "A domain the targets serve (repeatable): the local control and \"via\" routes "
                 "use it (default: the banner hostname)")
      ->allow_extra_args(false);
  app.add_option("--test-domain", test_domain,
                 "The external destination domain (default: example.net, reserved by RFC 2606; a "
                 "domain of yours makes a stronger test)")
      ->capture_default_str();
  app.add_option("--helo", helo, "EHLO/HELO name (default: this host's name)");
  app.add_option("--from", from, "Sender address (default: mxguard-probe@<test domain>)");
  app.add_option("--to", to, "Recipient local part at the test domain")->capture_default_str();
  app.add_option(
         "--concurrency", concurrency,
         "Targets probed at once (each holds up to two connections: the PROXY probe has its own)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  app.add_option("--timeout", timeout,
                 "Seconds to wait for each reply (greeting pauses and tarpits exist)")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--delay", delay_ms,
                 "Milliseconds between two writes to one target (a command, or a pipelined group)")
      ->check(CLI::Range(0L, 600000L))
      ->capture_default_str();
  app.add_option("--pipeline", pipeline,
                 "Tests per write when the target offers PIPELINING (RFC 2920; replies come back "
                 "in order, each test is still judged alone); 1: one test per write")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64}))
      ->capture_default_str();
  app.add_option("--starttls", starttls,
                 "auto: when STARTTLS is offered, run the battery before and after it; always: "
                 "only inside TLS (INCONCLUSIVE when not offered); never: plain text only")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_option("--dns-server", dns_servers,
                 "DNS server for mx: targets, IP or IP:port (repeatable; default: the system's, "
                 "from /etc/resolv.conf)")
      ->allow_extra_args(false);
  app.add_flag("--json", json, "JSON output: every test with its commands and full replies");
  app.add_flag("--trace", trace, "Print every line sent and received (on stderr)");
  app.add_flag("--list-tests", list_tests,
               "List the tests: id, form, what it exploits, and the reference");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }

  if (list_tests) {
    fmt::print("{}", probe::format_test_list());
    return exit_ok;
  }

  // Targets.
  std::vector<probe::target_spec> specs;
  for (const auto& t : targets) {
    auto s = probe::parse_target(t);
    if (!s) return usage(s.error());
    specs.push_back(std::move(*s));
  }
  if (!targets_file.empty()) {
    std::ifstream in(targets_file, std::ios::binary);
    if (!in) return usage(fmt::format("--targets {}: cannot read", targets_file));
    std::ostringstream text;
    text << in.rdbuf();
    auto list = probe::parse_target_list(text.str());
    if (!list) return usage(fmt::format("--targets {}: {}", targets_file, list.error()));
    specs.insert(specs.end(), list->begin(), list->end());
  }
  if (specs.empty()) return usage("no TARGET given");

  // Identities and envelope.
  std::vector<std::string> locals;
  for (const auto& d : local_domains) {
    auto c = smtp::canonical_domain(d);
    if (!c) return usage(fmt::format("--local-domain \"{}\" is not a domain name", d));
    locals.push_back(*c);
  }
  auto test = smtp::canonical_domain(test_domain);
  if (!test || test->find('.') == std::string::npos) {
    return usage(fmt::format("--test-domain \"{}\" is not a domain name", test_domain));
  }
  for (const auto& d : locals) {
    if (d == *test) {
      return usage(
          fmt::format("--test-domain {} is also a --local-domain: the destination must "
                      "be a domain the targets do not serve",
                      d));
    }
  }
  if (!from.empty()) {
    smtp::parse_options po;
    auto a = smtp::parse_address("<" + from + ">", po);
    if (!a || a->is_routed() || a->kind == smtp::domain_kind::none) {
      return usage(fmt::format("--from \"{}\" is not a plain address (local@domain)", from));
    }
  }
  if (!valid_local_part(to)) {
    return usage(fmt::format("--to \"{}\" is not a plain local part", to));
  }
  if (helo.empty()) helo = default_helo();
  for (char c : helo) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return usage("--helo holds a space or a control character");
    }
  }

  std::string dns_csv;
  for (const auto& d : dns_servers) {
    auto ep = inet::endpoint::parse(d);
    if (!ep) {
      auto ip = inet::ip_address::parse(d);
      if (!ip) return usage(fmt::format("--dns-server \"{}\" is not IP or IP:port", d));
      ep = inet::endpoint{*ip, 53};
    }
    if (ep->port == 0) return usage(fmt::format("--dns-server \"{}\": port 0", d));
    dns_csv += (dns_csv.empty() ? "" : ",") + ep->to_string();
  }

  const std::string token = random_token();
  std::vector<net::probe_job> jobs;
  for (const auto& s : specs) {
    net::probe_job job;
    job.cfg.target = s.text;
    job.cfg.identity.port = s.port;
    job.cfg.identity.address = s.ip;
    job.cfg.identity.local_domains = locals;
    if (s.mx && std::find(locals.begin(), locals.end(), s.host) == locals.end()) {
      job.cfg.identity.local_domains.insert(job.cfg.identity.local_domains.begin(), s.host);
    }
    job.cfg.battery.test_domain = *test;
    job.cfg.battery.from = from;
    job.cfg.battery.to = to;
    job.cfg.battery.token = token;
    job.cfg.client.helo = helo;
    job.cfg.pipeline_tests = pipeline;
    job.cfg.starttls = starttls == "never"    ? probe::tls_use::never
                       : starttls == "always" ? probe::tls_use::always
                                              : probe::tls_use::when_offered;
    job.host = s.host;
    job.mx = s.mx;
    jobs.push_back(std::move(job));
  }

  // Each target holds up to two sockets at once (the PROXY probe has its own): raise the soft
  // descriptor limit to the hard one, and probe fewer targets at once if even that is short,
  // rather than failing connects with EMFILE (which would read as unreachable targets).
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rlimit raised = rl;
      raised.rlim_cur = rl.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    constexpr rlim_t reserve = 64;  // stdio, DNS, the TLS library
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > reserve + 2 &&
        2 * concurrency + reserve > rl.rlim_cur) {
      const std::size_t fit = (rl.rlim_cur - reserve) / 2;
      fmt::print(stderr,
                 "mxguard probe: --concurrency {} needs {} descriptors, the limit is {}: probing "
                 "{} targets at once\n",
                 concurrency, 2 * concurrency + reserve, rl.rlim_cur, fit);
      concurrency = fit;
    }
  }

  net::probe_run_options opts;
  opts.concurrency = concurrency;
  opts.timeout = std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  opts.delay = std::chrono::milliseconds(delay_ms);
  opts.settle = std::min(opts.settle, opts.timeout);
  opts.dns_servers = dns_csv;
  if (trace) {
    opts.trace = [](std::string_view endpoint, char dir, std::string_view line) {
      fmt::print(stderr, "{} {} {}\n", endpoint, dir, line);
    };
  }

  auto reports = net::run_probes(std::move(jobs), opts);
  std::vector<probe::verdict> verdicts;
  for (const auto& r : reports) verdicts.push_back(r.result.v);
  if (json) {
    fmt::print("{}", probe::format_json(reports));
  } else {
    for (const auto& r : reports) fmt::print("{}\n", probe::format_table(r));
    if (reports.size() > 1) fmt::print("summary:\n{}", probe::format_summary(reports));
  }
  std::fflush(stdout);
  return probe::exit_code(verdicts);
}

}  // namespace mx::cli
