// Every dataset type and loader directive, checked through the answers the loaded data gives.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.hpp"

namespace mx::dnsbl {
namespace {

using namespace testing;
using dns::rr_type::a;
using dns::rr_type::any;
using dns::rr_type::txt;

struct probe {
  std::string name;  // relative to the zone bl.test
  std::uint16_t type;
  std::string want;  // summary()
};

struct loader_case {
  std::string what;
  dataset_type type;
  std::string text;
  std::vector<probe> probes;
  std::string want_warnings = {};  // "data:LINE: message\n"...
};

void run(const loader_case& c, const load_options& opts = {}) {
  const auto loaded = load_files(c.type, {{"data", c.text}}, opts);
  EXPECT_EQ(warnings_text(loaded), c.want_warnings) << c.what;
  ASSERT_TRUE(loaded.data) << c.what << ": " << warnings_text(loaded);
  const auto zs = one_zone("bl.test", {loaded.data});
  ASSERT_TRUE(zs) << c.what;
  for (const auto& p : c.probes) {
    const std::string qname = p.name.empty() ? "bl.test" : p.name + ".bl.test";
    EXPECT_EQ(summary(ask(*zs, qname, p.type)), p.want)
        << c.what << ": " << qname << " type " << p.type;
  }
}

TEST(loader, ip4set_table) {
  const loader_case cases[] = {
      {"addresses, CIDRs, ranges, partial octets",
       dataset_type::ip4set,
       "1.2.3.4\n10.0.0.0/8\n192.168.1.1-192.168.1.3\n172.16.5\n",
       {{"4.3.2.1", a, "NOERROR A:127.0.0.2"},
        {"5.3.2.1", a, "NXDOMAIN"},
        {"1.1.1.10", a, "NOERROR A:127.0.0.2"},
        {"255.255.255.10", a, "NOERROR A:127.0.0.2"},
        {"0.0.0.11", a, "NXDOMAIN"},
        {"3.1.168.192", a, "NOERROR A:127.0.0.2"},
        {"4.1.168.192", a, "NXDOMAIN"},
        {"0.1.168.192", a, "NXDOMAIN"},
        {"9.5.16.172", a, "NOERROR A:127.0.0.2"},
        {"9.6.16.172", a, "NXDOMAIN"},
        {"3.2.1", a, "NODATA"},  // empty non-terminal above 1.2.3.4
        {"2.1", a, "NODATA"},
        {"1", a, "NODATA"},
        {"3.2.2", a, "NXDOMAIN"},
        {"4.3.2.1", txt, "NODATA"},    // listed, but no TXT
        {"5.4.3.2.1", a, "NXDOMAIN"},  // five labels
        {"x.3.2.1", a, "NXDOMAIN"},
        {"04.3.2.1", a, "NOERROR A:127.0.0.2"}}},  // leading zeros read as rbldnsd reads them
      {"exclusions",
       dataset_type::ip4set,
       "10.0.0.0/8\n!10.1.0.0/16\n10.1.2.3\n",
       {{"1.1.0.10", a, "NOERROR A:127.0.0.2"},
        {"1.1.2.10", a, "NOERROR A:127.0.0.2"},
        {"1.0.1.10", a, "NXDOMAIN"},
        {"1.1.1.10", a, "NXDOMAIN"},
        {"3.2.1.10", a, "NOERROR A:127.0.0.2"},
        {"4.2.1.10", a, "NXDOMAIN"}}},
      {"default lines and entry values (rbldnsd(8))",
       dataset_type::ip4set,
       ":127.0.0.2:IP address $ is listed\n127.0.0.4\n127.0.0.5 :5\n127.0.0.6 :6:\n"
       "127.0.0.7 IP address $ running an open relay\n",
       {{"4.0.0.127", any, "NOERROR A:127.0.0.2 TXT:\"IP address 127.0.0.4 is listed\""},
        {"5.0.0.127", any, "NOERROR A:127.0.0.5 TXT:\"IP address 127.0.0.5 is listed\""},
        {"6.0.0.127", any, "NOERROR A:127.0.0.6"},
        {"6.0.0.127", txt, "NODATA"},
        {"7.0.0.127", any,
         "NOERROR A:127.0.0.2 TXT:\"IP address 127.0.0.7 running an open relay\""},
        {"7.0.0.127", txt, "NOERROR TXT:\"IP address 127.0.0.7 running an open relay\""}}},
      {"$n variables (rbldnsd(8))",
       dataset_type::ip4set,
       "$1 See http://www.example.com/bl\n$2 for details\n127.0.0.2  $1/spammer/$ $2\n"
       "127.0.0.3  $1/relay/$ $2\n127.0.0.4  This spammer wants some $$$$.  $1/$\n"
       "$1 ignored: the first definition wins\n",
       {{"2.0.0.127", txt,
         "NOERROR TXT:\"See http://www.example.com/bl/spammer/127.0.0.2 for details\""},
        {"3.0.0.127", txt,
         "NOERROR TXT:\"See http://www.example.com/bl/relay/127.0.0.3 for details\""},
        {"4.0.0.127", txt,
         "NOERROR TXT:\"This spammer wants some $$.  See http://www.example.com/bl/127.0.0.4\""}}},
      {"$= base template (rbldnsd(8))",
       dataset_type::ip4set,
       "$= See http://www.example.com/bl?$= ($) for details\n127.0.0.2    r123\n127.0.0.3\n"
       "127.0.0.4    =See other blocklists for details about $\n",
       {{"2.0.0.127", txt,
         "NOERROR TXT:\"See http://www.example.com/bl?r123 (127.0.0.2) for details\""},
        {"3.0.0.127", txt,
         "NOERROR TXT:\"See http://www.example.com/bl?127.0.0.3 (127.0.0.3) for details\""},
        {"4.0.0.127", txt, "NOERROR TXT:\"See other blocklists for details about 127.0.0.4\""}}},
      {"more specific octet boundary wins",
       dataset_type::ip4set,
       "10.0.0.0/8 :3:eight\n10.1.0.0/16 :4:sixteen\n10.1.2.0/24 :5:twenty-four\n"
       "10.1.2.3 :6:thirty-two\n",
       {{"3.2.1.10", any, "NOERROR A:127.0.0.6 TXT:\"thirty-two\""},
        {"4.2.1.10", any, "NOERROR A:127.0.0.5 TXT:\"twenty-four\""},
        {"1.3.1.10", any, "NOERROR A:127.0.0.4 TXT:\"sixteen\""},
        {"1.1.2.10", any, "NOERROR A:127.0.0.3 TXT:\"eight\""}}},
      {"one address listed twice: two records",
       dataset_type::ip4set,
       "1.2.3.4 :2:first\n1.2.3.4 :3:second\n1.2.3.4 :2:first\n",
       {{"4.3.2.1", any, "NOERROR A:127.0.0.2 A:127.0.0.3 TXT:\"first\" TXT:\"second\""}}},
      {"exclusion beats a value at the same boundary",
       dataset_type::ip4set,
       "1.2.3.4\n!1.2.3.4\n",
       {{"4.3.2.1", a, "NXDOMAIN"}}},
      {"rbldnsd boundaries, not prefix lengths: /20 and !/17 are both /24 entries",
       dataset_type::ip4set,
       "10.0.0.0/20\n!10.0.0.0/17\n",
       {{"1.0.0.10", a, "NXDOMAIN"}, {"1.0.16.10", a, "NXDOMAIN"}}},
      {"range split on octet boundaries",
       dataset_type::ip4set,
       "10.0.0.250-10.0.2.5\n",
       {{"249.0.0.10", a, "NXDOMAIN"},
        {"250.0.0.10", a, "NOERROR A:127.0.0.2"},
        {"7.1.0.10", a, "NOERROR A:127.0.0.2"},
        {"5.2.0.10", a, "NOERROR A:127.0.0.2"},
        {"6.2.0.10", a, "NXDOMAIN"}}},
      {"bad lines warn with source:line, the rest loads",
       dataset_type::ip4set,
       "1.2.3.4\nnot-an-ip\n10.0.0.1/8\n1.2.3.5 :x:bad\n127\n5.6.7.8\n1.2.3.6 :3 junk\n"
       "1.2.3.7x\n" +
           std::string("1.2.3.8 ") + std::string(300, 't') + "\n",
       {{"4.3.2.1", a, "NOERROR A:127.0.0.2"},
        {"8.7.6.5", a, "NOERROR A:127.0.0.2"},
        {"5.3.2.1", a, "NXDOMAIN"},
        {"1.0.0.10", a, "NXDOMAIN"},
        {"8.3.2.1", a, "NOERROR A:127.0.0.2"}},
       "data:2: invalid address\ndata:3: invalid range (non-zero host part)\n"
       "data:4: invalid A RR\ndata:5: invalid address\ndata:7: unrecognized value for an entry\n"
       "data:8: invalid address\ndata:9: TXT RR truncated to 255 bytes\n"},
      {"$MAXRANGE4 limits ranges and may only shrink",
       dataset_type::ip4set,
       "$MAXRANGE4 /24\n10.0.0.0/16\n10.1.1.0/24\n$MAXRANGE4 65536\n10.2.0.0/16\n"
       "$MAXRANGE4 16\n10.3.3.0/28\n10.3.4.0/27\n",
       {{"1.0.0.10", a, "NXDOMAIN"},
        {"1.1.1.10", a, "NOERROR A:127.0.0.2"},
        {"1.0.2.10", a, "NXDOMAIN"},
        {"1.3.3.10", a, "NOERROR A:127.0.0.2"},
        {"1.4.3.10", a, "NXDOMAIN"}},
       "data:2: too large range (65536) ignored (256 max)\n"
       "data:4: ignoring attempt to increase $MAXRANGE4 from 256 to 65536\n"
       "data:5: too large range (65536) ignored (256 max)\n"
       "data:8: too large range (32) ignored (16 max)\n"},
      {"comments and special-line spellings",
       dataset_type::ip4set,
       "# a comment\n; another\n  \t\n1.2.3.4 # trailing comment, default value\n"
       "#$1 from a hash line\n:$2 from a colon line\n;$3 from a semicolon line\n"
       "1.2.3.5 $1 $2 $3\n$FOO bar\n$TTL\n\r\n1.2.3.6\r\n",
       {{"4.3.2.1", any, "NOERROR A:127.0.0.2"},
        {"5.3.2.1", txt,
         "NOERROR TXT:\"from a hash line from a colon line from a semicolon line\""},
        {"6.3.2.1", a, "NOERROR A:127.0.0.2"}},
       "data:9: invalid or unrecognized special entry\n"
       "data:10: invalid or unrecognized special entry\n"},
  };
  for (const auto& c : cases) run(c);
}

TEST(loader, host_bits_option) {
  load_options opts;
  opts.accept_host_bits = true;
  run({"-e: host bits are cleared",
       dataset_type::ip4set,
       "10.0.0.1/8\n",
       {{"1.1.1.10", a, "NOERROR A:127.0.0.2"}}},
      opts);
}

TEST(loader, ip4tset_table) {
  const loader_case cases[] = {
      {"one value for all, first default only",
       dataset_type::ip4tset,
       ":3:Listed $\n1.2.3.4\n1.2.3.5 text here is ignored\n:4:second default ignored\n"
       "!1.2.3.6\n10.0.0.0/8\n1.2.3\n1.2.3.4\n",
       {{"4.3.2.1", any, "NOERROR A:127.0.0.3 TXT:\"Listed 1.2.3.4\""},
        {"5.3.2.1", any, "NOERROR A:127.0.0.3 TXT:\"Listed 1.2.3.5\""},
        {"6.3.2.1", a, "NXDOMAIN"},
        {"3.2.1", a, "NODATA"},
        {"1.1.1.10", a, "NXDOMAIN"}},
       "data:5: invalid address\ndata:6: invalid address\ndata:7: invalid address\n"},
      {"no default: 127.0.0.2, no TXT",
       dataset_type::ip4tset,
       "1.2.3.4\n",
       {{"4.3.2.1", any, "NOERROR A:127.0.0.2"}}},
  };
  for (const auto& c : cases) run(c);
}

TEST(loader, large_ip4tset_uses_its_index) {
  // Over 65536 addresses (the bucket index threshold): every third /32 of 10.0.0.0/12.
  std::string text;
  for (std::uint32_t i = 0; i < 300000; i += 3) {
    const std::uint32_t a = 0x0A000000u + i;
    text += "10." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) + "." +
            std::to_string(a & 255) + "\n";
  }
  const auto ds = load_text(dataset_type::ip4tset, text);
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->entry_count(), 100000u);
  const auto zs = one_zone("bl.test", {ds});
  for (std::uint32_t i = 0; i < 300010; i += 997) {
    const std::uint32_t a = 0x0A000000u + i;
    const std::string name = std::to_string(a & 255) + "." + std::to_string((a >> 8) & 255) + "." +
                             std::to_string((a >> 16) & 255) + ".10.bl.test";
    const std::string want = (i % 3 == 0 && i < 300000) ? "NOERROR A:127.0.0.2" : "NXDOMAIN";
    EXPECT_EQ(summary(ask(*zs, name)), want) << name;
  }
}

