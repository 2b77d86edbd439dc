// Loading: TOML text -> config through the option table, with every error located.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/option_table.hpp"

namespace mx::config {

std::string config_error::to_string() const {
  if (line <= 0) return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

namespace detail {

std::string display_text(std::string_view text) {
  constexpr std::size_t max_shown = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max_shown) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;  // UTF-8 is fine in a TOML basic string
        }
    }
  }
  return out + "\"";
}

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown TOML type";
}

std::string key_text(std::string_view section, std::string_view name, bool in_array,
                     std::size_t element) {
  if (in_array) return fmt::format("{}[{}].{}", section, element, name);
  return fmt::format("{}.{}", section, name);
}

namespace {

bool in_array_section(const option& opt) {
  for (const auto& s : section_table()) {
    if (s.name == opt.section) return s.is_array();
  }
  return false;
}

// Applies an option's default to `c` (table `element` of an array of tables).
void apply_default(const option& opt, config& c, std::size_t element) {
  toml::table doc;
  try {
    doc = toml::parse("v = " + opt.default_toml, std::string_view("<default>"));
  } catch (const toml::parse_error&) {
    invariant_failed("config: an option's default is not TOML");
  }
  if (opt.apply(*doc.get("v"), c, element)) {
    invariant_failed("config: an option's default is invalid");
  }
}

}  // namespace

const config& default_config() {
  static const config defaults = [] {
    config c;
    for (const auto& opt : option_table()) {
      if (!in_array_section(opt)) apply_default(opt, c, 0);
    }
    return c;
  }();
  return defaults;
}

}  // namespace detail

namespace {

using detail::problem;

int line_of(const toml::source_region& r) {
  return static_cast<int>(r.begin.line);
}
int column_of(const toml::source_region& r) {
  return static_cast<int>(r.begin.column);
}

problem at(const toml::source_region& r, std::string message) {
  return problem{line_of(r), column_of(r), std::move(message)};
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean max_recipients?)" when a known name is a likely typo of `name`.
std::string suggestion(std::string_view name, const std::vector<std::string>& known) {
  if (name.size() > 64) return "";
  const std::string* best = nullptr;
  std::size_t best_distance = 3;  // farther than 2 edits is not a typo
  for (const auto& k : known) {
    const std::size_t d = edit_distance(name, k);
    if (d < best_distance) {
      best_distance = d;
      best = &k;
    }
  }
  return best ? fmt::format(" (did you mean {}?)", *best) : "";
}

// A key as shown in a message: bare when it is a plain TOML bare key, else quoted and escaped.
std::string bare_key(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  return bare ? std::string(key) : detail::display_text(key);
}

bool is_loopback(const inet::ip_address& ip) {
  const inet::ip_address u = ip.unmapped();
  if (u.is_v4()) return u.bytes[0] == 127;
  static const auto one = inet::ip_address::parse("::1");
  return one && u == *one;
}

bool overlaps(const inet::endpoint& a, const inet::endpoint& b) {
  return a.port == b.port && a.port != 0 && a.address.is_v4() == b.address.is_v4() &&
         (a.address == b.address || a.address.is_unspecified() || b.address.is_unspecified());
}

// Where to point a message about key `name` of table `tbl` (the table itself when unset).
toml::source_region key_source(const toml::node* tbl, std::string_view name) {
  const auto* t = tbl != nullptr ? tbl->as_table() : nullptr;
  const toml::node* n = t != nullptr ? t->get(name) : nullptr;
  if (n != nullptr) return n->source();
  return tbl != nullptr ? tbl->source() : toml::source_region{};
}

// [tls], [auth] and the [[smtpd.listener]] tables: what each listener promises must be possible
// (TLS needs a certificate, submission needs credentials) and no listener may expose AUTH in
// plaintext beyond loopback.
std::optional<problem> check_listeners(const toml::table& doc, const config& cfg) {
  if (cfg.has_tls && (cfg.tls.cert.empty() || cfg.tls.key.empty())) {
    const toml::node* tls = doc.get("tls");
    return at(key_source(tls, cfg.tls.cert.empty() ? "cert" : "key"),
              fmt::format("tls.{}: required in [tls] (a PEM file)",
                          cfg.tls.cert.empty() ? "cert" : "key"));
  }
  if (cfg.has_auth && cfg.auth.passwd_file.empty()) {
    return at(key_source(doc.get("auth"), "passwd_file"),
              "auth.passwd_file: required in [auth] (a passwd-file; `mxguard passwd` makes lines)");
  }
  const auto* tables = doc.at_path("smtpd.listener").as_array();
  const auto& ls = cfg.smtpd.listeners;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    const auto& l = ls[i];
    const toml::node* tbl = tables != nullptr ? tables->get(i) : nullptr;
    auto err = [&](std::string_view key, std::string message) {
      return at(key_source(tbl, key), fmt::format("smtpd.listener[{}].{}: {}", i, key, message));
    };
    if (l.tls != "none" && !cfg.has_tls) {
      return err("tls", fmt::format("tls = \"{}\" needs a [tls] section with cert and key (or "
                                    "tls = \"none\")",
                                    l.tls));
    }
    if (l.implicit_tls() && !l.submission()) {
      return err("role", "tls = \"implicit\" is for submission (RFC 8314 3.3); role must be "
                         "\"submission\"");
    }
    if (l.require_tls && l.tls == "none") {
      return err("require_tls", "require_tls = true needs tls = \"starttls\"");
    }
    if (l.auth_without_tls) {
      for (const auto& ep : l.listen) {
        if (!is_loopback(ep.address)) {
          return err("auth_without_tls",
                     fmt::format("passwords in plaintext must not cross a network: {} is not a "
                                 "loopback address",
                                 ep.to_string()));
        }
      }
    }
    if (l.submission()) {
      if (!cfg.has_auth) {
        return err("role", "a submission listener needs [auth] passwd_file: it requires AUTH "
                           "before MAIL");
      }
      if (l.tls == "none" && !l.auth_without_tls) {
        return err("tls", "a submission listener without TLS could never authenticate anyone "
                          "(AUTH needs TLS, or auth_without_tls on loopback)");
      }
    }
    // No two listeners on one address and port.
    for (const auto& ep : l.listen) {
      for (std::size_t k = 0; k < cfg.smtpd.listen.size(); ++k) {
        if (overlaps(ep, cfg.smtpd.listen[k])) {
          return err("listen", fmt::format("{} overlaps smtpd.listen[{}]", ep.to_string(), k));
        }
      }
      for (std::size_t j = 0; j < i; ++j) {
        for (const auto& other : ls[j].listen) {
          if (overlaps(ep, other)) {
            return err("listen",
                       fmt::format("{} overlaps smtpd.listener[{}].listen", ep.to_string(), j));
          }
        }
      }
    }
  }
  return std::nullopt;
}

