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

  friend bool operator==(const smtpd_config&, const smtpd_config&) = default;
};

struct config {
  std::string source;  // file name the config came from (for messages)
  smtpd_config smtpd;

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

// Every option's effective value (defaults included) as a TOML document, from the option table.
// load_string(effective_toml(c)) gives back c (bar `source`): `check-config --show` prints it.
std::string effective_toml(const config& cfg);

}  // namespace mx::config