TEST(loader, ip4trie_table) {
  const loader_case cases[] = {
      {"longest prefix, exclusions, duplicates",
       dataset_type::ip4trie,
       ":2:default\n10.0.0.0/8 :3:eight\n10.0.0.0/9 :4:nine\n!10.0.0.0/24\n10.0.0.7\n"
       "10.0.0.0/8 :5:again\n10.0.0.1-5\n10.0.0.1/24\n10\n",
       {{"1.0.128.10", any, "NOERROR A:127.0.0.3 TXT:\"eight\""},
        {"1.0.1.10", any, "NOERROR A:127.0.0.4 TXT:\"nine\""},
        {"1.0.0.10", a, "NXDOMAIN"},
        {"7.0.0.10", any, "NOERROR A:127.0.0.2 TXT:\"default\""},
        {"0.0.10", a, "NODATA"}},
       "data:6: duplicated entry for 10.0.0.0/8\ndata:7: invalid address\n"
       "data:8: invalid range (non-zero host part)\ndata:9: invalid address\n"},
      {"trie prefixes are exact: /20 inside !/17 stays listed",
       dataset_type::ip4trie,
       "10.0.0.0/20\n!10.0.0.0/17\n",
       {{"1.0.0.10", a, "NOERROR A:127.0.0.2"}, {"1.0.16.10", a, "NXDOMAIN"}}},
      {"/0 is allowed in a trie",
       dataset_type::ip4trie,
       "0/0\n!10/8\n",
       {{"1.1.1.1", a, "NOERROR A:127.0.0.2"}, {"1.1.1.10", a, "NXDOMAIN"}}},
  };
  for (const auto& c : cases) run(c);
}

