// `mxguard lookup`: the multi-list DNSBL checker. Checks IP addresses and domains against many
// DNSBLs, RHSBLs and allowlists at once (the bundled catalog config/dnsbl-catalog.toml, or
// --list), after checking each list's RFC 5782 test points, and prints a table or JSON.
// Exit: 0 not listed on any block list, 1 listed on one, 2 no listing but errors (a broken list,
// a timeout), 64 usage error (also an unreadable or invalid catalog).
//
// SECURITY: every answer goes through policy/dnsbl_sites: A records outside 127.0.0.0/8,
// 127.0.0.1, 127.255.255.0/24 and a list's documented error codes are list errors, never
// listings, so a refusing list or an NXDOMAIN-rewriting resolver cannot make everything look
// listed. A list whose test points fail (127.0.0.2 not listed: dead; 127.0.0.1 listed: lists
// the world) is reported as broken and not used. TXT text is printed sanitized (printable
// ASCII, bounded). Targets are parsed (IP, or a domain of letter/digit/-/_ labels) before any
// name is built. Queries go only to --server when given.
// RFCs: 5782 2.1 (IPv4), 2.4 (IPv6), 3 (domains), 5 (test points).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "cli/commands.hpp"
#include "core/inet.hpp"
#include "net/resolver.hpp"
#include "policy/dnsbl_sites.hpp"
#include "probe/output.hpp"

namespace mx::cli {

namespace {

namespace bl = policy::dnsbl;

constexpr int exit_listed = 1;
constexpr int exit_errors = 2;
constexpr int exit_usage = 64;

enum class list_kind { ip, domain, any };
// Which RFC 5782 5 test points a target needs: IPv4 (127.0.0.2 / 127.0.0.1), IPv6
// (::FFFF:7F00:2 / ::FFFF:7F00:1) or domain ("test" / "invalid").
enum class point_kind { ip4, ip6, domain };

struct list_def {
  bl::site site;  // zone, optional pattern, weight (negative: allowlist)
  std::string name;
  list_kind kind = list_kind::any;
  bool allow = false;
  bool ipv4 = true;
  bool ipv6 = true;
  std::map<std::string, std::string> codes;
  std::map<unsigned, std::string> bits;
  std::map<unsigned, std::string> octet3;
  std::map<unsigned, std::string> octet4;
  std::map<std::string, std::string> errors;
};

struct target {
  std::string text;
  std::optional<inet::ip_address> ip;  // else a domain
  std::string domain;

