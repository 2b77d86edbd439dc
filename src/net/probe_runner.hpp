// net/probe_runner: the Asio shell of `mxguard probe`. It resolves target names, then runs one
// probe::target_probe per target address, many targets at once (up to `concurrency`), each a
// C++20 coroutine on one io_context thread: the probe decides, this layer only connects, writes,
// reads and keeps time. One session per target is reused across its tests; the target machine
// asks for a new connection when the server closes one. The PROXY probe runs on a second
// connection beside the main session (probe::probe_part), so a target holds up to two
// connections at once.
//
// Deadlines: every connect, write and read runs against a timer (`timeout`, per reply); the
// settle wait after the PROXY probe's greeting lasts `settle`, or twice the target's greeting
// delay if that is longer (a slow server answers the header slowly too). `delay` spaces the
// writes to one target.
//
// STARTTLS: when the target machine asks, the TLS handshake runs on the same socket (OpenSSL
// through asio::ssl), and the session goes on inside TLS.
//
// SECURITY: plain-text reads go into one shared buffer only after the socket is readable (no
// per-target read buffer; a target cannot make us hold more than its reply-line limit); a TLS
// session has a 16 KiB buffer of its own. TLS certificates are not verified: nothing secret is
// sent, and the point is to reach the server's policy inside TLS. Names are resolved
// with the system resolver (getaddrinfo) or, for mx:DOMAIN, c-ares; nothing else leaves the
// process but SMTP commands without DATA. Trace output is made terminal-safe.
// RFCs: 5321 4.5.3.2 (client timeouts; ours are shorter by default, and configurable), 974/5321
//   5.1 (MX resolution, for mx:DOMAIN), 3207 (STARTTLS), 6066 3 (SNI).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "probe/target.hpp"

namespace mx::net {

struct probe_run_options {
  std::size_t concurrency = 256;             // targets probed at once
  std::chrono::milliseconds timeout{30000};  // per reply, per connect, per write
  std::chrono::milliseconds delay{0};        // between two writes to one target
  std::chrono::milliseconds settle{1000};    // quiet period after the PROXY probe's banner
  std::string dns_servers;  // for mx: targets, "IP[:port],..." (c-ares); empty: resolv.conf
  // Every line sent ('>') and received ('<'), already made printable; called on the I/O thread.
  std::function<void(std::string_view endpoint, char direction, std::string_view line)> trace;
};

// One TARGET as given: either an address, a name to resolve (A and AAAA: every address is
// probed), or an MX domain (every address of every MX host; the domain becomes a local domain).
struct probe_job {
  probe::target_config cfg;  // identity.address set when the target is an address
  std::string host;          // the name to resolve, when identity.address is unset
  bool mx = false;           // host is a domain whose MX hosts are the targets
};

// Runs every job; one report per probed address (a name that does not resolve gets one
// INCONCLUSIVE report), in the order of the jobs.
std::vector<probe::target_report> run_probes(std::vector<probe_job> jobs,
                                             const probe_run_options& opts);

}  // namespace mx::net