TEST(loader, ip6_table) {
  const std::string man_example =
      "# Default A and TXT template valuse\n"
      ":127.0.1.2: Listed, see http://example.com/lookup?$\n"
      "# A listing, note that trailing :0s can be omitted\n"
      "2001:21ab:c000/36\n"
      "# /64 range with non-default A and TXT values\n"
      "2001:21ab:def7:4242 :127.0.1.3: This one smells funny\n"
      "# compressed notation\n"
      "2605:6001:42::/52\n"
      "::1\t\t       # localhost\n"
      "!2605:6001:42::bead   # exclusion\n"
      "2001:db8::1/64\n"
      "bogus\n";
  const loader_case cases[] = {
      {"ip6trie, rbldnsd(8) example",
       dataset_type::ip6trie,
       man_example,
       {{nibble_name("2001:21ab:c000::1"), any,
         "NOERROR A:127.0.1.2 TXT:\"Listed, see http://example.com/lookup?2001:21ab:c000::1\""},
        {nibble_name("2001:21ab:cfff:ffff::"), a, "NOERROR A:127.0.1.2"},
        {nibble_name("2001:21ab:d000::"), a, "NXDOMAIN"},
        {nibble_name("2001:21ab:def7:4242:1:2:3:4"), any,
         "NOERROR A:127.0.1.3 TXT:\"This one smells funny\""},
        {nibble_name("2605:6001:42::bead"), a, "NXDOMAIN"},
        {nibble_name("2605:6001:42::beae"), a, "NOERROR A:127.0.1.2"},
        {nibble_name("::1"), a, "NOERROR A:127.0.1.2"},
        {nibble_prefix("2001:21ab:def7:4242::", 16), a, "NODATA"},
        {nibble_prefix("2001:21ab:def7:4243::", 16), a, "NXDOMAIN"},
        {"1.0.0.0", a, "NXDOMAIN"}},
       "data:11: invalid range (non-zero host part)\ndata:12: invalid address\n"},
      {"ip6tset",
       dataset_type::ip6tset,
       ":3:v6 $\n2001:20fe:23:41ed\nabac:adab:ad00:42f\n!abac:adab:ad00:42f:face:0f:a:beef\n"
       "!abac:adab:ad00:42f::2\n2001:db8::/64\n2001:db8:1:2:3\n!2001:db8:1:2\n",
       {{nibble_name("2001:20fe:23:41ed::1"), any,
         "NOERROR A:127.0.0.3 TXT:\"v6 2001:20fe:23:41ed::1\""},
        {nibble_name("abac:adab:ad00:42f:face:f:a:beef"), a, "NXDOMAIN"},
        {nibble_name("abac:adab:ad00:42f::2"), a, "NXDOMAIN"},
        {nibble_name("abac:adab:ad00:42f::3"), a, "NOERROR A:127.0.0.3"},
        {nibble_name("2001:20fe:23:41ee::"), a, "NXDOMAIN"},
        {nibble_prefix("2001:20fe::", 8), a, "NODATA"},
        {nibble_prefix("abac:adab:ad00:42f::2", 31), a, "NODATA"}},
       "data:6: invalid address\ndata:7: invalid address for regular entry (should be 64 bits)\n"
       "data:8: invalid address for exclusion (should be 128 bits)\n"},
  };
  for (const auto& c : cases) run(c);
}

