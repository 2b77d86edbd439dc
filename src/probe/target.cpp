#include "probe/target.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace mx::probe {

namespace {

line_kind kind_of(smtp::command_kind k) {
  switch (k) {
    case smtp::command_kind::ehlo:
      return line_kind::ehlo;
    case smtp::command_kind::helo:
      return line_kind::helo;
    case smtp::command_kind::rset:
      return line_kind::rset;
    case smtp::command_kind::mail:
      return line_kind::mail;
    case smtp::command_kind::rcpt:
      return line_kind::rcpt;
    case smtp::command_kind::xclient:
      return line_kind::xclient;
    default:
      return line_kind::ehlo;  // STARTTLS and QUIT are never part of a test
  }
}

std::vector<dialogue_line> to_lines(std::vector<smtp::command_reply> commands) {
  std::vector<dialogue_line> out;
  out.reserve(commands.size());
  for (auto& c : commands) {
    out.push_back(dialogue_line{kind_of(c.kind), std::move(c.line), c.sent, std::move(c.answer)});
  }
  return out;
}

}  // namespace

std::string_view name(probe_action::type t) {
  switch (t) {
    case probe_action::type::connect:
      return "connect";
    case probe_action::type::read:
      return "read";
    case probe_action::type::settle:
      return "settle";
    case probe_action::type::start_tls:
      return "start-tls";
    case probe_action::type::done:
      return "done";
  }
  return "?";
}

std::string endpoint_text(const inet::ip_address& ip, std::uint16_t port) {
  const inet::ip_address u = ip.unmapped();
  return u.is_v4() ? fmt::format("{}:{}", u.to_string(), port)
                   : fmt::format("[{}]:{}", u.to_string(), port);
}

target_report unreachable_report(std::string target, std::string endpoint, std::string why) {
  target_report r;
  r.target = std::move(target);
  r.endpoint = std::move(endpoint);
  r.facts.session = false;
  r.facts.session_failure = std::move(why);
  r.result = classify(r.facts);
  return r;
}

target_probe::target_probe(target_config cfg) : cfg_(std::move(cfg)) {
  report_.target = cfg_.target;
  if (cfg_.identity.address) {
    report_.endpoint = endpoint_text(*cfg_.identity.address, cfg_.identity.port);
  }
  report_.facts.test_domain = cfg_.battery.test_domain;
  cfg_.client.settle_after_greeting = false;
  budget_ = 2;  // until the battery is known
  if (cfg_.part == probe_part::proxy) {
    // The PROXY envelope names only the sender and the test domain: no need for the banner.
    session_ok_ = true;  // the session itself is the main machine's business
    for (auto& t : build_battery(cfg_.identity, cfg_.battery)) {
      if (!t.preamble.empty()) battery_.push_back(std::move(t));
    }
    for (const auto& t : battery_) {
      test_result r;
      r.test = t;
      r.detail = "not run";
      results_.push_back(std::move(r));
    }
    budget_ = 1;
    want_proxy_ = true;
  }
}

probe_action target_probe::start() {
  if (cfg_.part == probe_part::proxy && battery_.empty()) {
    done_ = true;  // no PROXY probe for this target (no address, or --no-spoofing)
    return probe_action{probe_action::type::done, {}, false};
  }
  report_.connections = 1;
  return probe_action{probe_action::type::connect, {}, false};
}

probe_action target_probe::connected() {
  probe_action a;
  if (done_) {
    a.next = probe_action::type::done;
    a.close = true;
    return a;
  }
  smtp::client_config c = cfg_.client;
  proxy_conn_ = want_proxy_;
  c.settle_after_greeting = proxy_conn_;
  conn_.emplace(c);
  conn_open_ = true;
  tls_active_ = false;
  want_handshake_ = false;
  drop_ = false;
  want_connect_ = false;
  want_proxy_ = false;
  proxy_banner_.reset();
  proxy_answer_.reset();
  if (proxy_conn_) a.send = battery_[current_].preamble;  // before anything else
  a.next = probe_action::type::read;
  return a;
}

