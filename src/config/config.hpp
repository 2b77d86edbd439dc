// config/config: mxguard's configuration, loaded from TOML (toml++) through ONE option table
// (section, name, type, default, bounds, help). The same table drives parsing, validation,
// `check-config` and the generated reference docs/config.md, so they cannot disagree.
//
// SECURITY: the relay policy is built from here, so loading is strict: an unknown key, a wrong
// type, a value out of bounds, a malformed CIDR or domain is an error with file:line:column, never
// a silent default. Closed is the default: allow_open_relay is false unless set by name.
// Exceptions from toml++ are caught here and become config_error values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/inet.hpp"
#include "core/result.hpp"
#include "policy/relay.hpp"

namespace mx::config {

// One [[smtpd.listener]] table: listeners beside [smtpd] listen (which are MX listeners, offering
// STARTTLS when [tls] is configured). Submission listeners (RFC 6409; port 587 with STARTTLS, 465
// with implicit TLS, RFC 8314) require AUTH before MAIL and never relay for trusted_networks.
struct listener_config {
  std::vector<inet::endpoint> listen;  // required
  std::string role = "submission";     // "submission" or "mx"
  std::string tls = "starttls";        // "starttls", "implicit" or "none"
  bool require_tls = false;            // 530 5.7.0 before STARTTLS
  bool auth_without_tls = false;       // offer AUTH in plaintext: loopback addresses only

  bool submission() const { return role == "submission"; }
  bool implicit_tls() const { return tls == "implicit"; }
  friend bool operator==(const listener_config&, const listener_config&) = default;
};

struct smtpd_config {
  std::vector<inet::endpoint> listen;                   // default ["127.0.0.1:2525"]
  std::string hostname;                                 // canonical; default "localhost"
  std::vector<std::string> local_domains;               // canonical
  std::vector<std::string> relay_domains;               // canonical
  std::vector<inet::cidr> trusted_networks;             // default ["127.0.0.0/8", "::1/128"]
  std::vector<inet::ip_address> own_addresses;          // extra addresses that are "us"
  std::vector<policy::restriction> relay_restrictions;  // default policy::default_restrictions()
  std::uint32_t max_recipients = 100;
  std::uint64_t max_message_size = 10485760;
  std::uint32_t max_errors = 10;
  std::uint32_t max_rejections = 100;
  bool soft_reject = false;
  bool allow_open_relay = false;
  // Storage (issue 3).
  std::string mail_dir = "var/mail";
  std::string queue_dir = "var/queue";
  std::string recipients;  // file of valid local recipients; "" = only postmaster@
  // Connection limits and timeouts (RFC 5321 4.5.3.2), in seconds unless named otherwise.
  std::uint32_t max_connections = 1000;
  std::uint32_t max_connections_per_ip = 50;
  std::uint32_t greet_delay = 0;  // milliseconds
  std::uint32_t timeout_greeting = 300;
  std::uint32_t timeout_mail = 300;
  std::uint32_t timeout_rcpt = 300;
  std::uint32_t timeout_data_init = 120;
  std::uint32_t timeout_data_block = 180;
  std::uint32_t timeout_data_term = 600;
  std::uint32_t timeout_idle = 300;
  std::uint32_t session_lifetime = 3600;
  std::uint32_t shutdown_grace = 30;
  // RFC 6409 6.1: the senders each authenticated user may use ("" = not checked).
  std::string sender_login_maps;
  std::vector<listener_config> listeners;  // [[smtpd.listener]]
  // DNSBL checks (issue 6), Postfix postscreen_dnsbl_sites syntax, validated by
  // policy::dnsbl::parse_site and kept in its canonical text.
  std::vector<std::string> dnsbl;         // client IP lists
  std::int32_t dnsbl_threshold = 1;
  std::vector<std::string> rhsbl_sender;  // MAIL FROM domain lists
  std::vector<std::string> rhsbl_helo;    // HELO domain lists
  std::string dnsbl_action = "reject";    // "reject", "defer" or "log"
  std::string dnsbl_reject_at = "rcpt";   // "rcpt" or "connect"