  point_kind kind() const {
    if (!ip) return point_kind::domain;
    return ip->unmapped().is_v4() ? point_kind::ip4 : point_kind::ip6;
  }
};

// The table's and JSON's row.
struct row {
  std::string target;
  std::string list;
  bool allow = false;
  std::string status;  // listed, not listed, list error, failed, broken
  std::vector<std::string> codes;
  std::string meaning;
  std::vector<std::string> txt;
};

int usage(const std::string& why) {
  fmt::print(stderr, "mxguard lookup: {}\nRun `mxguard lookup --help` for the options.\n", why);
  return exit_usage;
}

std::string generic_error_meaning(const bl::a_record& r) {
  if (r[0] != 127) return "not a DNSBL answer (NXDOMAIN-rewriting resolver or wildcard?)";
  if (r[1] == 0 && r[2] == 0 && r[3] == 1) return "127.0.0.1: query refused (never a listing)";
  return "127.255.255.x: query refused by the list";
}

std::string meaning_of(const list_def& l, const bl::a_record& r) {
  const std::string code = bl::to_string(r);
  if (auto it = l.codes.find(code); it != l.codes.end()) return it->second;
  if (!l.bits.empty()) {
    std::string out;
    for (const auto& [bit, text] : l.bits) {
      if ((r[3] & bit) != 0) out += (out.empty() ? "" : ", ") + text;
    }
    if (!out.empty()) return out;
  }
  if (!l.octet3.empty() || !l.octet4.empty()) {
    std::string out;
    if (auto it = l.octet3.find(r[2]); it != l.octet3.end()) out = it->second;
    if (auto it = l.octet4.find(r[3]); it != l.octet4.end()) {
      out += (out.empty() ? "" : ", ") + it->second;
    }
    if (!out.empty()) return out;
  }
  return "listed";
}

// The list's verdict on one A answer: list-specific error codes first, then the generic rules.
bl::list_result classify(const list_def& l, const net::dns_answer& a) {
  if (a.status == net::dns_status::ok || a.status == net::dns_status::nxdomain ||
      a.status == net::dns_status::nodata) {
    bl::list_result out{l.site.domain, l.site.weight, bl::list_status::not_listed, {}};
    for (const auto& r : a.a) {
      if (l.errors.count(bl::to_string(r)) != 0) {
        out.status = bl::list_status::list_error;
        out.codes.push_back(r);
      }
    }
    if (out.status == bl::list_status::list_error) return out;
    return bl::classify_answer(l.site, a.a);
  }
  return bl::failed_lookup(l.site);
}

std::string codes_meaning(const list_def& l, const bl::list_result& r) {
  std::string out;
  for (const auto& c : r.codes) {
    std::string m;
    if (r.status == bl::list_status::list_error) {
      auto it = l.errors.find(bl::to_string(c));
      m = it != l.errors.end() ? it->second : generic_error_meaning(c);
    } else {
      m = meaning_of(l, c);
    }
    if (out.find(m) == std::string::npos) out += (out.empty() ? "" : "; ") + m;
  }
  return out;
}

std::vector<std::string> code_texts(const bl::list_result& r) {
  std::vector<std::string> out;
  for (const auto& c : r.codes) out.push_back(bl::to_string(c));
  return out;
}

// ---- catalog ----

template <class Map, class Key>
std::optional<std::string> read_table(const toml::table& t, std::string_view key, Map& out,
                                      Key (*parse_key)(std::string_view, bool&)) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::nullopt;
  const toml::table* tab = n->as_table();
  if (tab == nullptr) return fmt::format("\"{}\" must be a table", key);
  for (const auto& [k, v] : *tab) {
    bool ok = true;
    Key parsed = parse_key(k.str(), ok);
    auto s = v.template value<std::string>();
    if (!ok || !s) return fmt::format("{}: bad entry \"{}\"", key, k.str());
    out[parsed] = *s;
  }
  return std::nullopt;
}

std::string code_key(std::string_view k, bool& ok) {
  auto ip = inet::ip_address::parse_v4(k);
  ok = ip.has_value();
  return std::string(k);
}

unsigned octet_key(std::string_view k, bool& ok) {
  unsigned v = 0;
  ok = !k.empty() && k.size() <= 3;
  for (char c : k) {
    if (c < '0' || c > '9') ok = false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  ok = ok && v <= 255;
  return v;
}

mx::expected<std::vector<list_def>, std::string> load_catalog(const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return mx::unexpected(fmt::format("{}:{}:{}: {}", path, e.source().begin.line,
                                      e.source().begin.column, e.description()));
  }
  const toml::array* lists = doc["list"].as_array();
  if (lists == nullptr) return mx::unexpected(fmt::format("{}: no [[list]] entries", path));
  std::vector<list_def> out;
  for (const toml::node& node : *lists) {
    const toml::table* t = node.as_table();
    const int line = node.source().begin.line;
    auto fail = [&](const std::string& why) {
      return mx::unexpected(fmt::format("{}:{}: [[list]]: {}", path, line, why));
    };
    if (t == nullptr) return fail("not a table");
    for (const auto& [k, v] : *t) {
      static const std::vector<std::string_view> known = {
          "zone", "name", "kind", "type", "ipv6", "codes", "bits", "octet3", "octet4", "errors"};
      if (std::find(known.begin(), known.end(), k.str()) == known.end()) {
        return fail(fmt::format("unknown key \"{}\"", k.str()));
      }
    }
    list_def l;
    auto zone = (*t)["zone"].value<std::string>();
    if (!zone) return fail("zone missing");
    auto site = bl::parse_site(*zone);
    if (!site || site->pattern || site->weight != 1) {
      return fail(fmt::format("bad zone \"{}\"", *zone));
    }
    l.site = *site;
    l.name = (*t)["name"].value_or(l.site.domain);
    const std::string kind = (*t)["kind"].value_or(std::string("ip"));
    if (kind != "ip" && kind != "domain") return fail("kind must be \"ip\" or \"domain\"");
    l.kind = kind == "ip" ? list_kind::ip : list_kind::domain;
    const std::string type = (*t)["type"].value_or(std::string("block"));
    if (type != "block" && type != "allow") return fail("type must be \"block\" or \"allow\"");
    l.allow = type == "allow";
    if (l.allow) l.site.weight = -1;
    l.ipv6 = (*t)["ipv6"].value_or(false);
    for (auto err :
         {read_table(*t, "codes", l.codes, &code_key),
          read_table(*t, "errors", l.errors, &code_key), read_table(*t, "bits", l.bits, &octet_key),
          read_table(*t, "octet3", l.octet3, &octet_key),
          read_table(*t, "octet4", l.octet4, &octet_key)}) {
      if (err) return fail(*err);
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::string default_catalog() {
  for (const char* p : {"config/dnsbl-catalog.toml", "/etc/mxguard/dnsbl-catalog.toml",
                        "/usr/share/mxguard/dnsbl-catalog.toml"}) {
    if (std::ifstream(p).good()) return p;
  }
  return "config/dnsbl-catalog.toml";
}

// ---- queries ----

std::optional<std::string> query_name(const target& t, const list_def& l) {
  return t.ip ? bl::ip_query_name(*t.ip, l.site.domain)
              : bl::domain_query_name(t.domain, l.site.domain);
}

bool applies(const list_def& l, const target& t) {
  if (t.ip) {
    const bool v4 = t.ip->unmapped().is_v4();
    return l.kind != list_kind::domain && (v4 ? l.ipv4 : l.ipv6);
  }
  return l.kind != list_kind::ip;
}

// RFC 5782 5 test points: IP lists list 127.0.0.2 and not 127.0.0.1; domain lists list "test"
// and not "invalid". Returns why the list is broken, or "" when it passes.
std::string judge_test_points(const list_def& l, const net::dns_answer& yes,
                              const net::dns_answer& no, point_kind kind) {
  const std::string listed_point = kind == point_kind::ip4   ? "127.0.0.2"
                                   : kind == point_kind::ip6 ? "::FFFF:7F00:2"
                                                             : "\"test\"";
  const std::string unlisted_point = kind == point_kind::ip4   ? "127.0.0.1"
                                     : kind == point_kind::ip6 ? "::FFFF:7F00:1"
                                                               : "\"invalid\"";
  for (const auto* a : {&yes, &no}) {
    const bl::list_result r = classify(l, *a);
    if (r.status == bl::list_status::list_error) {
      return fmt::format("refuses queries: {} ({})", fmt::join(code_texts(r), ","),
                         codes_meaning(l, r));
    }
    if (r.status == bl::list_status::failed) {
      return fmt::format("dead: {} for test point {}{}", net::name_of(a->status),
                         a == &yes ? listed_point : unlisted_point,
                         a->error.empty() ? "" : " (" + a->error + ")");
    }
  }
  // The listed test point is judged without the site's pattern: any listing code will do.
  bl::site any = l.site;
  any.pattern.reset();
  if (bl::classify_answer(any, yes.a).status != bl::list_status::listed) {
    return fmt::format("dead: test point {} not listed ({})", listed_point,
                       net::name_of(yes.status));
  }
  if (bl::classify_answer(any, no.a).status == bl::list_status::listed) {
    return fmt::format("lists the world: test point {} listed", unlisted_point);
  }
  return {};
}

void print_table(const std::vector<row>& rows, const std::vector<std::string>& broken) {
  const std::vector<std::string> head = {"TARGET", "LIST", "LISTED", "CODE", "MEANING", "TXT"};
  std::vector<std::vector<std::string>> cells;
  for (const row& r : rows) {
    std::string listed = r.status == "listed"       ? (r.allow ? "yes (allow)" : "YES")
                         : r.status == "not listed" ? "no"
                                                    : r.status;
    std::string txt;
    for (const auto& t : r.txt) txt += (txt.empty() ? "" : " | ") + t;
    cells.push_back(
        {r.target, r.list, listed, fmt::format("{}", fmt::join(r.codes, ",")), r.meaning, txt});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) width[i] = head[i].size();
  for (const auto& c : cells) {
    for (std::size_t i = 0; i + 1 < c.size(); ++i) width[i] = std::max(width[i], c[i].size());
  }
  auto line = [&](const std::vector<std::string>& c) {
    std::string out;
    for (std::size_t i = 0; i < c.size(); ++i) {
      out += i + 1 < c.size() ? fmt::format("{:<{}}  ", c[i], width[i]) : c[i];
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    fmt::print("{}\n", out);
  };
  line(head);
  for (const auto& c : cells) line(c);
  for (const auto& b : broken) fmt::print("broken list: {}\n", b);
}

void print_json(const std::vector<row>& rows, const std::vector<std::string>& broken,
                int exit_code) {
  using probe::json_string;
  std::string out = "{\"results\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    std::string codes;
    for (const auto& c : r.codes) codes += (codes.empty() ? "" : ",") + json_string(c);
    std::string txt;
    for (const auto& t : r.txt) txt += (txt.empty() ? "" : ",") + json_string(t);
    out += fmt::format(
        "{}{{\"target\":{},\"list\":{},\"type\":{},\"status\":{},\"codes\":[{}],"
        "\"meaning\":{},\"txt\":[{}]}}",
        i ? "," : "", json_string(r.target), json_string(r.list),
        json_string(r.allow ? "allow" : "block"), json_string(r.status), codes,
        json_string(r.meaning), txt);
  }
  out += "],\"broken\":[";
  for (std::size_t i = 0; i < broken.size(); ++i) out += (i ? "," : "") + json_string(broken[i]);
  out += fmt::format("],\"exit\":{}}}\n", exit_code);
  fmt::print("{}", out);
}

}  // namespace

int run_lookup(int argc, char** argv) {
  CLI::App app{
      "Check IP addresses and domains against many DNS block lists and allowlists at once, after "
      "checking each list's RFC 5782 test points (a list that fails them is reported broken and "
      "not used). Without --list, the lists of the catalog (config/dnsbl-catalog.toml).\n"
      "Exit: 0 not listed on any block list, 1 listed, 2 errors only, 64 usage error."};
  app.name("mxguard lookup");
  std::vector<std::string> inputs;
  std::vector<std::string> list_specs;
  std::string server;
  std::string catalog_path;
  bool json = false;
  long timeout_ms = 2000;
  int tries = 2;
  app.add_option("target", inputs, "IP addresses (IPv4, IPv6) and domains")->required();
  app.add_option("-l,--list", list_specs,
                 "A list to check instead of the catalog's: ZONE[=PATTERN][*WEIGHT] (postscreen "
                 "syntax; a negative weight marks an allowlist); repeatable");
  app.add_option("-s,--server", server,
                 "DNS server to ask, IP[:PORT] or [IPv6]:PORT (default: /etc/resolv.conf)");
  app.add_option("-c,--catalog", catalog_path, "Catalog file (default config/dnsbl-catalog.toml)");
  app.add_flag("--json", json, "JSON output");
  app.add_option("--timeout", timeout_ms, "Milliseconds per DNS try (c-ares doubles it per round)")
      ->check(CLI::Range(10L, 60000L))
      ->capture_default_str();
  app.add_option("--tries", tries, "DNS tries")->check(CLI::Range(1, 10))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage(e.what());
  }

  std::vector<target> targets;
  for (const auto& in : inputs) {
    target t;
    t.text = in;
    if (auto ip = inet::ip_address::parse(in)) {
      t.ip = *ip;
    } else if (auto d = bl::canonical_zone(in)) {
      t.domain = *d;
      t.text = *d;
    } else {
      return usage(fmt::format("\"{}\" is neither an IP address nor a domain", in));
    }
    targets.push_back(std::move(t));
  }

  std::vector<list_def> lists;
  if (!list_specs.empty()) {
    for (const auto& spec : list_specs) {
      auto s = bl::parse_site(spec);
      if (!s) return usage(fmt::format("--list {}", s.error()));
      list_def l;
      l.site = *s;
      l.name = s->domain;
      l.allow = s->weight < 0;
      lists.push_back(std::move(l));
    }
  } else {
    const std::string path = catalog_path.empty() ? default_catalog() : catalog_path;
    auto loaded = load_catalog(path);
    if (!loaded) return usage(loaded.error());
    lists = std::move(*loaded);
  }

  asio::io_context ctx;
  net::resolver_settings settings;
  if (!server.empty()) settings.servers = {server};
  settings.timeout = std::chrono::milliseconds(timeout_ms);
  settings.tries = tries;
  auto res = net::resolver::create(ctx.get_executor(), settings);
  if (!res) return usage(res.error());
  net::resolver& resolver = **res;

  // 1. Test points of every list in use, per kind of target, all at once.
  std::set<point_kind> kinds;
  for (const auto& t : targets) kinds.insert(t.kind());
  struct probe_slot {
    std::size_t list;
    point_kind kind;
    net::dns_answer yes;
    net::dns_answer no;
  };
  std::vector<probe_slot> probes;
  for (std::size_t i = 0; i < lists.size(); ++i) {
    for (point_kind k : kinds) {
      const bool ip = k != point_kind::domain;
      if (lists[i].kind == (ip ? list_kind::domain : list_kind::ip)) continue;
      if (k == point_kind::ip6 && !lists[i].ipv6) continue;
      probes.push_back({i, k, {}, {}});
    }
  }
  const std::string v6_point = "0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.";
  for (auto& p : probes) {
    const std::string& zone = lists[p.list].site.domain;
    std::string yes = "test." + zone;
    std::string no = "invalid." + zone;
    if (p.kind == point_kind::ip4) {
      yes = "2.0.0.127." + zone;
      no = "1.0.0.127." + zone;
    } else if (p.kind == point_kind::ip6) {
      yes = "2." + v6_point + zone;
      no = "1." + v6_point + zone;
    }
    asio::co_spawn(
        ctx,
        [&resolver, &p, yes]() -> asio::awaitable<void> { p.yes = co_await resolver.query_a(yes); },
        asio::detached);
    asio::co_spawn(
        ctx,
        [&resolver, &p, no]() -> asio::awaitable<void> { p.no = co_await resolver.query_a(no); },
        asio::detached);
  }
  ctx.run();
  std::map<std::pair<std::size_t, point_kind>, std::string> broken_why;
  std::vector<std::string> broken;
  std::map<std::size_t, std::set<point_kind>> passed;  // the test points each list passed
  std::vector<std::string> verdicts;
  for (const auto& p : probes) {
    verdicts.push_back(judge_test_points(lists[p.list], p.yes, p.no, p.kind));
    if (verdicts.back().empty()) passed[p.list].insert(p.kind);
  }
  // A --list zone may be an IP list or a domain list, with or without IPv6 data: one that passes
  // the test points of one kind and simply does not list another kind's is not that kind of list.
  // A --list zone that passes none is broken once, for its most telling reason (a refusal or a
  // timeout rather than a test point not listed).
  std::map<std::size_t, std::string> any_broken;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const auto& p = probes[i];
    const std::string& why = verdicts[i];
    if (why.empty() || lists[p.list].kind != list_kind::any || !passed[p.list].empty()) continue;
    std::string& best = any_broken[p.list];
    if (best.empty() ||
        (best.starts_with("dead: test point") && !why.starts_with("dead: test point"))) {
      best = why;
    }
  }
  std::vector<list_def> before = lists;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const auto& p = probes[i];
    std::string why = std::move(verdicts[i]);
    if (why.empty()) continue;
    list_def& l = lists[p.list];
    if (auto it = any_broken.find(p.list); it != any_broken.end()) {
      broken_why[{p.list, p.kind}] = it->second;
      continue;
    }
    const auto& ok = passed[p.list];
    const bool passed_ip = ok.count(point_kind::ip4) + ok.count(point_kind::ip6) != 0;
    if (before[p.list].kind == list_kind::any && why.starts_with("dead: test point")) {
      if (p.kind == point_kind::domain && passed_ip) {
        l.kind = list_kind::ip;
        continue;
      }
      if (p.kind != point_kind::domain && !passed_ip && ok.count(point_kind::domain) != 0) {
        l.kind = list_kind::domain;
        continue;
      }
      if (p.kind == point_kind::ip6 && ok.count(point_kind::ip4) != 0) {
        l.ipv6 = false;
        continue;
      }
      if (p.kind == point_kind::ip4 && ok.count(point_kind::ip6) != 0) {
        l.ipv4 = false;
        continue;
      }
    }
    broken.push_back(fmt::format("{} ({} list): {}", l.site.domain,
                                 p.kind == point_kind::ip4   ? "IPv4"
                                 : p.kind == point_kind::ip6 ? "IPv6"
                                                             : "domain",
                                 why));
    broken_why[{p.list, p.kind}] = std::move(why);
  }
  for (const auto& [list, why] : any_broken) {
    broken.push_back(fmt::format("{}: {}", lists[list].site.domain, why));
  }

