// zone transfers: the records a zone's data becomes (table), and the AXFR message stream.
#include "dnsbl/transfer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace mx::dnsbl {
namespace {

using namespace testing;
namespace rt = dns::rr_type;

std::string type_name(std::uint16_t t) {
  switch (t) {
    case rt::a:
      return "A";
    case rt::ns:
      return "NS";
    case rt::cname:
      return "CNAME";
    case rt::soa:
      return "SOA";
    case rt::txt:
      return "TXT";
    default:
      return std::to_string(t);
  }
}

struct transfer {
  std::vector<dns::testing::decoded> messages;
  std::vector<std::string> records;  // "owner TYPE ttl data", in order
  std::size_t largest = 0;
  std::string error;
};

transfer run_axfr(const std::shared_ptr<const zone_set>& zs, const std::string& zone,
                  std::size_t message_size = 16384, bool edns = false) {
  transfer t;
  auto spec = dns::testing::query_spec().with_name(zone).with_type(rt::axfr);
  if (edns) spec.with_edns(4096);
  const auto wire = dns::testing::build_query(spec);
  const auto q = dns::parse_query(wire);
  if (!q) {
    t.error = "query did not parse";
    return t;
  }
  const axfr_target target = find_axfr_zone(*zs, *q);
  if (target.zone < 0) {
    t.error = "rcode " + std::to_string(target.rcode);
    return t;
  }
  axfr_stream s(zs, static_cast<std::size_t>(target.zone), *q);
  std::vector<std::uint8_t> buf(message_size);
  for (int guard = 0; guard < 100000; ++guard) {
    const std::size_t n = s.next_message(buf);
    if (n == 0) break;
    t.largest = std::max(t.largest, n);
    const auto d = dns::testing::decode(std::vector<std::uint8_t>(buf.begin(), buf.begin() + n));
    if (!d.ok) {
      t.error = "message " + std::to_string(t.messages.size()) + ": " + d.error;
      return t;
    }
    for (const auto& rr : d.answer) {
      t.records.push_back(rr.owner + " " + type_name(rr.type) + " " + std::to_string(rr.ttl) + " " +
                          rr.data);
    }
    t.messages.push_back(d);
  }
  return t;
}

// The data records only (no SOA / NS), sorted.
std::vector<std::string> data_records(const transfer& t) {
  std::vector<std::string> out;
  for (const auto& r : t.records) {
    if (r.find(" SOA ") == std::string::npos && r.find(" NS ") == std::string::npos) {
      out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

const char* const soa_lines =
    "$SOA 300 ns.bl.test hm.bl.test 7 3600 600 86400 60\n$NS 300 ns.bl.test\n$TTL 100\n";

struct layer {
  dataset_type type;
  std::string text;
};

struct transfer_case {
  std::string what;
  std::vector<layer> layers;
  std::vector<std::string> want;  // sorted by the test
  bool test_points = false;
};

TEST(transfer, records_table) {
  using dt = dataset_type;
  const transfer_case cases[] = {
      {"ip4set /32 with value and TXT subject",
       {{dt::ip4set, ":3:Listed $\n1.2.3.4\n"}},
       {"4.3.2.1.bl.test A 100 127.0.0.3", "4.3.2.1.bl.test TXT 100 \"Listed 1.2.3.4\""}},
      {"ip4set /8 is one wildcard; TXT subject is the block's first address",
       {{dt::ip4set, "10.0.0.0/8 :5:big $\n"}},
       {"*.10.bl.test A 100 127.0.0.5", "*.10.bl.test TXT 100 \"big 10.0.0.0\""}},
      {"ip4set exclusion: cut out of the range, no record for it",
       {{dt::ip4set, "10.0.0.0-10.0.0.3\n!10.0.0.2\n"}},
       {"0.0.0.10.bl.test A 100 127.0.0.2", "1.0.0.10.bl.test A 100 127.0.0.2",
        "3.0.0.10.bl.test A 100 127.0.0.2"}},
      {"ip4set range not aligned: /32s, then /24 wildcards",
       {{dt::ip4set, "192.168.0.254-192.168.2.255\n"}},
       {"*.1.168.192.bl.test A 100 127.0.0.2", "*.2.168.192.bl.test A 100 127.0.0.2",
        "254.0.168.192.bl.test A 100 127.0.0.2", "255.0.168.192.bl.test A 100 127.0.0.2"}},
      {"ip4tset: each address with the one default",
       {{dt::ip4tset, ":7:t\n5.6.7.8\n1.2.3.4\n"}},
       {"4.3.2.1.bl.test A 100 127.0.0.7", "4.3.2.1.bl.test TXT 100 \"t\"",
        "8.7.6.5.bl.test A 100 127.0.0.7", "8.7.6.5.bl.test TXT 100 \"t\""}},
      {"ip4trie /23: two /24 wildcards; longest prefix wins",
       {{dt::ip4trie, "10.0.0.0/23 :2\n10.0.1.0/24 :3\n"}},
       {"*.0.0.10.bl.test A 100 127.0.0.2", "*.1.0.10.bl.test A 100 127.0.0.3"}},
      {"stacked sets on one zone: merged, a block in both gets both A",
       {{dt::ip4set, "10.0.0.0/24 :2\n"}, {dt::ip4trie, "10.0.0.0/24 :4\n10.0.1.9 :4\n"}},
       {"*.0.0.10.bl.test A 100 127.0.0.2", "*.0.0.10.bl.test A 100 127.0.0.4",
        "9.1.0.10.bl.test A 100 127.0.0.4"}},
      {"test points: 127.0.0.2 added, 127.0.0.1 cut out of 127.0.0.0/30",
       {{dt::ip4set, ":9\n127.0.0.0/30\n"}},
       {"0.0.0.127.bl.test A 100 127.0.0.9", "2.0.0.127.bl.test A 100 127.0.0.9",
        "3.0.0.127.bl.test A 100 127.0.0.9"},
       true},
      {"test points: 127.0.0.2 with the first default when not listed",
       {{dt::ip4tset, ":6\n1.1.1.1\n"}},
       {"1.1.1.1.bl.test A 100 127.0.0.6", "2.0.0.127.bl.test A 100 127.0.0.6"},
       true},
      {"ip6trie /126 is not nibble-aligned: one name per address; a /124 is one wildcard",
       {{dt::ip6trie, "2001:db8::/126 :4\n2001:db8:1::/124\n"}},
       {"*.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test A 100 "
        "127.0.0.2",
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test A 100 127.0.0.4",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test A 100 127.0.0.4",
        "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test A 100 127.0.0.4",
        "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test A 100 "
        "127.0.0.4"}},
      {"ip6tset: a /64 is one wildcard",
       {{dt::ip6tset, "2001:db8:0:1\n"}},
       {"*.1.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test A 100 127.0.0.2"}},
      {"dnset: exact, wildcard, both, exclusions as CNAME to excluded.<zone>",
       {{dt::dnset, ":2:dom $\nexample.com\n*.wild.test\n.both.test :3\n!x.wild.test\n"}},
       {"*.both.test.bl.test A 100 127.0.0.3", "*.both.test.bl.test TXT 100 \"dom both.test\"",
        "*.wild.test.bl.test A 100 127.0.0.2", "*.wild.test.bl.test TXT 100 \"dom wild.test\"",
        "both.test.bl.test A 100 127.0.0.3", "both.test.bl.test TXT 100 \"dom both.test\"",
        "example.com.bl.test A 100 127.0.0.2", "example.com.bl.test TXT 100 \"dom example.com\"",
        "x.wild.test.bl.test CNAME 100 excluded.bl.test"}},
      {"dnset test points: TEST listed, INVALID left out",
       {{dt::dnset, ":5\ninvalid\nok.test\n"}},
       {"ok.test.bl.test A 100 127.0.0.5", "test.bl.test A 100 127.0.0.5"},
       true},
      {"combined: each subzone under its name",
       {{dt::combined, "$DATASET ip4set ip4 @\n1.2.3.4\n$DATASET dnset dom\nexample.com :3\n"}},
       {"4.3.2.1.bl.test A 100 127.0.0.2", "4.3.2.1.ip4.bl.test A 100 127.0.0.2",
        "example.com.dom.bl.test A 100 127.0.0.3"}},
  };
  for (const auto& c : cases) {
    load_options opts;
    opts.rfc5782_test_points = c.test_points;
    std::vector<std::shared_ptr<const dataset>> sets;
    for (std::size_t i = 0; i < c.layers.size(); ++i) {
      sets.push_back(load_text(c.layers[i].type,
                               (i == 0 ? soa_lines : std::string("$TTL 100\n")) + c.layers[i].text,
                               opts));
    }
    const auto zs = one_zone("bl.test", sets);
    ASSERT_TRUE(zs) << c.what;
    const auto t = run_axfr(zs, "bl.test");
    ASSERT_EQ(t.error, "") << c.what;
    auto want = c.want;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(join(data_records(t)), join(want)) << c.what;
  }
}

TEST(transfer, soa_first_and_last_question_only_first) {
  const auto zs =
      one_zone("bl.test", {load_text(dataset_type::ip4set, std::string(soa_lines) + "1.2.3.4\n")});
  ASSERT_TRUE(zs);
  const auto t = run_axfr(zs, "BL.test", 16384, true);
  ASSERT_EQ(t.error, "");
  ASSERT_GE(t.records.size(), 3u);
  const std::string soa = "bl.test SOA 300 ns.bl.test hm.bl.test 7 3600 600 86400 60";
  EXPECT_EQ(t.records.front(), soa);
  EXPECT_EQ(t.records.back(), soa);
  EXPECT_EQ(t.records[1], "bl.test NS 300 ns.bl.test");
  ASSERT_EQ(t.messages.size(), 1u);
  EXPECT_EQ(t.messages[0].qname, "bl.test") << "the zone's name, so data names keep their case";
  EXPECT_EQ(t.messages[0].qtype, rt::axfr);
  EXPECT_TRUE(t.messages[0].hdr.has(dns::flag::aa));
  EXPECT_EQ(t.messages[0].additional.size(), 1u) << "OPT back to an EDNS query";
}

TEST(transfer, refusals) {
  const auto zs = one_zone("bl.test", {load_text(dataset_type::ip4set, "1.2.3.4\n")});
  const auto with_soa =
      one_zone("bl.test", {load_text(dataset_type::ip4set, std::string(soa_lines) + "1.2.3.4\n")});
  struct row {
    std::string what;
    std::shared_ptr<const zone_set> zones;
    std::string qname;
    std::string want;
  };
  const row rows[] = {
      {"no SOA", zs, "bl.test", "rcode 5"},
      {"below the apex", with_soa, "4.3.2.1.bl.test", "rcode 5"},
      {"outside every zone", with_soa, "other.test", "rcode 5"},
  };
  for (const auto& r : rows) {
    const auto t = run_axfr(r.zones, r.qname);
    EXPECT_EQ(t.error, r.want) << r.what;
  }
}

// Many records, small messages: every message fits, nothing is lost or repeated, the records
// are the same whatever the message size.
TEST(transfer, streams_in_bounded_messages) {
  std::string text = soa_lines;
  for (int i = 0; i < 3000; ++i) {
    text += "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1 :3:txt $\n";
  }
  const auto zs = one_zone("bl.test", {load_text(dataset_type::ip4set, text)});
  ASSERT_TRUE(zs);
  const auto big = run_axfr(zs, "bl.test", 65535);
  const auto small = run_axfr(zs, "bl.test", 512);
  ASSERT_EQ(big.error, "");
  ASSERT_EQ(small.error, "");
  EXPECT_EQ(big.records.size(), 2u + 1u + 2u * 3000u + 1u)
      << "SOA, NS, A+TXT each, the 127.0.0.2 test point, SOA";
  EXPECT_EQ(small.records, big.records);
  EXPECT_LE(small.largest, 512u);
  EXPECT_GT(small.messages.size(), 50u);
  const std::set<std::string> distinct(big.records.begin() + 1, big.records.end() - 1);
  EXPECT_EQ(distinct.size(), big.records.size() - 2) << "no record twice";
}

// Differential: every name of the transfer, asked of answer(), gives the same A records (for a
// wildcard, a full address below it: the wildcard filled with "7" labels).
void expect_same_answers(const std::shared_ptr<const zone_set>& zs, std::size_t full_labels,
                         const std::string& what) {
  const auto t = run_axfr(zs, "bl.test");
  ASSERT_EQ(t.error, "") << what;
  std::map<std::string, std::set<std::string>> by_owner;
  for (const auto& r : t.records) {
    const auto owner = r.substr(0, r.find(' '));
    if (r.find(" A ") != std::string::npos) by_owner[owner].insert(r.substr(r.rfind(' ') + 1));
  }
  ASSERT_GT(by_owner.size(), 10u) << what;
  for (const auto& [owner, addrs] : by_owner) {
    std::string name = owner;
    if (name.rfind("*.", 0) == 0) {
      name = name.substr(2);
      while (static_cast<std::size_t>(std::count(name.begin(), name.end(), '.')) - 1 <
             full_labels) {
        name = "7." + name;
      }
    }
    const auto d = ask(*zs, name);
    std::set<std::string> got;
    for (const auto& rr : d.answer) {
      if (rr.type == rt::a) got.insert(rr.data);
    }
    EXPECT_EQ(got, addrs) << what << ": name " << name << " (from " << owner << ")";
  }
}

TEST(transfer, names_answer_the_same) {
  const std::string v4 = std::string(soa_lines) +
                         ":4:v4 $\n10.0.0.0/14\n!10.1.0.0/16\n10.2.3.4 :5\n172.16.0.5-172.16.1.7\n"
                         "192.0.2.0/24\n!192.0.2.128/26\n127.0.0.0/29\n";
  const auto zs4 = one_zone(
      "bl.test", {load_text(dataset_type::ip4set, v4),
                  load_text(dataset_type::ip4trie, "$TTL 100\n10.0.0.0/9 :6\n!10.3.0.0/16\n")});
  ASSERT_TRUE(zs4);
  expect_same_answers(zs4, 4, "ip4set + ip4trie");
  const auto zs6 = one_zone(
      "bl.test",
      {load_text(dataset_type::ip6tset,
                 std::string(soa_lines) + "2001:db8:0:1\n!2001:db8:0:1::5\n2001:db8:0:2\n"),
       load_text(dataset_type::ip6trie, "2001:db8::/47 :3\n!2001:db8:0:1::/80\n::ffff:0:0/96\n")});
  ASSERT_TRUE(zs6);
  expect_same_answers(zs6, 32, "ip6tset + ip6trie");
}

}  // namespace
}  // namespace mx::dnsbl
