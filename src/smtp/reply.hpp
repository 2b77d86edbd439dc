// smtp/reply: SMTP replies (RFC 5321 4.2) with RFC 3463 enhanced status codes (RFC 2034).
//
// SECURITY: reply text may echo client input (an address, a HELO name). wire() replaces every
// CR, LF and NUL in the text with a space, so a reply can never be split into two by what a client
// sent (reply injection).
// RFCs: 5321 4.2 (reply lines, multiline form "250-"), 2034 (enhanced codes: on every reply but
// the greeting, the EHLO/HELO response and 354), 3463 (the codes).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mx::smtp {

struct reply {
  int code = 0;
  std::string enhanced;            // "5.7.1"; empty where RFC 2034 puts none
  std::vector<std::string> lines;  // at least one; several make a multiline reply

  static reply make(int code, std::string_view enhanced, std::string_view text) {
    return reply{code, std::string(enhanced), {std::string(text)}};
  }

  int klass() const { return code / 100; }
  bool positive() const { return klass() == 2 || klass() == 3; }
  std::string text() const;  // the lines joined by "\n" (for logs and tests)
  std::string wire() const;  // "550-5.7.1 a\r\n550 5.7.1 b\r\n"

  friend bool operator==(const reply&, const reply&) = default;
};

}  // namespace mx::smtp