probe_action target_probe::connect_failed(std::string_view why) {
  probe_action a;
  conn_open_ = false;
  if (!session_ok_) {
    report_.facts.session_failure = fmt::format("connect: {}", why);
  } else if (proxy_conn_ || want_proxy_) {
    record_proxy({}, fmt::format("connect: {}", why));
    ++current_;
    abandon_rest("not run: the connection failed");
  } else {
    abandon_rest(fmt::format("not run: reconnecting failed ({})", why));
  }
  want_connect_ = want_proxy_ = false;
  done_ = true;
  a.next = probe_action::type::done;
  return a;
}

probe_action target_probe::received(std::string_view bytes) {
  if (!conn_ || done_) return next_action({});
  return handle(conn_->feed(bytes));
}

probe_action target_probe::settled() {
  if (!conn_ || done_) return next_action({});
  return handle(conn_->settled());
}

probe_action target_probe::timed_out() {
  if (!conn_ || done_) return next_action({});
  return handle(conn_->timeout());
}

probe_action target_probe::closed_by_peer() {
  if (!conn_ || done_) return next_action({});
  return handle(conn_->disconnected());
}

probe_action target_probe::tls_started() {
  if (!conn_ || done_) return next_action({});
  tls_active_ = true;
  return handle(conn_->tls_started());
}

probe_action target_probe::tls_failed(std::string_view why) {
  if (!conn_ || done_) return next_action({});
  tls_unusable_ = fmt::format("the TLS handshake failed: {}", why);
  skip_tls_tests();
  drop_ = true;  // mid-handshake: nothing more can be said on this connection
  if (current_ < battery_.size()) {
    want_proxy_ = !battery_[current_].preamble.empty();
    want_connect_ = !want_proxy_;
  } else {
    finishing_ = true;
  }
  return next_action({});
}

void target_probe::skip_tls_tests() {
  while (current_ < battery_.size() && battery_[current_].after_starttls) {
    results_[current_].detail = "not run: " + tls_unusable_;
    ++current_;
  }
}

probe_action target_probe::handle(smtp::client_step st) {
  probe_action a;
  a.send = std::move(st.send);
  for (const auto& ev : st.events) on_event(ev, a);
  return next_action(std::move(a));
}

void target_probe::on_event(const smtp::client_event& ev, probe_action& a) {
  using T = smtp::client_event::type;
  switch (ev.what) {
    case T::greeting:
      if (proxy_conn_) {
        proxy_banner_ = ev.answer;
      } else if (!report_.banner) {
        report_.banner = ev.answer;
        if (ev.answer && !ev.answer->lines.empty()) {
          report_.banner_host = hostname_of(ev.answer->lines.front());
        }
      }
      return;
    case T::ready:
      if (!session_ok_) first_ready();
      if (proxy_conn_) {
        const test_case& t = battery_[current_];
        auto st = conn_->submit(smtp::envelope{"", t.mail, {t.rcpt}});
        if (st) {
          a.send += st->send;
        } else {
          record_proxy({}, st.error());
          ++current_;
          finish(a);
        }
        return;
      }
      run_next(a);
      return;
    case T::exchange_done:
      given_up_ = 0;
      if (proxy_conn_) {
        record_proxy(ev.commands, "");
        ++current_;
        finish(a);
        return;
      }
      record(ev.commands, "");
      ++current_;
      if (inflight_ > 0) --inflight_;
      if (inflight_ == 0) run_next(a);
      return;
    case T::unsolicited:
      if (proxy_conn_ && !proxy_answer_ && !finishing_) {
        // The header was read as a command: the spoof did not take, and the rest would only
        // repeat the plain test.
        proxy_answer_ = ev.answer;
        record_proxy({}, "");
        ++current_;
        finish(a);
      }
      return;
    case T::failed:
      on_failed(ev);
      return;
    case T::starttls_ready:
      want_handshake_ = true;
      return;
    case T::starttls_refused:
      tls_unusable_ = "STARTTLS was refused: " + (ev.answer ? one_line(*ev.answer) : "");
      skip_tls_tests();
      run_next(a);
      return;
    case T::closed:
      // QUIT went with the last batch for this connection; the PROXY probe is still to come.
      if (session_ok_ && !proxy_conn_ && !finishing_ && !want_connect_ && !want_proxy_ &&
          current_ < battery_.size()) {
        want_proxy_ = !battery_[current_].preamble.empty();
        want_connect_ = !want_proxy_;
      }
      return;
  }
}