TEST(loader, dnset_table) {
  const loader_case cases[] = {
      {"names, wildcards, exclusions",
       dataset_type::dnset,
       ":2:Domain $ listed\nexample.com\n*.wild.example\n.both.example\n"
       "!excluded.both.example\n!*.no.both.example\nspam.example :3:Special $\n"
       "spam.example :4:\nUPPER.Example\n*.\n.\n!\nbad..name\n",
       {{"example.com", any, "NOERROR A:127.0.0.2 TXT:\"Domain example.com listed\""},
        {"EXAMPLE.Com", any, "NOERROR A:127.0.0.2 TXT:\"Domain example.com listed\""},
        {"www.example.com", a, "NXDOMAIN"},
        {"com", a, "NODATA"},
        {"wild.example", a, "NODATA"},  // "*.wild.example" makes it exist, unlisted
        {"a.wild.example", any, "NOERROR A:127.0.0.2 TXT:\"Domain wild.example listed\""},
        {"b.a.wild.example", a, "NOERROR A:127.0.0.2"},
        {"both.example", a, "NOERROR A:127.0.0.2"},
        {"x.both.example", txt, "NOERROR TXT:\"Domain both.example listed\""},
        // Excluded itself, but "*.both.example" still lists the names below it: NODATA.
        {"excluded.both.example", a, "NODATA"},
        {"a.excluded.both.example", a, "NOERROR A:127.0.0.2"},
        {"no.both.example", a, "NOERROR A:127.0.0.2"},
        {"x.no.both.example", a, "NXDOMAIN"},
        {"spam.example", any, "NOERROR A:127.0.0.3 A:127.0.0.4 TXT:\"Special spam.example\""},
        {"upper.example", a, "NOERROR A:127.0.0.2"},
        {"example", a, "NODATA"}},
       "data:10: invalid domain name\ndata:11: invalid domain name\n"
       "data:12: invalid domain name\ndata:13: invalid domain name\n"},
  };
  for (const auto& c : cases) run(c);
}

