#include "policy/recipients.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "smtp/address.hpp"

namespace mx::policy {

std::string recipients_error::to_string() const {
  return fmt::format("{}:{}: {}", source, line, message);
}

std::string fold_local_part(std::string_view local_part) {
  std::string out(local_part);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return out;
}

bool valid_mailbox_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '/' || u < 0x20 || u == 0x7f;
  });
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<mailbox_ref> recipient_table::find(std::string_view local_part,
                                                 std::string_view domain) const {
  const std::string key = fold_local_part(local_part) + "@" + std::string(domain);
  if (auto it = exact_.find(key); it != exact_.end()) return it->second;
  if (auto it = catch_all_.find(std::string(domain)); it != catch_all_.end()) return it->second;
  return std::nullopt;
}

recipient_table recipient_table::postmaster_only(const std::vector<std::string>& local_domains) {
  recipient_table t;
  for (const auto& d : local_domains) t.exact_["postmaster@" + d] = mailbox_ref{d, "postmaster"};
  return t;
}

expected<recipient_table, recipients_error> recipient_table::parse(
    std::string_view text, std::string_view source, const std::vector<std::string>& local_domains) {
  recipient_table t = postmaster_only(local_domains);
  auto error = [&](int line, std::string msg) {
    return unexpected(recipients_error{std::string(source), line, std::move(msg)});
  };
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    if (line.find('\0') != std::string_view::npos) return error(line_no, "NUL in line");

    const std::size_t sp = line.find_first_of(" \t");
    const std::string_view addr_text = line.substr(0, sp);
    const std::string_view mailbox_text =
        sp == std::string_view::npos ? std::string_view() : trim(line.substr(sp));
    if (mailbox_text.find_first_of(" \t") != std::string_view::npos) {
      return error(line_no, "expected \"address [mailbox]\"");
    }
    const std::size_t at = addr_text.rfind('@');
    if (at == std::string_view::npos) {
      return error(line_no, fmt::format("\"{}\" is not an address (user@domain or @domain)", addr_text));
    }
    const auto domain = smtp::canonical_domain(addr_text.substr(at + 1));
    if (!domain) return error(line_no, fmt::format("\"{}\": bad domain", addr_text));
    if (std::find(local_domains.begin(), local_domains.end(), *domain) == local_domains.end()) {
      return error(line_no, fmt::format("\"{}\": {} is not in smtpd.local_domains", addr_text, *domain));
    }
    const std::string local = fold_local_part(addr_text.substr(0, at));
    if (local.empty()) {  // catch-all
      const std::string name = fold_local_part(mailbox_text);
      if (mailbox_text.empty()) return error(line_no, "a catch-all \"@domain\" needs a mailbox name");
      if (!valid_mailbox_name(name)) return error(line_no, fmt::format("bad mailbox name \"{}\"", name));
      if (!t.catch_all_.emplace(*domain, mailbox_ref{*domain, name}).second) {
        return error(line_no, fmt::format("second catch-all for {}", *domain));
      }
      continue;
    }
    // The local part must be one an SMTP client can send: parse it as the server would.
    const auto parsed = smtp::parse_address("<" + std::string(addr_text) + ">",
                                            smtp::parse_options{.smtputf8 = true});
    if (!parsed || parsed->is_routed()) {
      return error(line_no, fmt::format("\"{}\" is not a plain user@domain address", addr_text));
    }
    // The mailbox is named by the decoded local part ("\"a.b\"@x" -> a.b) unless given.
    const std::string name =
        fold_local_part(mailbox_text.empty() ? std::string_view(parsed->local_part) : mailbox_text);
    if (!valid_mailbox_name(name)) {
      return error(line_no, fmt::format("bad mailbox name \"{}\" (no '/', no leading '.', at most "
                                        "64 octets)", name));
    }
    const std::string key = fold_local_part(parsed->local_part) + "@" + *domain;
    t.exact_[key] = mailbox_ref{*domain, name};
  }
  return t;
}

}  // namespace mx::policy
