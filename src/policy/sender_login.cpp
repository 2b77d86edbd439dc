#include "policy/sender_login.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "policy/recipients.hpp"

namespace mx::policy {

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// Removes a comment: '#' at the start of the line or after a blank.
std::string_view strip_comment(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || blank(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

bool owner_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f && c != ',';
}

std::string full_key(const smtp::address& a) {
  return fold_local_part(a.local_part) + "@" + a.domain_key;
}

}  // namespace

std::string sender_login_error::to_string() const {
  return fmt::format("{}:{}: {}", source, line, message);
}

const std::vector<std::string>* sender_login_map::owners(const smtp::address& sender) const {
  if (sender.is_null() || sender.domain_key.empty()) return nullptr;
  if (const auto it = keys_.find(full_key(sender)); it != keys_.end()) return &it->second.owners;
  if (const auto it = keys_.find("@" + sender.domain_key); it != keys_.end()) {
    return &it->second.owners;
  }
  return nullptr;
}

bool sender_login_map::allowed(const smtp::address& sender, std::string_view user) const {
  if (sender.is_null()) return true;
  const auto* o = owners(sender);
  return o != nullptr && std::find(o->begin(), o->end(), user) != o->end();
}

expected<sender_login_map, sender_login_error> parse_sender_login_map(
    std::string_view text, std::string_view source_name) {
  sender_login_map map;
  int line_no = 0;
  const auto error = [&](std::string message) {
    return unexpected(sender_login_error{std::string(source_name), line_no, std::move(message)});
  };
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trim(strip_comment(line));
    if (line.empty()) continue;
    if (line.find('\0') != std::string_view::npos) return error("NUL in line");

    const std::size_t sp = std::min(line.find_first_of(" \t"), line.size());
    const std::string_view key_text = line.substr(0, sp);
    std::string_view rest = line.substr(sp);

    std::string key;
    const std::size_t at = key_text.rfind('@');
    if (at == std::string_view::npos) {
      return error(fmt::format("\"{}\" is not an address (user@domain or @domain)", key_text));
    }
    if (at == 0) {
      const auto domain = smtp::canonical_domain(key_text.substr(1));
      if (!domain) return error(fmt::format("\"{}\": bad domain", key_text));
      key = "@" + *domain;
    } else {
      const auto parsed = smtp::parse_address("<" + std::string(key_text) + ">",
                                              smtp::parse_options{.smtputf8 = true});
      if (!parsed) {
        return error(
            fmt::format("\"{}\" is not an address: {}", key_text, smtp::describe(parsed.error())));
      }
      if (parsed->is_routed()) {
        return error(fmt::format("\"{}\" is not a plain user@domain address", key_text));
      }
      key = full_key(*parsed);
    }

    std::vector<std::string> owners;
    for (;;) {
      const std::size_t start = rest.find_first_not_of(" \t,");
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const std::size_t end = std::min(rest.find_first_of(" \t,"), rest.size());
      const std::string_view owner = rest.substr(0, end);
      if (!std::all_of(owner.begin(), owner.end(), owner_char)) {
        return error(fmt::format("owner \"{}\" holds a control character", owner));
      }
      if (std::find(owners.begin(), owners.end(), owner) == owners.end())
        owners.emplace_back(owner);
      rest.remove_prefix(end);
    }
    if (owners.empty())
      return error(fmt::format("\"{}\" has no owner (address user[, user...])", key_text));
    if (const auto it = map.keys_.find(key); it != map.keys_.end()) {
      return error(fmt::format("{} listed twice (first on line {})", key, it->second.line));
    }
    map.keys_.emplace(std::move(key), sender_login_map::entry{std::move(owners), line_no});
  }
  return map;
}

smtp::reply sender_not_owned(const smtp::address& sender, std::string_view user) {
  return smtp::reply::make(
      553, "5.7.1",
      fmt::format("<{}>: Sender address rejected: not owned by user {}", sender.mailbox(), user));
}

}  // namespace mx::policy