// Checks between options: run after every option applied cleanly.
std::optional<problem> cross_check(const toml::table& doc, const config& cfg) {
  if (const auto* relay = doc.at_path("smtpd.relay_domains").as_array()) {
    const auto& local = cfg.smtpd.local_domains;
    for (std::size_t i = 0; i < cfg.smtpd.relay_domains.size() && i < relay->size(); ++i) {
      const auto& d = cfg.smtpd.relay_domains[i];
      auto hit = std::find(local.begin(), local.end(), d);
      if (hit != local.end()) {
        // Local and relay at once is ambiguous: is the mail delivered here or passed on?
        return at(relay->get(i)->source(),
                  fmt::format("smtpd.relay_domains[{}]: {} is also smtpd.local_domains[{}]", i,
                              detail::display_text(d), hit - local.begin()));
      }
    }
  }
  if (const auto* zones = doc.at_path("dnsbld.zone").as_array()) {
    const auto& z = cfg.dnsbld.zones;
    for (std::size_t j = 1; j < z.size() && j < zones->size(); ++j) {
      for (std::size_t i = 0; i < j; ++i) {
        if (z[i].name != z[j].name) continue;
        // rbldnsd stacks a repeated zone; in a config that is one table with several datasets.
        const auto* tbl = zones->get(j)->as_table();
        const toml::node* name = tbl != nullptr ? tbl->get("name") : nullptr;
        return at(name != nullptr ? name->source() : zones->get(j)->source(),
                  fmt::format("dnsbld.zone[{}].name: {} repeats dnsbld.zone[{}] (list all its "
                              "datasets in one table)",
                              j, detail::display_text(z[j].name), i));
      }
    }
  }
  if (auto p = check_listeners(doc, cfg)) return p;
  if (cfg.has_smtpd && cfg.has_dnsbld) {
    if (const auto* listen = doc.at_path("dnsbld.listen").as_array()) {
      for (std::size_t i = 0; i < cfg.dnsbld.listen.size() && i < listen->size(); ++i) {
        const auto& e = cfg.dnsbld.listen[i];
        for (std::size_t k = 0; k < cfg.smtpd.listen.size(); ++k) {
          const auto& m = cfg.smtpd.listen[k];
          if (overlaps(e, m)) {
            return at(listen->get(i)->source(),
                      fmt::format("dnsbld.listen[{}]: {} overlaps smtpd.listen[{}] (both use TCP)",
                                  i, e.to_string(), k));
          }
        }
      }
    }
  }
  return std::nullopt;
}

