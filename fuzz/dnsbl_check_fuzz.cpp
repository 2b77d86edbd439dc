// Fuzz target for smtpd's DNS list pieces (policy/dnsbl_check, policy/dnsbl_sites): list entries
// from the config (parse_site), HELO and MAIL FROM domains from the client, and A records from
// the network, in any order. Input lines: 1) list entries separated by spaces (used for the IP,
// HELO and sender lists alike), 2) a client IP, 3) a HELO name, 4) a sender domain; the rest is
// answer bytes: per query one count octet, then that many 4-octet A records (count 0xff: the
// query fails). Invariants: nothing crashes; every query name ends with its list's zone and fits
// 255 octets; a verdict only blocks with a listed list; replies are one line of printable ASCII.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/dnsbl_check.hpp"
#include "require.hpp"

namespace {

using namespace mx;
using namespace mx::policy::dnsbl;

using fuzz::require;

std::string_view next_line(std::string_view& in) {
  const auto nl = in.find('\n');
  const std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return line;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view entries = next_line(in);
  const std::string_view ip_text = next_line(in);
  const std::string_view helo = next_line(in);
  const std::string_view sender = next_line(in);

  auto cfg = std::make_shared<check_config>();
  while (!entries.empty() && cfg->client.size() < 8) {
    const auto sp = entries.find(' ');
    auto s = parse_site(entries.substr(0, sp));
    entries.remove_prefix(sp == std::string_view::npos ? entries.size() : sp + 1);
    if (!s) continue;
    require(!s->domain.empty() && s->weight >= -max_weight && s->weight <= max_weight);
    auto again = parse_site(s->to_string());  // canonical text round-trips
    require(again.has_value() && *again == *s);
    cfg->client.push_back(*s);
  }
  cfg->helo = cfg->client;
  cfg->sender = cfg->client;
  cfg->threshold = 1;

  check_state st(cfg);
  const time_point t0{};
  std::vector<query> qs;
  if (auto ip = inet::ip_address::parse(ip_text)) qs = st.begin_client(*ip, t0);
  for (auto& q : st.begin_domain(subject_kind::helo, helo, t0)) qs.push_back(q);
  for (auto& q : st.begin_domain(subject_kind::sender, sender, t0)) qs.push_back(q);

  for (const auto& q : qs) {
    require(q.name.size() <= 253 && q.index < cfg->client.size());
    require(ends_with(q.name, "." + cfg->client[q.index].domain));
    if (in.empty()) break;
    const auto count = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    const site& s = cfg->client[q.index];
    if (count == 0xff) {
      st.answer(q, failed_lookup(s));
      continue;
    }
    std::vector<a_record> records;
    for (std::size_t i = 0; i < count && in.size() >= 4; ++i) {
      records.push_back({static_cast<std::uint8_t>(in[0]), static_cast<std::uint8_t>(in[1]),
                         static_cast<std::uint8_t>(in[2]), static_cast<std::uint8_t>(in[3])});
      in.remove_prefix(4);
    }
    const list_result r = classify_answer(s, records);
    if (r.status == list_status::listed) {
      for (const auto& c : r.codes) require(classify_code(c) == code_kind::listing);
    }
    require(st.answer(q, r));
    require(!st.answer(q, r));  // a second answer is never taken
  }
  st.expire(t0);
  require(st.complete());
  const outcome o = st.evaluate();
  require(!o.blocked || !o.v.listed.empty());
  require(o.blamed.has_value() == o.v.blame.has_value());
  if (o.blamed) {
    const std::string txt(in);
    const auto wire = refusal(st, *o.blamed, txt, false).wire();
    require(wire.size() >= 2 && wire.find("\r\n") == wire.size() - 2);
    for (std::size_t i = 0; i + 2 < wire.size(); ++i) {
      require(wire[i] >= 0x20 && wire[i] < 0x7f);
    }
  }
  (void)describe(st, o);
  return 0;
}