TEST(loader, combined_table) {
  const loader_case cases[] = {
      {"rbldnsd(8) example, with a nested subzone",
       dataset_type::combined,
       "# common section\n"
       "$NS 1w ns1.ex.com ns2.ex.com\n"
       "$SOA 1w ns1.ex.com admin.ex.com 0 2h 2h 1w 1h\n"
       "$DATASET ip4set:proxy proxies @\n"
       ":2:Open proxy, see http://bl.ex.com/proxy/$\n"
       "127.0.0.10\n"
       "$DATASET ip4set:relay relays @\n"
       ":3:Open relay, see http://bl.ex.com/relay/$\n"
       "127.0.2.10\n"
       "$DATASET ip4set:multihop-relay multihop # a comment\n"
       ":4:Multihop open relay, see http://bl.ex.com/relay/$\n"
       "127.0.9.12\n"
       "$DATASET dnset deep.sub\n"
       "example.org\n",
       {{"10.0.0.127.proxies", any,
         "NOERROR A:127.0.0.2 TXT:\"Open proxy, see http://bl.ex.com/proxy/127.0.0.10\""},
        {"10.0.0.127", a, "NOERROR A:127.0.0.2"},
        {"10.2.0.127", a, "NOERROR A:127.0.0.3"},
        {"10.2.0.127.relays", a, "NOERROR A:127.0.0.3"},
        {"10.2.0.127.proxies", a, "NXDOMAIN"},
        {"12.9.0.127.multihop", a, "NOERROR A:127.0.0.4"},
        {"12.9.0.127", a, "NXDOMAIN"},
        {"2.0.0.127.multihop", a, "NOERROR A:127.0.0.4"},  // RFC 5782 test point, set's default
        {"2.0.0.127", a, "NOERROR A:127.0.0.2 A:127.0.0.3"},
        {"proxies", a, "NODATA"},
        {"sub", a, "NODATA"},
        {"deep.sub", a, "NODATA"},
        {"example.org.deep.sub", a, "NOERROR A:127.0.0.2"},
        {"", dns::rr_type::ns, "NOERROR NS:ns1.ex.com NS:ns2.ex.com"}}},
      {"lines before $DATASET, bad sections",
       dataset_type::combined,
       "1.2.3.4\n$DATASET ip4set\n5.6.7.8\n$DATASET ip4set @ bad..zone\n1.2.3.4\n$DATASET "
       "dnset:x\n",
       {{"4.3.2.1", a, "NOERROR A:127.0.0.2"}, {"8.7.6.5", a, "NXDOMAIN"}},
       "data:1: invalid/unrecognized entry - specify $DATASET line\n"
       "data:2: no subzone(s) specified for dataset, data will be ignored\n"
       "data:4: invalid domain name `bad..zone'\n"
       "data:6: no subzone(s) specified for dataset, data will be ignored\n"},
      {"$TTL and variables are inherited by later sections",
       dataset_type::combined,
       "$1 shared\n$DATASET ip4set @\n$2 own\n1.2.3.4 $1 $2\n$DATASET dnset @\nx.example $1 $2\n",
       {{"4.3.2.1", txt, "NOERROR TXT:\"shared own\""},
        {"x.example", txt, "NOERROR TXT:\"shared $2\""}}},
  };
  for (const auto& c : cases) run(c);
}