// The keys of one table of an array of tables ([[dnsbld.zone]]).
void load_array_table(const detail::section_doc& sec, const toml::node& node, std::size_t index,
                      config& cfg, std::vector<problem>& problems) {
  const auto& table = detail::option_table();
  const auto* tbl = node.as_table();
  if (tbl == nullptr) {
    problems.push_back(at(node.source(), fmt::format("{}[{}]: expected a table, got {}", sec.name,
                                                     index, detail::type_name(node.type()))));
    return;
  }
  sec.add(cfg);
  const std::size_t element = sec.count(cfg) - 1;
  std::vector<std::string> names;
  for (const auto& opt : table) {
    if (opt.section != sec.name) continue;
    names.push_back(opt.name);
    if (!opt.required) detail::apply_default(opt, cfg, element);
  }
  for (const auto& [name_key, value] : *tbl) {
    const std::string_view name = name_key.str();
    auto opt = std::find_if(table.begin(), table.end(), [&](const detail::option& o) {
      return o.section == sec.name && o.name == name;
    });
    if (opt == table.end()) {
      problems.push_back(at(name_key.source(), fmt::format("unknown key {}[{}].{}{}", sec.name,
                                                           index, bare_key(name),
                                                           suggestion(name, names))));
      continue;
    }
    if (auto p = opt->apply(value, cfg, element)) problems.push_back(std::move(*p));
  }
  for (const auto& opt : table) {
    if (opt.section == sec.name && opt.required && tbl->get(opt.name) == nullptr) {
      problems.push_back(at(tbl->source(), fmt::format("{}[{}]: {} is required", sec.name, index,
                                                       opt.name)));
    }
  }
}

}  // namespace

