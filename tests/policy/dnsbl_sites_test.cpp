// Tests for policy/dnsbl_sites: postscreen_dnsbl_sites parsing, query names, answer
// classification (list errors never count), scoring and the reject reply.
#include "policy/dnsbl_sites.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "dnsbl_test_util.hpp"

namespace mx::policy::dnsbl {
namespace {

using testing::ip;
using testing::rec;

std::vector<a_record> recs(std::vector<std::string_view> texts) {
  std::vector<a_record> out;
  for (auto t : texts) out.push_back(rec(t));
  return out;
}

std::string codes_text(const std::vector<a_record>& codes) {
  std::string out;
  for (const auto& c : codes) out += (out.empty() ? "" : ",") + to_string(c);
  return out;
}

TEST(DnsblSites, ParsesEntries) {
  struct tc {
    std::string_view input;
    std::string domain;
    std::optional<std::string> pattern;  // canonical text
    int weight;
  };
  const std::vector<tc> cases = {
      {"bl.example.test", "bl.example.test", std::nullopt, 1},
      {"BL.Example.TEST.", "bl.example.test", std::nullopt, 1},
      {"bl.example.test*2", "bl.example.test", std::nullopt, 2},
      {"zen.spamhaus.org=127.0.0.[2..11]*3", "zen.spamhaus.org", "127.0.0.[2..11]", 3},
      {"list.dnswl.org=127.0.[0..255].[1..3]*-5", "list.dnswl.org", "127.0.[0..255].[1..3]", -5},
      {"b.test=127.0.0.[2;4;10..11]", "b.test", "127.0.0.[2;4;10..11]", 1},
      {"b.test=127.0.0.4", "b.test", "127.0.0.4", 1},
      {"b.test=[127..127].0.0.[2]", "b.test", "127.0.0.2", 1},
      {"b.test*0", "b.test", std::nullopt, 0},
      {"b.test*+7", "b.test", std::nullopt, 7},
      {"b.test*-100000", "b.test", std::nullopt, -100000},
      {"under_score.b-l.test", "under_score.b-l.test", std::nullopt, 1},
  };
  for (const auto& c : cases) {
    auto got = parse_site(c.input);
    ASSERT_TRUE(got.has_value()) << "input: " << c.input << " error: " << got.error();
    EXPECT_EQ(got->domain, c.domain) << "input: " << c.input;
    EXPECT_EQ(got->weight, c.weight) << "input: " << c.input;
    std::optional<std::string> pattern;
    if (got->pattern) pattern = got->pattern->to_string();
    EXPECT_EQ(pattern, c.pattern) << "input: " << c.input;
    // The canonical text parses back to the same site.
    auto again = parse_site(got->to_string());
    ASSERT_TRUE(again.has_value()) << "input: " << got->to_string();
    EXPECT_EQ(*again, *got) << "input: " << c.input << " canonical: " << got->to_string();
  }
}

TEST(DnsblSites, RefusesBadEntries) {
  struct tc {
    std::string_view input;
    std::string_view error_has;
  };
  const std::vector<tc> cases = {
      {"", "bad list domain"},
      {".", "bad list domain"},
      {"bl..test", "bad list domain"},
      {"bl.test..", "bad list domain"},
      {"bl test", "bad list domain"},
      {"bl.test/8", "bad list domain"},
      {"=127.0.0.2", "bad list domain"},
      {"bl.test=", "empty octet"},
      {"bl.test=127.0.0", "needs 4 octets"},
      {"bl.test=127.0.0.2.3", "over 4 octets"},
      {"bl.test=127.0.0.256", "bad octet"},
      {"bl.test=127.0.0.-1", "bad octet"},
      {"bl.test=127.0.0.+1", "bad octet"},
      {"bl.test=127.0.0.x", "bad octet"},
      {"bl.test=127.0.0.[11..2]", "empty range"},
      {"bl.test=127.0.0.[2..]", "bad octet pattern item"},
      {"bl.test=127.0.0.[2;;3]", "bad octet pattern item"},
      {"bl.test=127.0.0.[]", "bad octet pattern"},
      {"bl.test=127.0.0.[2", "unbalanced"},
      {"bl.test=127.0.0.2]", "unbalanced"},
      {"bl.test=127.0.[[0]].2", "unbalanced"},
      {"bl.test*", "bad weight"},
      {"bl.test*-", "bad weight"},
      {"bl.test*1.5", "bad weight"},
      {"bl.test*100001", "bad weight"},
      {"bl.test*2*3", "bad weight"},
      {"bl.test=127.0.0.2*x", "bad weight"},
      {std::string_view("bl.test\0x", 9), "bad list domain"},
  };
  for (const auto& c : cases) {
    auto got = parse_site(c.input);
    ASSERT_FALSE(got.has_value()) << "input: " << c.input << " got: " << got->to_string();
    EXPECT_NE(got.error().find(c.error_has), std::string::npos)
        << "input: " << c.input << " got: " << got.error()
        << " want it to contain: " << c.error_has;
  }
}

TEST(DnsblSites, PatternMatches) {
  struct tc {
    std::string_view entry;
    std::string_view code;
    bool want;
  };
  const std::vector<tc> cases = {
      {"z.test=127.0.0.[2..11]", "127.0.0.2", true},
      {"z.test=127.0.0.[2..11]", "127.0.0.11", true},
      {"z.test=127.0.0.[2..11]", "127.0.0.12", false},
      {"z.test=127.0.0.[2..11]", "127.0.1.2", false},
      {"z.test=127.0.[0..255].[1..3]", "127.0.200.3", true},
      {"z.test=127.0.[0..255].[1..3]", "127.0.200.4", false},
      {"z.test=127.0.0.[2;4;10..11]", "127.0.0.4", true},
      {"z.test=127.0.0.[2;4;10..11]", "127.0.0.3", false},
      {"z.test=127.0.0.[2;4;10..11]", "127.0.0.10", true},
      {"z.test=127.0.0.2", "127.0.0.2", true},
      {"z.test=127.0.0.2", "127.0.0.3", false},
  };
  for (const auto& c : cases) {
    auto s = parse_site(c.entry);
    ASSERT_TRUE(s.has_value()) << c.entry;
    EXPECT_EQ(s->pattern->matches(rec(c.code)), c.want)
        << "entry: " << c.entry << " code: " << c.code;
  }
}

TEST(DnsblSites, IpQueryNames) {
  struct tc {
    std::string_view ip;
    std::string_view zone;
    std::optional<std::string> want;
  };
  const std::string z250(250, 'a');
  const std::vector<tc> cases = {
      {"1.2.3.4", "bl.example.test", "4.3.2.1.bl.example.test"},
      {"192.0.2.99", "ZEN.Spamhaus.org.", "99.2.0.192.zen.spamhaus.org"},
      {"::ffff:1.2.3.4", "bl.test", "4.3.2.1.bl.test"},
      // RFC 5782 2.4's example.
      {"2001:db8:1:2:3:4:567:89ab", "ugly.example.com",
       "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"},
      {"::1", "v6.test", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.v6.test"},
      {"1.2.3.4", "bad zone", std::nullopt},
      {"1.2.3.4", "", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ip_query_name(ip(c.ip), c.zone), c.want) << "ip: " << c.ip << " zone: " << c.zone;
  }
  // 255 octets on the wire at most: "4.3.2.1." + zone + root.
  std::string zone;
  while (zone.size() < 240) zone += std::string(59, 'z') + ".";
  zone.pop_back();  // 239 octets of text
  for (std::size_t len = 240; len <= 248; ++len) {
    std::string z = zone + "." + std::string(len - zone.size() - 1, 'y');
    const bool fits = 8 + z.size() + 2 <= 255;
    EXPECT_EQ(ip_query_name(ip("1.2.3.4"), z).has_value(), fits) << "zone length " << z.size();
  }
}

TEST(DnsblSites, DomainQueryNames) {
  struct tc {
    std::string_view domain;
    std::string_view zone;
    std::optional<std::string> want;
  };
  const std::vector<tc> cases = {
      {"example.com", "dbl.example.test", "example.com.dbl.example.test"},
      {"Mail.Example.COM.", "dbl.test", "mail.example.com.dbl.test"},
      {"[192.0.2.1]", "dbl.test", std::nullopt},
      {"a b.com", "dbl.test", std::nullopt},
      {"", "dbl.test", std::nullopt},
      {"example.com", "", std::nullopt},
      {"x\r\n.com", "dbl.test", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(domain_query_name(c.domain, c.zone), c.want)
        << "domain: " << c.domain << " zone: " << c.zone;
  }
  // Names of exactly 255 wire octets pass; 256 are refused.
  const std::string label63(63, 'd');
  const std::string domain = label63 + "." + label63 + "." + label63;  // 191 octets
  for (std::size_t zone_len = 58; zone_len <= 64; ++zone_len) {
    const std::string zone = std::string(zone_len - 3, 'z') + ".zz";
    const std::size_t wire = domain.size() + 1 + zone.size() + 2;
    EXPECT_EQ(domain_query_name(domain, zone).has_value(), wire <= 255) << "wire " << wire;
  }
}

TEST(DnsblSites, ClassifiesCodes) {
  struct tc {
    std::string_view code;
    code_kind want;
  };
  const std::vector<tc> cases = {
      {"127.0.0.2", code_kind::listing},          {"127.0.0.11", code_kind::listing},
      {"127.0.1.3", code_kind::listing},          {"127.255.254.255", code_kind::listing},
      {"127.0.0.1", code_kind::list_error},       {"127.0.0.0", code_kind::listing},
      {"127.255.255.252", code_kind::list_error}, {"127.255.255.254", code_kind::list_error},
      {"127.255.255.255", code_kind::list_error}, {"127.255.255.0", code_kind::list_error},
      {"0.0.0.0", code_kind::list_error},         {"192.0.2.1", code_kind::list_error},
      {"128.0.0.2", code_kind::list_error},       {"126.255.255.255", code_kind::list_error},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classify_code(rec(c.code)), c.want) << "code: " << c.code;
  }
}

TEST(DnsblSites, ClassifiesAnswers) {
  struct tc {
    std::string_view entry;
    std::vector<std::string_view> answer;
    list_status want;
    std::string want_codes;
  };
  const std::vector<tc> cases = {
      {"bl.test", {}, list_status::not_listed, ""},
      {"bl.test", {"127.0.0.2"}, list_status::listed, "127.0.0.2"},
      {"bl.test", {"127.0.0.2", "127.0.0.4"}, list_status::listed, "127.0.0.2,127.0.0.4"},
      {"bl.test=127.0.0.4", {"127.0.0.2", "127.0.0.4"}, list_status::listed, "127.0.0.4"},
      {"bl.test=127.0.0.9", {"127.0.0.2", "127.0.0.4"}, list_status::not_listed, ""},
      {"bl.test", {"127.255.255.254"}, list_status::list_error, "127.255.255.254"},
      {"bl.test", {"127.0.0.2", "127.255.255.255"}, list_status::list_error, "127.255.255.255"},
      {"bl.test", {"127.0.0.1"}, list_status::list_error, "127.0.0.1"},
      {"bl.test", {"192.0.2.80"}, list_status::list_error, "192.0.2.80"},
      // A pattern never turns an error code into a listing.
      {"bl.test=127.255.255.[0..255]",
       {"127.255.255.252"},
       list_status::list_error,
       "127.255.255.252"},
      {"bl.test=[0..255].[0..255].[0..255].[0..255]",
       {"10.0.0.1"},
       list_status::list_error,
       "10.0.0.1"},
  };
  for (const auto& c : cases) {
    auto s = parse_site(c.entry);
    ASSERT_TRUE(s.has_value()) << c.entry;
    const auto answer = recs(c.answer);
    const list_result got = classify_answer(*s, answer);
    EXPECT_EQ(got.status, c.want) << "entry: " << c.entry << " got: " << name_of(got.status)
                                  << " want: " << name_of(c.want);
    EXPECT_EQ(codes_text(got.codes), c.want_codes) << "entry: " << c.entry;
    EXPECT_EQ(got.list, s->domain) << "entry: " << c.entry;
  }
}

TEST(DnsblSites, Scores) {
  struct answer {
    std::string_view entry;
    std::vector<std::string_view> records;  // {"fail"} for a failed lookup
  };
  struct tc {
    std::string_view name;
    std::vector<answer> answers;
    int want_score;
    std::size_t want_listed;
    std::size_t want_errors;
    std::optional<std::string> want_blame;
    bool reached_at_1;
  };
  const std::vector<tc> cases = {
      {"nothing", {{"a.test", {}}, {"b.test*2", {}}}, 0, 0, 0, std::nullopt, false},
      {"one list, many records count once",
       {{"a.test*2", {"127.0.0.2", "127.0.0.3", "127.0.0.4"}}},
       2,
       1,
       0,
       "a.test",
       true},
      {"weights add",
       {{"a.test*2", {"127.0.0.2"}}, {"b.test=127.0.0.[2..11]*3", {"127.0.0.3"}}},
       5,
       2,
       0,
       "b.test",
       true},
      {"allowlist cancels",
       {{"a.test*2", {"127.0.0.2"}}, {"wl.test=127.0.[0..255].[1..3]*-5", {"127.0.10.2"}}},
       -3,
       2,
       0,
       "a.test",
       false},
      {"error codes do not count",
       {{"a.test*3", {"127.255.255.254"}}, {"b.test", {"127.0.0.2"}}},
       1,
       1,
       1,
       "b.test",
       true},
      {"failed lookups fail open", {{"a.test*3", {"fail"}}}, 0, 0, 1, std::nullopt, false},
      {"ties blame the first",
       {{"a.test*2", {"127.0.0.2"}}, {"b.test*2", {"127.0.0.2"}}},
       4,
       2,
       0,
       "a.test",
       true},
      {"zero weight listed, not reached",
       {{"a.test*0", {"127.0.0.2"}}},
       0,
       1,
       0,
       std::nullopt,
       false},
  };
  for (const auto& c : cases) {
    std::vector<list_result> results;
    for (const auto& a : c.answers) {
      auto s = parse_site(a.entry);
      ASSERT_TRUE(s.has_value()) << a.entry;
      if (a.records.size() == 1 && a.records[0] == "fail") {
        results.push_back(failed_lookup(*s));
      } else {
        results.push_back(classify_answer(*s, recs(a.records)));
      }
    }
    const verdict v = score(results);
    EXPECT_EQ(v.score, c.want_score) << c.name;
    EXPECT_EQ(v.listed.size(), c.want_listed) << c.name;
    EXPECT_EQ(v.errors.size(), c.want_errors) << c.name;
    std::optional<std::string> blame;
    if (v.blame) blame = v.listed[*v.blame].list;
    EXPECT_EQ(blame, c.want_blame) << c.name;
    EXPECT_EQ(v.reached(1), c.reached_at_1) << c.name << " score " << v.score;
  }
}

TEST(DnsblSites, SanitizesTxt) {
  struct tc {
    std::string input;
    std::size_t max;
    std::string want;
  };
  const std::vector<tc> cases = {
      {"Listed: see https://bl.test/?ip=1.2.3.4", 200, "Listed: see https://bl.test/?ip=1.2.3.4"},
      {"a\r\n554 injected", 200, "a??554 injected"},
      {std::string("nul\0here", 8), 200, "nul?here"},
      {"  tabs\tand   spaces  ", 200, "tabs and spaces"},
      {"\xc3\xa9t\xc3\xa9", 200, "??t??"},
      {"abcdefghij", 8, "abcde..."},
      {"abcdefgh", 8, "abcdefgh"},
      {"", 200, ""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(sanitize_txt(c.input, c.max), c.want) << "input: " << c.input;
  }
  EXPECT_EQ(sanitize_txt(std::string(1000, 'x')).size(), max_txt_length);
}

TEST(DnsblSites, BlockedReply) {
  struct tc {
    std::string_view client;
    std::string_view list;
    std::string_view txt;
    bool defer;
    std::string want_wire;
  };
  const std::vector<tc> cases = {
      {"192.0.2.1", "bl.example.test", "", false,
       "554 5.7.1 Service unavailable; client [192.0.2.1] blocked using bl.example.test\r\n"},
      {"192.0.2.1", "bl.example.test", "Listed: see http://x/", false,
       "554 5.7.1 Service unavailable; client [192.0.2.1] blocked using bl.example.test; "
       "Listed: see http://x/\r\n"},
      {"2001:db8::1", "v6.test", "x", true,
       "450 4.7.1 Service unavailable; client [2001:db8::1] blocked using v6.test; x\r\n"},
      {"::ffff:192.0.2.7", "bl.test", "a\r\n250 ok", false,
       "554 5.7.1 Service unavailable; client [192.0.2.7] blocked using bl.test; a??250 ok\r\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(blocked_reply(ip(c.client), c.list, c.txt, c.defer).wire(), c.want_wire)
        << "client: " << c.client << " txt: " << c.txt;
  }
}

}  // namespace
}  // namespace mx::policy::dnsbl