void target_probe::first_ready() {
  session_ok_ = true;
  report_.hello = conn_->hello_reply();
  report_.caps = conn_->caps();
  if (report_.banner_host.empty() && report_.hello && !report_.hello->lines.empty()) {
    report_.banner_host = hostname_of(report_.hello->lines.front());
    if (!report_.banner_host.empty()) {
      report_.notes.push_back("the banner names no host; the EHLO reply's name is used");
    }
  }
  cfg_.identity.banner_host = report_.banner_host;
  report_.local_domain = effective_local_domain(cfg_.identity);
  if (cfg_.identity.local_domains.empty() && !report_.local_domain.empty()) {
    report_.notes.push_back(
        fmt::format("no --local-domain given: the banner hostname {} stands in as the local domain",
                    report_.local_domain));
  }
  battery_ = build_battery(cfg_.identity, cfg_.battery);
  if (cfg_.part == probe_part::main) {
    std::erase_if(battery_, [](const test_case& t) { return !t.preamble.empty(); });
  }
  if (cfg_.starttls != tls_use::never && report_.caps.starttls) {
    std::vector<test_case> plain;
    std::vector<test_case> own_connection;  // the PROXY probe: plain text, last
    for (auto& t : battery_) (t.preamble.empty() ? plain : own_connection).push_back(std::move(t));
    std::vector<test_case> tls = starttls_copies(plain);
    battery_ = cfg_.starttls == tls_use::always ? std::vector<test_case>{} : std::move(plain);
    battery_.insert(battery_.end(), tls.begin(), tls.end());
    battery_.insert(battery_.end(), own_connection.begin(), own_connection.end());
    report_.notes.push_back(cfg_.starttls == tls_use::always
                                ? "STARTTLS offered: the battery ran inside TLS (--starttls always)"
                                : "STARTTLS offered: the battery ran before and after it");
  } else if (cfg_.starttls == tls_use::always) {
    tls_required_missing_ = true;
    battery_.clear();
  }
  results_.clear();
  for (const auto& t : battery_) {
    test_result r;
    r.test = t;
    r.detail = "not run";
    results_.push_back(std::move(r));
  }
  budget_ = cfg_.max_connections ? cfg_.max_connections : battery_.size() + 2;
  report_.facts.test_domain_own = test_domain_is_own(cfg_.identity, cfg_.battery.test_domain);
}

// Submits the current test, or moves on to the PROXY connection, or QUITs at the end.
void target_probe::run_next(probe_action& a) {
  while (current_ < battery_.size()) {
    // The server may have closed the session in the same bytes that ended the last test (an
    // error reply, then 421): the failure event that follows decides what comes next.
    if (!conn_->ready()) return;
    const test_case& t = battery_[current_];
    if (t.after_starttls && !tls_active_) {
      if (tls_unusable_.empty() && !conn_->caps().starttls) {
        tls_unusable_ = "STARTTLS is no longer offered";
      }
      if (tls_unusable_.empty()) {
        auto st = conn_->starttls();
        if (st) {
          a.send += st->send;  // then the shell's handshake, then EHLO: ready again
          return;
        }
        tls_unusable_ = st.error();
      }
      skip_tls_tests();
      continue;
    }
    if (!t.preamble.empty()) {
      want_proxy_ = true;  // after QUIT on this connection
      a.send += conn_->quit().send;
      return;
    }
    // The batch: this test and the next ones alike (same side of STARTTLS, no PROXY header), up
    // to pipeline_tests when the server pipelines; one test otherwise, as nothing would be saved.
    const std::size_t cap = cfg_.client.pipelining && conn_->caps().pipelining
                                ? std::max<std::size_t>(1, cfg_.pipeline_tests)
                                : 1;
    const bool tls_side = t.after_starttls;
    std::vector<smtp::envelope> batch;
    std::size_t k = current_;
    while (k < battery_.size() && batch.size() < cap) {
      const test_case& u = battery_[k];
      if (!u.preamble.empty() || u.after_starttls != tls_side) break;
      smtp::envelope env{u.xclient, u.mail, {u.rcpt}};
      if (auto why = smtp::client_session::invalid(env)) {
        if (k != current_) break;  // it leads the next batch, and is dropped there
        results_[current_].detail = "not run: " + *why;
        ++current_;
        ++k;
        continue;
      }
      batch.push_back(std::move(env));
      ++k;
      if (!u.xclient.empty()) break;  // XCLIENT changes the session: nothing after it
    }
    if (batch.empty()) continue;
    // Nothing left for this connection after the batch: QUIT goes with it.
    bool last = true;
    for (std::size_t j = k; j < battery_.size() && last; ++j) last = !battery_[j].preamble.empty();
    auto st = conn_->submit(batch, last);
    if (st) {
      inflight_ = batch.size();
      a.send += st->send;
      return;
    }
    results_[current_].detail = "not run: " + st.error();
    ++current_;
  }
  finish(a);
}

