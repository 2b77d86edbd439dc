#include "cli/server_config.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace mx::cli {

expected<loaded_config, std::string> load_server_config(const std::string& config_path) {
  auto cfg = config::load_file(config_path);
  if (!cfg) return unexpected(cfg.error().to_string());
  const auto& smtpd = cfg->smtpd;
  if (smtpd.recipients.empty()) {
    return loaded_config{*cfg, policy::recipient_table::postmaster_only(smtpd.local_domains)};
  }
  std::ifstream in(smtpd.recipients, std::ios::binary);
  if (!in) {
    return unexpected(fmt::format("{}: cannot read (smtpd.recipients in {}): {}", smtpd.recipients,
                                  config_path, std::strerror(errno)));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto table = policy::recipient_table::parse(text, smtpd.recipients, smtpd.local_domains);
  if (!table) return unexpected(table.error().to_string());
  return loaded_config{*cfg, std::move(*table)};
}

std::shared_ptr<const net::smtp_settings> make_settings(const loaded_config& loaded) {
  const auto& c = loaded.cfg.smtpd;
  auto s = std::make_shared<net::smtp_settings>();
  s->listen = c.listen;
  s->session.hostname = c.hostname;
  s->session.max_recipients = c.max_recipients;
  s->session.max_message_size = c.max_message_size;
  s->session.max_errors = c.max_errors;
  s->session.max_rejections = c.max_rejections;
  s->relay = config::relay_policy(loaded.cfg);
  s->recipients = loaded.recipients;
  s->mail_dir = c.mail_dir;
  s->queue_dir = c.queue_dir;
  s->max_connections = c.max_connections;
  s->max_connections_per_ip = c.max_connections_per_ip;
  auto& t = s->timeouts;
  t.greet_delay = std::chrono::milliseconds(c.greet_delay);
  t.greeting = std::chrono::seconds(c.timeout_greeting);
  t.mail = std::chrono::seconds(c.timeout_mail);
  t.rcpt = std::chrono::seconds(c.timeout_rcpt);
  t.data_init = std::chrono::seconds(c.timeout_data_init);
  t.data_block = std::chrono::seconds(c.timeout_data_block);
  t.data_term = std::chrono::seconds(c.timeout_data_term);
  t.idle = std::chrono::seconds(c.timeout_idle);
  t.session_lifetime = std::chrono::seconds(c.session_lifetime);
  s->allow_open_relay = c.allow_open_relay;
  return s;
}

}  // namespace mx::cli
