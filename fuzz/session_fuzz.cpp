// Fuzz target: whole SMTP dialogues through smtp::server_session.
// Input: [config byte][seed byte][client stream...]. The stream is fed in pseudo-random chunks
// (from the seed), requests are answered accept/reject pseudo-randomly, and invariants are checked:
// replies are well formed, limits hold, and a message handed to the shell never holds a bare CR,
// bare LF or NUL (the anti-smuggling guarantee), nor more than max_message_size octets.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/session.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_step(const mx::smtp::step& st, const mx::smtp::session_config& cfg) {
  for (const auto& r : st.replies) {
    check(r.code >= 200 && r.code <= 599);
    const std::string w = r.wire();
    check(w.size() >= 5 && w.compare(w.size() - 2, 2, "\r\n") == 0);
    std::size_t crlf = 0;
    for (std::size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] == '\r') {
        check(w[i + 1] == '\n');
        ++crlf;
      }
      if (w[i] == '\n') check(i > 0 && w[i - 1] == '\r');
    }
    check(crlf == (r.lines.empty() ? 1 : r.lines.size()));
  }
  if (st.request) {
    if (const auto* m = std::get_if<mx::smtp::message_request>(&*st.request)) {
      const std::string& c = m->content;
      check(c.size() <= cfg.max_message_size);
      for (std::size_t i = 0; i < c.size(); ++i) {
        check(c[i] != '\0');
        if (c[i] == '\r') check(i + 1 < c.size() && c[i + 1] == '\n');
        if (c[i] == '\n') check(i > 0 && c[i - 1] == '\r');
      }
      check(c.empty() || c.compare(c.size() - 2, 2, "\r\n") == 0);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  mx::smtp::session_config cfg;
  cfg.hostname = "mx.example.test";
  cfg.max_recipients = 1 + (data[0] & 0x3);
  cfg.max_message_size = (data[0] & 0x4) ? 64 : 4096;
  cfg.max_errors = 3 + ((data[0] >> 3) & 0x7);
  cfg.smtputf8 = (data[0] & 0x40) == 0;
  cfg.reject_pregreet = (data[0] & 0x80) == 0;
  // The seed byte's top bits pick a TLS/AUTH flavour: none, MX with STARTTLS, submission.
  const unsigned flavour = data[1] >> 6;
  cfg.tls_available = flavour != 0;
  cfg.auth_available = flavour != 0;
  cfg.require_tls = flavour == 2;
  cfg.require_auth = flavour >= 2;
  cfg.tls_active = flavour == 3;
  std::uint32_t rng = data[1] * 2654435761u + 1;
  auto next = [&rng]() {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
  };
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  mx::smtp::server_session s(cfg);
  auto answer = [&](mx::smtp::step st) {
    for (int guard = 0; guard < 1000; ++guard) {
      check_step(st, cfg);
      if (!st.request) return;
      check(s.pending());
      if (std::holds_alternative<mx::smtp::starttls_request>(*st.request)) {
        check(cfg.tls_available && !s.tls_active());
        st = s.tls_established();
        check(s.tls_active() && s.helo().empty());
        continue;
      }
      if (const auto* a = std::get_if<mx::smtp::auth_request>(&*st.request)) {
        check(s.tls_active() || cfg.auth_without_tls);
        check(!a->user.empty());
      }
      const bool accept = (next() & 3) != 0;
      mx::smtp::reply r = accept ? mx::smtp::reply::make(250, "2.0.0", "Ok")
                                 : mx::smtp::reply::make(554, "5.7.1", "refused");
      st = s.resolve(r);
    }
    check(false);
  };

  std::size_t pos = 0;
  if (!cfg.reject_pregreet && (next() & 1) && !stream.empty()) {  // a client that talks first
    const std::size_t n = 1 + next() % 16;
    answer(s.feed(stream.substr(0, n)));
    pos = std::min(stream.size(), n);
  }
  answer(s.greet());
  while (pos < stream.size() && !s.closed()) {
    const std::size_t n = 1 + next() % 97;
    answer(s.feed(stream.substr(pos, n)));
    pos += n;
    check(s.current_transaction().recipients.size() <= cfg.max_recipients);
    check(!s.pending());
  }
  if (!s.closed() && (next() & 1)) answer(s.timeout());
  if (s.closed()) {
    check(s.feed("NOOP\r\n").replies.empty());
  }
  return 0;
}