struct failing_case {
  std::string what;
  dataset_type type;
  std::string text;
  std::string want_error;
};

TEST(loader, load_errors_table) {
  load_options opts;
  opts.now = 1700000000;  // 2023-11-14
  const failing_case cases[] = {
      {"timestamp in the future", dataset_type::ip4set, "1.2.3.4\n$TIMESTAMP 2030:01:01\n",
       "data:2: data timestamp is 193456000 sec in the future, aborting loading"},
      {"unknown section type", dataset_type::combined, "$DATASET bogus @\n",
       "data:1: unknown dataset type `bogus'"},
      {"nested combined", dataset_type::combined, "$DATASET combined @\n",
       "data:1: dataset type `combined' cannot be used inside `combined'"},
  };
  for (const auto& c : cases) {
    const std::vector<source_text> src = {{"data", c.text, 0}};
    const auto got = load_dataset(c.type, src, opts);
    ASSERT_FALSE(got.has_value()) << c.what << ": loaded, want error " << c.want_error;
    EXPECT_EQ(to_string(got.error()), c.want_error) << c.what;
  }
}

TEST(loader, timestamp_expiry) {
  load_options opts;
  opts.now = 1700000000;
  const std::vector<source_text> src = {{"a", "$TIMESTAMP 2023:01:01 +30d\n1.2.3.4\n", 0},
                                        {"b", "$TIMESTAMP 2023:01:01 2023:06:01\n", 0}};
  const auto got = load_dataset(dataset_type::ip4set, src, opts);
  ASSERT_TRUE(got.has_value()) << to_string(got.error());
  EXPECT_EQ(got->data->timestamp, 1672531200);
  EXPECT_EQ(got->data->expires, 1672531200 + 30 * 86400);  // the earlier expiry wins
  const auto zs = one_zone("bl.test", {got->data});
  ASSERT_TRUE(zs);
  answer_options before;
  before.now = 1672531200 + 86400;
  answer_options after;
  after.now = 1700000000;
  EXPECT_EQ(summary(ask(*zs, "4.3.2.1.bl.test", a, before)), "NOERROR A:127.0.0.2");
  EXPECT_EQ(summary(ask(*zs, "4.3.2.1.bl.test", a, after)), "NXDOMAIN");
}