expected<config, config_error> load_string(std::string_view toml_text,
                                           std::string_view source_name) {
  const std::string source(source_name);
  auto fail = [&source](const problem& p) -> expected<config, config_error> {
    return unexpected{config_error{source, p.line, p.column, p.message}};
  };
  try {
    config cfg = detail::default_config();
    cfg.source = source;
    toml::table doc;
    try {
      doc = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
      // toml++ may quote the offending input; keep control octets out of terminals and logs.
      std::string description;
      for (char c : e.description()) {
        const auto u = static_cast<unsigned char>(c);
        description += (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, c);
      }
      return fail(at(e.source(), fmt::format("TOML syntax: {}", description)));
    }

    const auto& table = detail::option_table();
    const auto& sections = detail::section_table();
    std::vector<std::string> section_names;  // the plain sections a file may have
    for (const auto& s : sections) {
      if (!s.is_array()) section_names.push_back(s.name);
    }

    // Collect every problem and report the first in the file, so that the message does not
    // depend on toml++'s (sorted) key order.
    std::vector<problem> problems;
    for (const auto& [section_key, section_node] : doc) {
      const std::string_view section = section_key.str();
      auto sec = std::find_if(sections.begin(), sections.end(), [&](const detail::section_doc& s) {
        return !s.is_array() && s.name == section;
      });
      if (sec == sections.end()) {
        if (section_node.is_table()) {
          problems.push_back(
              at(section_key.source(), fmt::format("unknown section [{}]{}", bare_key(section),
                                                   suggestion(section, section_names))));
        } else {
          problems.push_back(at(section_key.source(),
                                fmt::format("unknown key {} outside any section (options live "
                                            "in sections such as [smtpd])",
                                            bare_key(section))));
        }
        continue;
      }
      const auto* options = section_node.as_table();
      if (options == nullptr) {
        problems.push_back(at(section_node.source(),
                              fmt::format("{}: expected a table ([{}]), got {}", section, section,
                                          detail::type_name(section_node.type()))));
        continue;
      }
      cfg.*(sec->declared) = true;
      std::vector<std::string> names;
      for (const auto& opt : table) {
        if (opt.section == section) names.push_back(opt.name);
      }
      for (const auto& s : sections) {
        if (s.is_array() && s.parent() == section) names.emplace_back(s.child());
      }
      for (const auto& [name_key, value] : *options) {
        const std::string_view name = name_key.str();
        auto arr = std::find_if(sections.begin(), sections.end(), [&](const detail::section_doc& s) {
          return s.is_array() && s.parent() == section && s.child() == name;
        });
        if (arr != sections.end()) {
          const auto* items = value.as_array();
          if (items == nullptr) {
            problems.push_back(at(value.source(),
                                  fmt::format("{}: expected an array of tables ([[{}]]), got {}",
                                              arr->name, arr->name,
                                              detail::type_name(value.type()))));
            continue;
          }
          for (std::size_t i = 0; i < items->size(); ++i) {
            load_array_table(*arr, *items->get(i), i, cfg, problems);
          }
          continue;
        }
        auto opt = std::find_if(table.begin(), table.end(), [&](const detail::option& o) {
          return o.section == section && o.name == name;
        });
        if (opt == table.end()) {
          problems.push_back(
              at(name_key.source(), fmt::format("unknown key {}.{}{}", section, bare_key(name),
                                                suggestion(name, names))));
          continue;
        }
        if (auto p = opt->apply(value, cfg, 0)) problems.push_back(std::move(*p));
      }
    }
    if (problems.empty()) {
      if (auto p = cross_check(doc, cfg)) problems.push_back(std::move(*p));
    }
    if (!problems.empty()) {
      auto first = std::min_element(
          problems.begin(), problems.end(), [](const problem& a, const problem& b) {
            return std::tie(a.line, a.column) < std::tie(b.line, b.column);
          });
      return fail(*first);
    }
    return cfg;
  } catch (const std::exception& e) {
    // toml++ and the standard library may still throw (bad_alloc...); never past this point.
    return fail(problem{0, 0, fmt::format("cannot load config: {}", e.what())});
  }
}

expected<config, config_error> load_file(const std::string& path) {
  // A config is small; a bound keeps `--config /dev/zero` from eating memory.
  constexpr std::size_t max_size = 4u << 20;
  auto fail = [&path](std::string message) -> expected<config, config_error> {
    return unexpected{config_error{path, 0, 0, std::move(message)}};
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail(fmt::format("cannot open config file: {}", std::strerror(errno)));
  std::string text;
  std::vector<char> buf(65536);
  for (;;) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    text.append(buf.data(), n);
    if (text.size() > max_size) {
      return fail(fmt::format("config file is larger than {} octets", max_size));
    }
    if (n < buf.size()) break;
  }
  if (std::ferror(f.get())) {
    return fail(fmt::format("cannot read config file: {}", std::strerror(errno)));
  }
  return load_string(text, path);
}

policy::relay_config relay_policy(const config& cfg) {
  policy::relay_config r;
  const auto& s = cfg.smtpd;
  r.local_domains = s.local_domains;
  r.relay_domains = s.relay_domains;
  r.trusted_networks = s.trusted_networks;
  auto add_own = [&r](const inet::ip_address& a) {
    if (std::find(r.own_addresses.begin(), r.own_addresses.end(), a) == r.own_addresses.end()) {
      r.own_addresses.push_back(a);
    }
  };
  // A wildcard listen address says nothing about which addresses are ours.
  for (const auto& e : s.listen) {
    if (!e.address.is_unspecified()) add_own(e.address);
  }
  for (const auto& l : s.listeners) {
    for (const auto& e : l.listen) {
      if (!e.address.is_unspecified()) add_own(e.address);
    }
  }
  for (const auto& a : s.own_addresses) add_own(a);
  r.restrictions = s.relay_restrictions;
  r.soft_reject = s.soft_reject;
  return r;
}

}  // namespace mx::config
