// policy/recipients: which local recipients exist, and which mailbox each one lands in.
// Parsed from the text of the `[smtpd] recipients` file (the shell reads the file; this is pure).
//
//   # comment
//   alice@example.test                 -> mailbox example.test/alice
//   bob@example.test   robert          -> mailbox example.test/robert
//   @example.org       catchall        -> any unlisted user at example.org -> example.org/catchall
//
// postmaster@ every local domain is always accepted (RFC 5321 4.5.1), into <domain>/postmaster
// unless listed otherwise.
//
// SECURITY: mailbox paths are never built from envelope text. Names come from this file only, are
// checked (no '/', no leading '.', no control octets or NUL, at most 64 octets) and case-folded
// (ASCII lowercase) the same way for the file and for the RCPT lookup, so "Alice" and "alice" are
// one mailbox and no recipient can name a path. Lines naming a domain that is not local are
// errors: a recipients file never makes the server accept mail for someone else's domain.
// Unknown users get 550 5.1.1 at RCPT time, so the server never accepts then bounces
// (backscatter).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"

namespace mx::policy {

struct mailbox_ref {
  std::string domain;  // canonical local domain: the first path component
  std::string name;    // checked mailbox name: the second path component

  friend bool operator==(const mailbox_ref&, const mailbox_ref&) = default;
};

struct recipients_error {
  std::string source;
  int line = 0;
  std::string message;
  std::string to_string() const;  // "file:line: message"
};

class recipient_table {
 public:
  // The mailbox for local_part@domain (domain canonical), or nullopt for an unknown user.
  std::optional<mailbox_ref> find(std::string_view local_part, std::string_view domain) const;
  std::size_t size() const { return exact_.size(); }

  static expected<recipient_table, recipients_error> parse(
      std::string_view text, std::string_view source, const std::vector<std::string>& local_domains);

  // A table with only the implicit postmaster entries (no recipients file configured).
  static recipient_table postmaster_only(const std::vector<std::string>& local_domains);

 private:
  std::unordered_map<std::string, mailbox_ref> exact_;      // "alice@example.test"
  std::unordered_map<std::string, mailbox_ref> catch_all_;  // "example.org"
};

// ASCII-lowercases a local part: the one case folding used for lookups and mailbox names.
std::string fold_local_part(std::string_view local_part);

// True when `name` may be used as a mailbox directory name.
bool valid_mailbox_name(std::string_view name);

}  // namespace mx::policy