// dataset_loader (what load_dataset_files streams through) gives the same dataset whatever the
// split of the text into pieces: lines cut anywhere, CRLF, no final newline, several files.
TEST(loader, streaming_matches_whole_text) {
  struct stream_case {
    std::string what;
    dataset_type type;
    std::vector<std::string> files;
    std::vector<std::string> names;  // asked of both
  };
  const stream_case cases[] = {
      {"ip4set with values, comments, a bad line, no final newline",
       dataset_type::ip4set,
       {"$SOA 1h ns.bl.test hm.bl.test 1 1h 1h 1w 1h\n:3:txt $\n# c\n1.2.3.4\nbad\n10.0.0.0/8 :5\n"
        "!10.1.2.3",
        "5.6.7.8\r\n:4\n9.9.9.9"},
       {"4.3.2.1.bl.test", "8.7.6.5.bl.test", "3.2.1.10.bl.test", "4.2.1.10.bl.test",
        "9.9.9.9.bl.test", "bl.test"}},
      {"ip4tset",
       dataset_type::ip4tset,
       {":6:t\n1.2.3.4\n5.6.7.8\n1.2.3.4\n"},
       {"4.3.2.1.bl.test", "8.7.6.5.bl.test", "7.6.5.bl.test", "9.9.9.9.bl.test"}},
      {"dnset and a long line",
       dataset_type::dnset,
       {"example.com :2:" + std::string(300, 'x') + "\n*.wild.test\n"},
       {"example.com.bl.test", "a.wild.test.bl.test", "wild.test.bl.test"}},
  };
  for (const auto& c : cases) {
    std::vector<source_text> sources;
    for (std::size_t i = 0; i < c.files.size(); ++i) {
      sources.push_back({"f" + std::to_string(i), c.files[i], 0});
    }
    const auto whole = load_dataset(c.type, sources);
    ASSERT_TRUE(whole.has_value()) << c.what;
    const auto zs_whole = one_zone("bl.test", {whole->data});
    for (const std::size_t piece :
         {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{64}}) {
      dataset_loader l(c.type);
      for (const auto& src : sources) {
        l.begin_source(src.name, src.mtime);
        for (std::size_t at = 0; at < src.text.size(); at += piece) {
          ASSERT_TRUE(l.feed(std::string_view(src.text).substr(at, piece))) << c.what;
        }
        ASSERT_TRUE(l.end_source()) << c.what;
      }
      const auto streamed = l.finish();
      ASSERT_TRUE(streamed.has_value()) << c.what << " piece " << piece;
      EXPECT_EQ(streamed->warning_count, whole->warning_count) << c.what << " piece " << piece;
      for (std::size_t w = 0; w < whole->warnings.size() && w < streamed->warnings.size(); ++w) {
        EXPECT_EQ(to_string(streamed->warnings[w]), to_string(whole->warnings[w]))
            << c.what << " piece " << piece;
      }
      EXPECT_EQ(streamed->data->entry_count(), whole->data->entry_count()) << c.what;
      const auto zs = one_zone("bl.test", {streamed->data});
      for (const auto& name : c.names) {
        for (const auto type : {dns::rr_type::a, dns::rr_type::txt, dns::rr_type::soa}) {
          EXPECT_EQ(summary(ask(*zs, name, type)), summary(ask(*zs_whole, name, type)))
              << c.what << ": " << name << " piece " << piece;
        }
      }
    }
  }
}