void target_probe::add_part(const target_report& proxy_part) {
  report_.connections += proxy_part.connections;
  if (!session_ok_ || tls_required_missing_) return;
  for (const auto& r : proxy_part.facts.results) results_.push_back(r);
}

void target_probe::finish(probe_action& a) {
  finishing_ = true;
  if (conn_ && !conn_->closed()) a.send += conn_->quit().send;
}

void target_probe::record(std::vector<smtp::command_reply> commands, std::string why_incomplete) {
  test_result& r = results_[current_];
  ++r.attempts;
  r.lines = to_lines(std::move(commands));
  r.outcome = judge(r.lines, &r.detail);
  if (r.outcome == test_outcome::not_completed && !why_incomplete.empty())
    r.detail = why_incomplete;
}

void target_probe::record_proxy(std::vector<smtp::command_reply> commands, std::string failure) {
  test_result& r = results_[current_];
  ++r.attempts;
  r.lines.clear();
  const test_case& t = battery_[current_];
  r.lines.push_back(dialogue_line{line_kind::banner, "",
                                  proxy_banner_.has_value() || !failure.empty(), proxy_banner_});
  std::string header = t.preamble;
  while (!header.empty() && (header.back() == '\n' || header.back() == '\r')) header.pop_back();
  r.lines.push_back(dialogue_line{line_kind::proxy, header, true, proxy_answer_});
  auto rest = to_lines(std::move(commands));
  if (rest.empty() && !failure.empty() && proxy_banner_ && !proxy_answer_) {
    // failed after the greeting, before any command: show the envelope as not sent
    rest.push_back(dialogue_line{line_kind::mail, "MAIL FROM:" + t.mail, false, std::nullopt});
  }
  r.lines.insert(r.lines.end(), rest.begin(), rest.end());
  r.outcome = judge(r.lines, &r.detail);
  if (r.outcome == test_outcome::not_completed && !failure.empty()) r.detail = failure;
}

void target_probe::abandon_rest(std::string_view why) {
  for (std::size_t i = current_; i < results_.size(); ++i) {
    if (results_[i].attempts == 0) results_[i].detail = std::string(why);
  }
  current_ = results_.size();
}