  // 2. Every target on every usable list, all at once; TXT only for listings.
  struct query_slot {
    std::size_t target;
    std::size_t list;
    std::string name;
    net::dns_answer a;
    net::dns_answer txt;
  };
  std::vector<row> rows;
  std::vector<query_slot> slots;
  std::vector<std::optional<row>> fixed;  // rows decided without a query, by slot order
  for (std::size_t ti = 0; ti < targets.size(); ++ti) {
    for (std::size_t li = 0; li < lists.size(); ++li) {
      if (!applies(lists[li], targets[ti])) continue;
      slots.push_back({ti, li, "", {}, {}});
      row r{targets[ti].text, lists[li].site.domain, lists[li].allow, "", {}, "", {}};
      if (auto it = broken_why.find({li, targets[ti].kind()}); it != broken_why.end()) {
        r.status = "broken";
        r.meaning = it->second;
        fixed.emplace_back(std::move(r));
        continue;
      }
      auto name = query_name(targets[ti], lists[li]);
      if (!name) {
        r.status = "failed";
        r.meaning = "query name over 255 octets";
        fixed.emplace_back(std::move(r));
        continue;
      }
      slots.back().name = *name;
      fixed.emplace_back(std::nullopt);
    }
  }
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (fixed[i]) continue;
    query_slot& s = slots[i];
    const list_def& l = lists[s.list];
    asio::co_spawn(
        ctx,
        [&resolver, &s, &l]() -> asio::awaitable<void> {
          s.a = co_await resolver.query_a(s.name);
          if (classify(l, s.a).status == bl::list_status::listed) {
            s.txt = co_await resolver.query_txt(s.name);
          }
        },
        asio::detached);
  }
  ctx.restart();
  ctx.run();

  bool listed_block = false;
  bool errors = !broken.empty();
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (fixed[i]) {
      if (fixed[i]->status != "broken") errors = true;
      rows.push_back(std::move(*fixed[i]));
      continue;
    }
    const query_slot& s = slots[i];
    const list_def& l = lists[s.list];
    const bl::list_result r = classify(l, s.a);
    row out{targets[s.target].text,
            l.site.domain,
            l.allow,
            std::string(bl::name_of(r.status)),
            code_texts(r),
            "",
            {}};
    switch (r.status) {
      case bl::list_status::listed:
        out.meaning = codes_meaning(l, r);
        for (const auto& t : s.txt.txt) out.txt.push_back(bl::sanitize_txt(t));
        if (!l.allow) listed_block = true;
        break;
      case bl::list_status::list_error:
        out.meaning = codes_meaning(l, r);
        errors = true;
        break;
      case bl::list_status::failed:
        out.meaning = s.a.error.empty() ? std::string(net::name_of(s.a.status))
                                        : fmt::format("{}: {}", net::name_of(s.a.status),
                                                      bl::sanitize_txt(s.a.error));
        errors = true;
        break;
      case bl::list_status::not_listed:
        break;
    }
    rows.push_back(std::move(out));
  }
  const int rc = listed_block ? exit_listed : errors ? exit_errors : exit_ok;
  if (json) {
    print_json(rows, broken, rc);
  } else {
    print_table(rows, broken);
  }
  return rc;
}

}  // namespace mx::cli