TEST(loader, default_value_is_per_file) {
  // rbldnsd resets the default A+TXT at the start of each file of a dataset.
  const auto loaded =
      load_files(dataset_type::ip4set, {{"one", ":3:first file\n1.2.3.4\n"}, {"two", "5.6.7.8\n"}});
  ASSERT_TRUE(loaded.data) << warnings_text(loaded);
  const auto zs = one_zone("bl.test", {loaded.data});
  EXPECT_EQ(summary(ask(*zs, "4.3.2.1.bl.test", any)), "NOERROR A:127.0.0.3 TXT:\"first file\"");
  EXPECT_EQ(summary(ask(*zs, "8.7.6.5.bl.test", any)), "NOERROR A:127.0.0.2");
}

TEST(loader, warnings_are_capped_but_counted) {
  load_options opts;
  opts.max_warnings = 3;
  std::string text;
  for (int i = 0; i < 10; ++i) text += "bad\n";
  const std::vector<source_text> src = {{"f", text, 0}};
  const auto got = load_dataset(dataset_type::ip4set, src, opts);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->warnings.size(), 3u);
  EXPECT_EQ(got->warning_count, 10u);
  EXPECT_EQ(to_string(got->warnings[2]), "f:3: invalid address");
}

struct spec_case {
  std::string input;
  std::string want;  // "zone|type|file,file" or "error: ..."
};

TEST(loader, zone_arg_table) {
  const spec_case cases[] = {
      {"bl.example.test:ip4set:a.txt,b.txt", "bl.example.test|ip4set|a.txt,b.txt,"},
      {"bl.example.test:dnset:a.txt:b.txt", "bl.example.test|dnset|a.txt,b.txt,"},
      {"bl.example.test:combined:x", "bl.example.test|combined|x,"},
      {"bl.example.test:ip4set:", "error: missing file names for ip4set"},
      {"bl.example.test:generic:x", "error: unknown dataset type `generic'"},
      {"bl.example.test:ip4set", "error: invalid dataset specification `ip4set'"},
      {":ip4set:x", "error: invalid zone spec `:ip4set:x'"},
      {"bad..zone:ip4set:x", "error: invalid domain name `bad..zone'"},
  };
  for (const auto& c : cases) {
    const auto got = parse_zone_arg(c.input);
    std::string show;
    if (got) {
      show = got->zone + "|" + std::string(name_of(got->spec.type)) + "|";
      for (const auto& f : got->spec.files) show += f + ",";
    } else {
      show = "error: " + got.error();
    }
    EXPECT_EQ(show, c.want) << "input: " << c.input;
  }
}

}  // namespace
}  // namespace mx::dnsbl
