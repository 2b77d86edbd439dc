// Fuzz target: smtp::client_session against an arbitrary server byte stream.
// Input: [config byte][seed byte][server stream...]. The stream is fed in pseudo-random chunks
// (from the seed); whenever the session is ready it is given an envelope (sometimes with
// XCLIENT), STARTTLS or QUIT, and settle/timeout/EOF are injected pseudo-randomly. Invariants:
// every write is whole CRLF lines with no bare CR, LF or NUL; no line is DATA or BDAT; nothing is
// written after close; every failed/closed event really ends the session.
// Batches of envelopes (some ending in XCLIENT, some with QUIT after) are submitted too: never
// more exchange_done events than envelopes.
// With config bit 0x10 the stream drives a whole probe::target_probe instead (connections,
// reconnects, STARTTLS, the PROXY probe; bits 0x06 pick the part, all, main or proxy, or one test
// per write), whose actions are answered pseudo-randomly: it must finish, stay within its
// connection budget, never write DATA, and its JSON output must stay free of raw control
// characters whatever the server said.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include "probe/output.hpp"
#include "probe/target.hpp"
#include "smtp/client_session.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool iprefix(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = s[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    if (c != p[i]) return false;
  }
  return true;
}

void check_write(const std::string& w) {
  std::size_t pos = 0;
  while (pos < w.size()) {
    const std::size_t crlf = w.find("\r\n", pos);
    check(crlf != std::string::npos);
    const std::string_view line(w.data() + pos, crlf - pos);
    for (char c : line) check(c != '\r' && c != '\n' && c != '\0');
    check(!iprefix(line, "DATA") && !iprefix(line, "BDAT"));
    pos = crlf + 2;
  }
}

void drive_target(std::uint8_t config, std::string_view stream,
                  const std::function<std::uint32_t()>& next) {
  mx::probe::target_config cfg;
  cfg.target = "192.0.2.1:25";
  cfg.identity.address = mx::inet::ip_address::parse("192.0.2.1");
  cfg.identity.local_domains = {"example.test"};
  cfg.battery.token = "t0";
  cfg.client.helo = "probe.example";
  cfg.client.pipelining = (config & 1) == 0;
  switch ((config >> 1) & 3) {
    case 1:
      cfg.part = mx::probe::probe_part::main;
      break;
    case 2:
      cfg.part = mx::probe::probe_part::proxy;
      break;
    case 3:
      cfg.pipeline_tests = 1;
      break;
    default:
      break;
  }
  cfg.starttls = (config & 0x20)   ? mx::probe::tls_use::always
                 : (config & 0x40) ? mx::probe::tls_use::never
                                   : mx::probe::tls_use::when_offered;
  mx::probe::target_probe p(cfg);
  mx::probe::probe_action a = p.start();
  std::size_t pos = 0;
  std::size_t connects = 0;
  using T = mx::probe::probe_action::type;
  for (int steps = 0; steps < 20000; ++steps) {
    check_write(a.send);
    switch (a.next) {
      case T::connect:
        ++connects;
        a = (next() % 16 == 0) ? p.connect_failed("refused") : p.connected();
        continue;
      case T::read:
      case T::settle: {
        const std::uint32_t r = next();
        if (pos < stream.size() && r % 32 != 0) {
          const std::size_t n = 1 + next() % 61;
          a = p.received(stream.substr(pos, n));
          pos += n;
        } else if (r % 2 == 0) {
          a = p.closed_by_peer();
        } else {
          a = a.next == T::settle ? p.settled() : p.timed_out();
        }
        continue;
      }
      case T::start_tls:
        a = (next() % 4 == 0) ? p.tls_failed("handshake failure") : p.tls_started();
        continue;
      case T::done:
        break;
    }
    break;
  }
  check(p.done());
  const mx::probe::target_report& report = p.report();
  check(report.connections == connects);
  check(report.connections <= report.facts.results.size() + 2 || report.facts.results.empty());
  for (const auto& t : report.facts.results) check(t.attempts <= 2);
  if (cfg.part == mx::probe::probe_part::proxy) check(report.connections <= 1);
  const std::string json = mx::probe::format_json({report});
  for (char c : json) check(static_cast<unsigned char>(c) >= 0x20 || c == '\n');
  const std::string table = mx::probe::format_table(report);
  for (char c : table) check(static_cast<unsigned char>(c) >= 0x20 || c == '\n');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  mx::smtp::client_config cfg;
  cfg.helo = "probe.example";
  cfg.pipelining = (data[0] & 1) == 0;
  cfg.settle_after_greeting = (data[0] & 2) != 0;
  cfg.max_line = (data[0] & 4) ? 64 : 2048;
  cfg.max_lines = (data[0] & 8) ? 4 : 256;
  std::uint32_t rng = data[1] * 2654435761u + 1;
  auto next = [&rng]() {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
  };
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  if (data[0] & 0x10) {
    drive_target(data[0], stream, next);
    return 0;
  }

  mx::smtp::client_session s(cfg);
  bool closed = false;
  std::size_t unreported = 0;  // envelopes submitted and not yet reported
  auto take = [&](const mx::smtp::client_step& st) {
    if (closed) check(st.send.empty());
    check_write(st.send);
    for (const auto& ev : st.events) {
      if (ev.what == mx::smtp::client_event::type::closed) check(s.closed());
      if (ev.what == mx::smtp::client_event::type::exchange_done) {
        check(unreported > 0);
        --unreported;
      }
      if (ev.what == mx::smtp::client_event::type::failed) unreported = 0;
    }
    if (s.ready()) check(unreported == 0);
    if (st.close) closed = true;
    if (s.closed()) check(st.close || closed);
  };

  std::size_t pos = 0;
  while (pos < stream.size() && !s.closed()) {
    const std::size_t n = 1 + next() % 61;
    take(s.feed(stream.substr(pos, n)));
    pos += n;
    const std::uint32_t r = next();
    if (s.ready()) {
      switch (r % 8) {
        case 0:
          take(s.quit());
          break;
        case 1:
          if (auto st = s.starttls()) take(*st);
          break;
        case 2: {
          mx::smtp::envelope env{"ADDR=127.0.0.1", "<a@x.example>", {"<b@y.example>"}};
          if (auto st = s.submit(env)) {
            unreported = 1;
            take(*st);
          }
          break;
        }
        case 3: {
          const mx::smtp::envelope batch[] = {
              {"", "<a@x.example>", {"<b@y.example>"}},
              {"", "<>", {"<c@y.example>", "<d@y.example>"}},
              {(r >> 4) & 1 ? "ADDR=127.0.0.1" : "", "<a@x.example>", {"<e@y.example>"}},
          };
          if (auto st = s.submit(batch, ((r >> 5) & 1) != 0)) {
            unreported = 3;
            take(*st);
          }
          break;
        }
        default: {
          mx::smtp::envelope env{"", "<>", {"<b@y.example>", "<c%y.example@x.example>"}};
          if (auto st = s.submit(env)) {
            unreported = 1;
            take(*st);
          }
          break;
        }
      }
    }
    if ((r >> 8) % 16 == 0) take(s.settled());
    if ((r >> 8) % 64 == 1) take(s.tls_started());
  }
  if (!s.closed()) take((next() & 1) ? s.timeout() : s.disconnected());
  check(s.closed());
  take(s.feed("250 ok\r\n"));
  return 0;
}
