// policy/sender_login: which envelope senders an authenticated user may use, as Postfix's
// smtpd_sender_login_maps with reject_sender_login_mismatch. Parsed from the text of the
// `[smtpd] sender_login_maps` file (the shell reads the file; this is pure).
//
//   # address            owners (SASL login names, separated by commas and/or whitespace)
//   alice@example.test   alice
//   info@example.test    alice, bob
//   @example.org         carol            any address at example.org not listed on its own
//
// Lookup of a MAIL FROM sender: the full address first (domain in canonical form, local part
// ASCII-case-folded as the recipients table does, so "Alice@EXAMPLE.test" is alice@example.test),
// then "@domain". The first key found decides: an address listed on its own is not also open to
// the owners of its domain's "@domain" line (Postfix's first-match). A sender found under no key
// is not allowed (it is owned by nobody); the null sender <> is always allowed (bounces and
// delivery notifications carry no owner, as in Postfix). Owner names are compared exactly
// (case-sensitively), as the passwd-file compares user names.
//
// SECURITY:
//  - The map only narrows: it is consulted for authenticated clients, and an authenticated user
//    may then use only what is mapped to them (RFC 6409 6.1); it never grants relaying.
//  - Keys are parsed with the server's own address parser: a key SMTP clients could not send, or
//    a routed one ('%', '!', source route...), is a config error with file:line, never a
//    silently dead line. A key listed twice is an error too (which line would win is not obvious).
//  - '#' starts a comment at the start of a line or after whitespace, so owner names may hold '#'.
//  - Reply text echoes the sender and the user; smtp::reply::wire() removes CR, LF and NUL.
// RFCs: 6409 6.1 (submission servers may check the sender against the authenticated identity),
//   5321 4.1.2 (addresses), 3463 (5.7.1).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace mx::policy {

struct sender_login_error {
  std::string source;
  int line = 0;
  std::string message;
  std::string to_string() const;  // "file:line: message"
};

class sender_login_map {
 public:
  // True when `user` may send as `sender` (see the lookup order above).
  bool allowed(const smtp::address& sender, std::string_view user) const;
  // The owners that decide for `sender`, or nullptr when no key matches (for logs).
  const std::vector<std::string>* owners(const smtp::address& sender) const;
  std::size_t size() const { return keys_.size(); }

 private:
  friend expected<sender_login_map, sender_login_error> parse_sender_login_map(std::string_view,
                                                                               std::string_view);
  struct entry {
    std::vector<std::string> owners;
    int line = 0;
  };
  std::unordered_map<std::string, entry> keys_;  // "alice@example.test", "@example.org"
};

// Parses map text. `source_name` prefixes error messages ("senders:3: ...").
expected<sender_login_map, sender_login_error> parse_sender_login_map(std::string_view text,
                                                                      std::string_view source_name);

// 553 5.7.1 "<sender>: Sender address rejected: not owned by user USER" (Postfix's wording).
smtp::reply sender_not_owned(const smtp::address& sender, std::string_view user);

}  // namespace mx::policy
