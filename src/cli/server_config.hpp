// cli/server_config: everything `serve` needs from disk, loaded in one place so that start-up,
// SIGHUP reload and `check-config` accept and refuse exactly the same files: the config
// (config::load_file) and the recipients file it names (policy::recipient_table::parse); and for
// dnsbld, the zones (from [[dnsbld.zone]] and `--dnsbl ZONE:TYPE:FILE[,FILE]...`) and their data
// files, loaded into one new generation aside from the one being served.
//
// SECURITY: a recipients file naming a domain that is not local, or a bad mailbox name, is a
// config error (file:line), never a warning: it decides where mail is written. A DNSBL data file
// that cannot be read, or a dataset whose load fails, fails the whole generation (the server
// keeps the last good one); bad lines inside a file are warnings, as in rbldnsd.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "dnsbl/dataset.hpp"
#include "net/dns_server.hpp"
#include "net/smtp_server.hpp"
#include "policy/credentials.hpp"
#include "policy/recipients.hpp"
#include "policy/sender_login.hpp"
#include "policy/relay_proof.hpp"

namespace mx::cli {

struct loaded_config {
  config::config cfg;
  policy::recipient_table recipients;
  std::shared_ptr<net::tls_context> tls;  // from [tls]; null without it
  std::shared_ptr<const policy::credential_table> credentials;   // [auth] passwd_file
  std::shared_ptr<const policy::sender_login_map> sender_logins;  // smtpd.sender_login_maps
};

// Reads the config and every file it names (recipients, [tls] cert and key, [auth] passwd_file,
// sender_login_maps). The error text
// names the file and line ("recipients.txt:3: ...").
expected<loaded_config, std::string> load_server_config(const std::string& config_path);

// One immutable generation of server settings.
std::shared_ptr<const net::smtp_settings> make_settings(const loaded_config& loaded);

// The relay-safety proof of every listener: the MX policy against outsiders, and for submission
// listeners (RFC 6409) their policy against outsiders AND clients inside trusted_networks (which
// submission never trusts), plus the session's gate: MAIL before AUTH must be refused, in
// plaintext and under TLS. Findings from submission listeners name the listener.
policy::relay_proof_result prove_config(const loaded_config& loaded);

// ---- dnsbld ----

// What dnsbld serves: the config's [dnsbld] (when it has one; otherwise the defaults) plus the
// command line's zones and listen addresses (which replace the config's).
struct dnsbl_plan {
  std::vector<config::dnsbld_zone_config> zones;  // the config's, then --dnsbl's (stacked by name)
  net::dns_settings settings;
  std::vector<inet::cidr> axfr_allow;
  dnsbl::load_options load;  // `now` is set at each load
  std::uint32_t check_interval = 1;
};

// cfg may be null (no --config). The error names the bad argument.
expected<dnsbl_plan, std::string> make_dnsbl_plan(const config::config* cfg,
                                                  const std::vector<std::string>& zone_args,
                                                  const std::vector<std::string>& listen_args);

// What a data file looked like: a reload is due when any of them changes.
struct file_stamp {
  std::string path;
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const file_stamp&, const file_stamp&) = default;
};
std::vector<file_stamp> stamp_files(const dnsbl_plan& plan);

struct dnsbl_loaded {
  net::dns_data data;
  std::vector<std::string> summary;   // one line per zone: datasets, entries, memory
  std::vector<std::string> warnings;  // "file:line: message", the first 100 of each dataset
  std::size_t warning_count = 0;      // all of them
};

// Reads every data file and builds a zone set. The error is "file:line: message" (line 0 when the
// file itself is the problem), prefixed with the zone.
expected<dnsbl_loaded, std::string> load_dnsbl(const dnsbl_plan& plan);

}  // namespace mx::cli