void target_probe::on_failed(const smtp::client_event& ev) {
  inflight_ = 0;  // the rest of the batch was not answered: it runs again, if at all
  const std::string what = ev.detail.empty()
                               ? std::string(smtp::describe(ev.failure))
                               : fmt::format("{}: {}", smtp::describe(ev.failure), ev.detail);
  if (!report_.banner && !proxy_conn_) report_.banner = conn_->greeting();
  if (proxy_conn_ && !proxy_banner_) proxy_banner_ = conn_->greeting();
  if (!session_ok_) {
    report_.facts.session_failure = what;
    finishing_ = true;  // the session may still QUIT politely (banner 554)
    return;
  }
  if (proxy_conn_) {
    // Failing while saying goodbye: the PROXY test is recorded already.
    if (finishing_ || current_ >= results_.size()) return;
    if (ev.failure == smtp::client_failure::disconnected && !proxy_banner_) {
      // Hanging up on the PROXY header is a refusal of it.
      record_proxy({}, "");
      results_[current_].outcome = test_outcome::refused;
      results_[current_].detail = "the server closed the connection after the PROXY header";
    } else {
      record_proxy(ev.commands, what);
    }
    ++current_;
    finishing_ = true;
    return;
  }
  if (finishing_ || current_ >= results_.size()) return;  // failing while saying goodbye
  if (ev.commands.empty() && results_[current_].attempts == 0) {
    // Nothing of this test was sent yet (the session ended between tests): just reconnect.
    results_[current_].detail = "not run: " + what;
    want_proxy_ = !battery_[current_].preamble.empty();
    want_connect_ = !want_proxy_;
    return;
  }
  record(ev.commands, what);
  test_result& r = results_[current_];
  if (ev.failure == smtp::client_failure::service_closing &&
      r.outcome != test_outcome::not_completed) {
    // A 421 is the session ending, not this recipient's answer: run the test again.
    for (const auto& l : r.lines) {
      if (l.answer && l.answer->code == 421) r.outcome = test_outcome::not_completed;
    }
    if (r.outcome == test_outcome::not_completed) r.detail = what;
  }
  if (r.outcome != test_outcome::not_completed) {
    ++current_;  // the deciding reply came before the failure
    given_up_ = 0;
  } else if (ev.failure == smtp::client_failure::timeout) {
    ++current_;
    abandon_rest("not run: the target stopped answering (timeout)");
    finishing_ = true;
    return;
  } else if (r.attempts >= cfg_.max_attempts) {
    ++current_;
    if (++given_up_ >= max_given_up) {
      abandon_rest("not run: the server keeps ending the session before answering");
      finishing_ = true;
      return;
    }
  }
  if (current_ >= results_.size()) {
    finishing_ = true;
    return;
  }
  if (!battery_[current_].preamble.empty()) {
    want_proxy_ = true;
  } else {
    want_connect_ = true;
  }
}

probe_action target_probe::next_action(probe_action a) {
  if (done_) {
    a.next = probe_action::type::done;
    return a;
  }
  if (conn_ && !conn_->closed() && !drop_) {
    if (want_handshake_) {
      want_handshake_ = false;
      a.next = probe_action::type::start_tls;
      return a;
    }
    a.next = conn_->settling() ? probe_action::type::settle : probe_action::type::read;
    return a;
  }
  // The connection is closed (or closes after this write).
  if (conn_open_) a.close = true;
  conn_open_ = false;
  if (!finishing_ && (want_connect_ || want_proxy_)) {
    if (report_.connections >= budget_) {
      if (current_ < results_.size() && results_[current_].attempts > 0) ++current_;
      abandon_rest(fmt::format("not run: the connection budget ({}) is spent", budget_));
    } else {
      ++report_.connections;
      if (want_connect_) ++reconnects_;
      a.next = probe_action::type::connect;
      return a;
    }
  }
  done_ = true;
  a.next = probe_action::type::done;
  return a;
}

const target_report& target_probe::report() {
  if (classified_) return report_;
  report_.facts.session = session_ok_ && !tls_required_missing_;
  if (tls_required_missing_) {
    report_.facts.session_failure = "STARTTLS is not offered (--starttls always)";
  }
  report_.facts.results = results_;
  if (!tls_unusable_.empty() && cfg_.starttls == tls_use::when_offered) {
    // The after-STARTTLS copies could not run: the target was tested in plain text only.
    std::erase_if(report_.facts.results,
                  [](const test_result& r) { return r.test.after_starttls && r.attempts == 0; });
  }
  if (done_) {
    classified_ = true;
    if (!tls_unusable_.empty()) {
      report_.notes.push_back(fmt::format("{}: {}", tls_unusable_,
                                          cfg_.starttls == tls_use::always
                                              ? "nothing could be tested inside TLS"
                                              : "the battery ran in plain text only"));
    }
    if (reconnects_ > 0) {
      report_.notes.push_back(
          fmt::format("reconnected {} time{}: the server ended the session during the run",
                      reconnects_, reconnects_ == 1 ? "" : "s"));
    }
  }
  report_.result = classify(report_.facts);
  return report_;
}

}  // namespace mx::probe
