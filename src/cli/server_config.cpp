#include "cli/server_config.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <optional>

#include "dnsbl/files.hpp"
#include "dnsbl/zone.hpp"
#include "smtp/address.hpp"
#include "smtp/session.hpp"

namespace mx::cli {

namespace {

expected<std::string, std::string> read_whole(const std::string& path, std::string_view key,
                                              const std::string& config_path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return unexpected(fmt::format("{}: cannot read ({} in {}): {}", path, key, config_path,
                                  std::strerror(errno)));
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

expected<loaded_config, std::string> load_server_config(const std::string& config_path) {
  auto cfg = config::load_file(config_path);
  if (!cfg) return unexpected(cfg.error().to_string());
  loaded_config out;
  out.cfg = *cfg;
  const auto& smtpd = cfg->smtpd;
  if (smtpd.recipients.empty()) {
    out.recipients = policy::recipient_table::postmaster_only(smtpd.local_domains);
  } else {
    auto text = read_whole(smtpd.recipients, "smtpd.recipients", config_path);
    if (!text) return unexpected(text.error());
    auto table = policy::recipient_table::parse(*text, smtpd.recipients, smtpd.local_domains);
    if (!table) return unexpected(table.error().to_string());
    out.recipients = std::move(*table);
  }
  if (cfg->has_tls) {
    auto tls = net::load_tls_context(cfg->tls.cert, cfg->tls.key);
    if (!tls) return unexpected(fmt::format("{} (in {})", tls.error(), config_path));
    out.tls = std::move(*tls);
  }
  if (cfg->has_auth) {
    auto text = read_whole(cfg->auth.passwd_file, "auth.passwd_file", config_path);
    if (!text) return unexpected(text.error());
    auto table = policy::parse_passwd(*text, cfg->auth.passwd_file);
    if (!table) return unexpected(table.error().to_string());
    out.credentials = std::make_shared<const policy::credential_table>(std::move(*table));
  }
  if (!smtpd.sender_login_maps.empty()) {
    auto text = read_whole(smtpd.sender_login_maps, "smtpd.sender_login_maps", config_path);
    if (!text) return unexpected(text.error());
    auto map = policy::parse_sender_login_map(*text, smtpd.sender_login_maps);
    if (!map) return unexpected(map.error().to_string());
    out.sender_logins = std::make_shared<const policy::sender_login_map>(std::move(*map));
  }
  return out;
}

std::shared_ptr<const net::smtp_settings> make_settings(const loaded_config& loaded) {
  const auto& c = loaded.cfg.smtpd;
  auto s = std::make_shared<net::smtp_settings>();
  s->session.hostname = c.hostname;
  s->session.max_recipients = c.max_recipients;
  s->session.max_message_size = c.max_message_size;
  s->session.max_errors = c.max_errors;
  s->session.max_rejections = c.max_rejections;
  s->relay = config::relay_policy(loaded.cfg);
  s->tls = loaded.tls;
  s->credentials = loaded.credentials;
  s->sender_logins = loaded.sender_logins;
  s->auth_limits.max_failures = loaded.cfg.auth.max_failures;
  s->auth_limits.window = std::chrono::seconds(loaded.cfg.auth.failure_window);
  const bool auth = loaded.credentials != nullptr;
  // [smtpd] listen: MX listeners, offering STARTTLS with a certificate and AUTH under TLS.
  s->session.tls_available = s->tls != nullptr;
  s->session.auth_available = auth;
  for (const auto& ep : c.listen) s->listeners.push_back({ep, false, false, s->session, s->relay});
  for (const auto& l : c.listeners) {
    net::smtp_listener proto{{}, l.submission(), l.implicit_tls(), s->session, s->relay};
    proto.session.tls_available = s->tls != nullptr && l.tls == "starttls";
    proto.session.tls_active = l.implicit_tls();
    proto.session.require_tls = l.require_tls;
    proto.session.auth_available = auth;
    proto.session.auth_without_tls = l.auth_without_tls;
    if (l.submission()) {
      // RFC 6409: submission relays for authenticated users only, wherever they connect from.
      proto.session.require_auth = true;
      proto.relay.trusted_networks.clear();
    }
    for (const auto& ep : l.listen) {
      proto.endpoint = ep;
      s->listeners.push_back(proto);
    }
  }
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
  // DNS lists: the config holds each entry in canonical text, checked at load.
  auto checks = std::make_shared<policy::dnsbl::check_config>();
  auto sites = [](const std::vector<std::string>& entries) {
    std::vector<policy::dnsbl::site> out;
    for (const auto& e : entries) {
      auto site = policy::dnsbl::parse_site(e);
      if (!site) invariant_failed("server_config: a DNS list entry that loaded does not parse");
      out.push_back(std::move(*site));
    }
    return out;
  };
  checks->client = sites(c.dnsbl);
  checks->helo = sites(c.rhsbl_helo);
  checks->sender = sites(c.rhsbl_sender);
  checks->threshold = c.dnsbl_threshold;
  s->dnsbl.checks = std::move(checks);
  s->dnsbl.act = c.dnsbl_action == "defer" ? net::smtp_dnsbl_settings::action::defer
                 : c.dnsbl_action == "log" ? net::smtp_dnsbl_settings::action::log
                                           : net::smtp_dnsbl_settings::action::reject;
  s->dnsbl.at_connect = c.dnsbl_reject_at == "connect";
  const auto& r = loaded.cfg.resolver;
  s->dnsbl.resolver.servers = r.servers;
  s->dnsbl.resolver.timeout = std::chrono::milliseconds(r.timeout);
  s->dnsbl.resolver.tries = static_cast<int>(r.tries);
  s->dnsbl.resolver.max_ttl = std::chrono::seconds(r.max_ttl);
  s->dnsbl.resolver.max_negative_ttl =
      std::min(s->dnsbl.resolver.max_negative_ttl, std::chrono::seconds(r.max_ttl));
  return s;
}

namespace {

// Feeds a client that never authenticates (EHLO, MAIL, RCPT; again after STARTTLS when offered)
// to a session configured as `l`; any sender or recipient request means the gate is open.
std::optional<std::string> auth_gate_hole(const net::smtp_listener& l) {
  smtp::server_session session(l.session);
  // EHLO ends a pipelining group (RFC 2920), so it is fed alone; MAIL and RCPT may pipeline.
  const std::string dialogue = "MAIL FROM:<outsider@example.com>\r\nRCPT TO:<victim@example.net>\r\n";
  auto leaks = [](const smtp::step& st) {
    return st.request && (std::holds_alternative<smtp::sender_request>(*st.request) ||
                          std::holds_alternative<smtp::recipient_request>(*st.request));
  };
  session.greet();
  auto st = session.feed("EHLO proof.example\r\n");
  if (!l.session.tls_active && l.session.tls_available) {
    st = session.feed("STARTTLS\r\n");
    if (st.request && std::holds_alternative<smtp::starttls_request>(*st.request)) {
      st = session.tls_established();
      st = session.feed("EHLO proof.example\r\n");
    }
  }
  st = session.feed(dialogue);
  if (leaks(st)) return std::string("MAIL accepted before AUTH");
  return std::nullopt;
}

}  // namespace

policy::relay_proof_result prove_config(const loaded_config& loaded) {
  const auto settings = make_settings(loaded);
  const std::string& hostname = loaded.cfg.smtpd.hostname;
  auto result = policy::prove_relay_safety(settings->relay, hostname);
  const net::smtp_listener* submission = nullptr;
  for (const auto& l : settings->listeners) {
    if (!l.submission) continue;
    submission = &l;
    if (auto hole = auth_gate_hole(l)) {
      result.findings.push_back({"any", "proof.example", "<outsider@example.com>",
                                 "<victim@example.net>",
                                 fmt::format("submission listener {}: {}", l.endpoint.to_string(),
                                             *hole),
                                 "the session"});
    }
  }
  if (submission != nullptr) {
    // Clients submission must not trust although [smtpd] trusted_networks names them.
    std::vector<inet::ip_address> insiders;
    for (const auto& net : loaded.cfg.smtpd.trusted_networks) insiders.push_back(net.network);
    for (const char* text : {"127.0.0.1", "::1"}) {
      if (auto ip = inet::ip_address::parse(text)) insiders.push_back(*ip);
    }
    auto sub = policy::prove_relay_safety(submission->relay, hostname, insiders);
    result.cases += sub.cases;
    for (auto& f : sub.findings) {
      f.client += " (on a submission listener)";
      result.findings.push_back(std::move(f));
    }
  }
  return result;
}

// ---- dnsbld ----

expected<dnsbl_plan, std::string> make_dnsbl_plan(const config::config* cfg,
                                                  const std::vector<std::string>& zone_args,
                                                  const std::vector<std::string>& listen_args) {
  // Without a [dnsbld] section the option table's defaults apply, as for a file that has one.
  auto defaults = config::load_string("[dnsbld]\n", "<defaults>");
  if (!defaults) return unexpected(defaults.error().to_string());
  const config::dnsbld_config& d = (cfg != nullptr && cfg->has_dnsbld) ? cfg->dnsbld
                                                                        : defaults->dnsbld;
  dnsbl_plan plan;
  plan.zones = d.zones;
  plan.axfr_allow = d.axfr_allow;
  plan.check_interval = d.check_interval;
  plan.settings.listen = d.listen;
  plan.settings.udp_payload = static_cast<std::uint16_t>(d.udp_payload);
  plan.settings.udp_sockets = d.udp_sockets;
  plan.settings.tcp_idle = std::chrono::seconds(d.tcp_timeout);
  plan.settings.max_tcp_connections = d.max_tcp_connections;
  plan.load.default_ttl = d.default_ttl;
  plan.load.rfc5782_test_points = d.test_points;
  plan.load.accept_host_bits = d.accept_host_bits;
  plan.load.threads = d.load_threads;

  for (const auto& arg : zone_args) {
    auto z = dnsbl::parse_zone_arg(arg);
    if (!z) return unexpected(fmt::format("--dnsbl {}: {}", arg, z.error()));
    auto name = smtp::canonical_domain(z->zone);
    if (!name) return unexpected(fmt::format("--dnsbl {}: {} is not a domain name", arg, z->zone));
    std::string dataset(dnsbl::name_of(z->spec.type));
    for (std::size_t i = 0; i < z->spec.files.size(); ++i) {
      dataset += (i == 0 ? ':' : ',') + z->spec.files[i];
    }
    // A zone named again stacks its datasets (rbldnsd's rule for a repeated zone argument).
    auto same = std::find_if(plan.zones.begin(), plan.zones.end(),
                             [&](const config::dnsbld_zone_config& c) { return c.name == *name; });
    if (same == plan.zones.end()) {
      plan.zones.push_back({*name, {dataset}});
    } else {
      same->datasets.push_back(dataset);
    }
  }
  if (!listen_args.empty()) {
    plan.settings.listen.clear();
    for (const auto& arg : listen_args) {
      auto ep = inet::endpoint::parse(arg);
      if (!ep) {
        return unexpected(fmt::format(
            "--dnsbl-listen {}: not a listen endpoint (IP:port, IPv6 as [addr]:port)", arg));
      }
      if (std::find(plan.settings.listen.begin(), plan.settings.listen.end(), *ep) ==
          plan.settings.listen.end()) {
        plan.settings.listen.push_back(*ep);
      }
    }
  }
  return plan;
}

namespace {

// The files of every dataset of the plan, each once, in order.
std::vector<std::string> plan_files(const dnsbl_plan& plan) {
  std::vector<std::string> files;
  for (const auto& z : plan.zones) {
    for (const auto& d : z.datasets) {
      auto spec = dnsbl::parse_dataset_spec(d);
      if (!spec) continue;  // validated when the plan was made
      for (const auto& f : spec->files) {
        if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
      }
    }
  }
  return files;
}

std::string kib(std::size_t bytes) {
  return bytes >= (10u << 20) ? fmt::format("{} MiB", bytes >> 20)
                              : fmt::format("{} KiB", (bytes + 1023) >> 10);
}

}  // namespace

std::vector<file_stamp> stamp_files(const dnsbl_plan& plan) {
  std::vector<file_stamp> out;
  for (const auto& path : plan_files(plan)) {
    file_stamp s;
    s.path = path;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      s.exists = true;
      s.dev = st.st_dev;
      s.ino = st.st_ino;
      s.size = st.st_size;
      s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    }
    out.push_back(std::move(s));
  }
  return out;
}

expected<dnsbl_loaded, std::string> load_dnsbl(const dnsbl_plan& plan) {
  dnsbl_loaded out;
  dnsbl::load_options opts = plan.load;
  opts.now = static_cast<std::int64_t>(std::time(nullptr));
  std::vector<dnsbl::zone_config> configs;
  for (const auto& z : plan.zones) {
    dnsbl::zone_config zc;
    zc.name = z.name;
    std::size_t entries = 0;
    std::size_t bytes = 0;
    for (const auto& d : z.datasets) {
      auto spec = dnsbl::parse_dataset_spec(d);
      if (!spec) return unexpected(fmt::format("zone {}: dataset {}: {}", z.name, d, spec.error()));
      auto loaded = dnsbl::load_dataset_files(spec->type, spec->files, opts);
      if (!loaded) {
        return unexpected(
            fmt::format("zone {}: dataset {}: {}", z.name, d, dnsbl::to_string(loaded.error())));
      }
      for (const auto& w : loaded->warnings) out.warnings.push_back(dnsbl::to_string(w));
      out.warning_count += loaded->warning_count;
      entries += loaded->data->entry_count();
      bytes += loaded->data->memory_bytes();
      zc.datasets.push_back(loaded->data);
    }
    out.summary.push_back(fmt::format("zone {}: {} dataset{}, {} entries, {}", z.name,
                                      z.datasets.size(), z.datasets.size() == 1 ? "" : "s",
                                      entries, kib(bytes)));
    configs.push_back(std::move(zc));
  }
  auto zones = dnsbl::zone_set::build(configs);
  if (!zones) return unexpected(zones.error());
  out.data.zones = std::move(*zones);
  out.data.axfr_allow = plan.axfr_allow;
  return out;
}

}  // namespace mx::cli
