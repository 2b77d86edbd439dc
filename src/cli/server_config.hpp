// cli/server_config: everything `serve` needs from disk, loaded in one place so that start-up,
// SIGHUP reload and `check-config` accept and refuse exactly the same files: the config
// (config::load_file) and the recipients file it names (policy::recipient_table::parse).
//
// SECURITY: a recipients file naming a domain that is not local, or a bad mailbox name, is a
// config error (file:line), never a warning: it decides where mail is written.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/result.hpp"
#include "net/smtp_server.hpp"
#include "policy/recipients.hpp"

namespace mx::cli {

struct loaded_config {
  config::config cfg;
  policy::recipient_table recipients;
};

// The error text names the file and line ("recipients.txt:3: ...").
expected<loaded_config, std::string> load_server_config(const std::string& config_path);

// One immutable generation of server settings.
std::shared_ptr<const net::smtp_settings> make_settings(const loaded_config& loaded);

}  // namespace mx::cli