  friend bool operator==(const smtpd_config&, const smtpd_config&) = default;
};

// [tls]: the certificate every TLS listener presents (reloaded on SIGHUP).
struct tls_config {
  std::string cert;  // PEM chain, leaf first
  std::string key;   // PEM private key
  friend bool operator==(const tls_config&, const tls_config&) = default;
};

// [auth]: SMTP AUTH credentials (RFC 4954) and the limits on guessing them.
struct auth_config {
  std::string passwd_file;           // Dovecot passwd-file style; "" = AUTH not offered
  std::uint32_t max_failures = 5;    // per client IP and per user within failure_window
  std::uint32_t failure_window = 300;  // seconds
  friend bool operator==(const auth_config&, const auth_config&) = default;
};

// [resolver]: the DNS stub resolver of smtpd's DNSBL checks (net/resolver, c-ares).
struct resolver_config {
  std::vector<std::string> servers;  // "IP", "IP:port", "[IPv6]:port"; empty: /etc/resolv.conf
  std::uint32_t timeout = 2000;      // milliseconds
  std::uint32_t tries = 2;
  std::uint32_t max_ttl = 3600;      // seconds
  friend bool operator==(const resolver_config&, const resolver_config&) = default;
};

// [service]: the process itself.
struct service_config {
  std::string user = "mxguard";  // started as root: drop to this user after binding and reading keys
  friend bool operator==(const service_config&, const service_config&) = default;
};

// One [[dnsbld.zone]] table.
struct dnsbld_zone_config {
  std::string name;                   // canonical domain, the zone's apex
  std::vector<std::string> datasets;  // "type:file[,file]..." in canonical form, in order

  friend bool operator==(const dnsbld_zone_config&, const dnsbld_zone_config&) = default;
};

// The DNSBL server (issue 5). Data files are read at start and on reload, not at config load.
struct dnsbld_config {
  std::vector<inet::endpoint> listen;    // default ["127.0.0.1:5353"]; UDP and TCP on each
  std::vector<inet::cidr> axfr_allow;    // clients allowed to transfer zones; default none
  std::uint32_t default_ttl = 2100;      // rbldnsd -t: 35 minutes
  std::uint32_t udp_payload = 1232;      // EDNS0 size we offer and cap UDP answers at
  std::uint32_t udp_sockets = 0;         // per listen address; 0: one per core
  std::uint32_t tcp_timeout = 10;        // seconds a TCP connection may idle (RFC 7766 6.2.3)
  std::uint32_t max_tcp_connections = 1000;
  bool test_points = true;               // RFC 5782 5: 127.0.0.2 listed, 127.0.0.1 not
  bool accept_host_bits = false;         // rbldnsd -e: "10.1.2.3/8" means 10.0.0.0/8
  std::uint32_t check_interval = 1;      // seconds between data file checks; 0: SIGHUP only
  std::uint32_t load_threads = 0;        // threads parsing one large data file; 0: one per core
  std::vector<dnsbld_zone_config> zones;

  friend bool operator==(const dnsbld_config&, const dnsbld_config&) = default;
};

struct config {
  std::string source;  // file name the config came from (for messages)
  // Which sections the file has: `serve` runs the SMTP server only with [smtpd], the DNSBL
  // server only with [dnsbld] (or --dnsbl). Absent sections still hold their defaults.
  bool has_smtpd = false;
  bool has_dnsbld = false;
  bool has_tls = false;
  bool has_auth = false;
  bool has_service = false;
  bool has_resolver = false;
  smtpd_config smtpd;
  dnsbld_config dnsbld;
  tls_config tls;
  auth_config auth;
  service_config service;
  resolver_config resolver;

  friend bool operator==(const config&, const config&) = default;
};

struct config_error {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown (unreadable file)
  int column = 0;  // 1-based; 0 when unknown
  std::string message;
  std::string to_string() const;  // "file:line:column: message"; "file: message" when line is 0
};

expected<config, config_error> load_file(const std::string& path);
expected<config, config_error> load_string(std::string_view toml_text,
                                           std::string_view source_name);

// The relay policy this config describes. Own addresses are the listen addresses that are not
// wildcards, plus smtpd.own_addresses.
policy::relay_config relay_policy(const config& cfg);

// docs/config.md, generated from the option table.
std::string reference_markdown();

// Every option's effective value (defaults included) of every section the config declares, as
// a TOML document, from the option table. load_string(effective_toml(c)) gives back c (bar
// `source`): `check-config --show` prints it.
std::string effective_toml(const config& cfg);

}  // namespace mx::config
