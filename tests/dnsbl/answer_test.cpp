// answer(): the DNS behaviour of the DNSBL server, as a table of queries and whole responses.
#include "dnsbl/answer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.hpp"

namespace mx::dnsbl {
namespace {

using namespace testing;
using dns::testing::build_query;
namespace rt = dns::rr_type;

std::string type_name(std::uint16_t t) {
  switch (t) {
    case rt::a:
      return "A";
    case rt::ns:
      return "NS";
    case rt::soa:
      return "SOA";
    case rt::txt:
      return "TXT";
    case rt::opt:
      return "OPT";
    default:
      return std::to_string(t);
  }
}

std::string records(const std::vector<dns::testing::decoded_rr>& rrs) {
  std::string out = "[";
  for (std::size_t i = 0; i < rrs.size(); ++i) {
    const auto& rr = rrs[i];
    if (i > 0) out += "; ";
    out += rr.owner + " " + type_name(rr.type) + " ";
    out += rr.type == rt::opt ? "ttl=" + std::to_string(rr.ttl) : std::to_string(rr.ttl);
    out += " " + rr.data;
  }
  return out + "]";
}

// The whole response on one line.
std::string describe(const decoded& d) {
  if (!d.ok) return "ERROR " + d.error;
  std::string out;
  const auto f = d.hdr.flags;
  out += (f & dns::flag::qr) ? "qr" : "--";
  out += (f & dns::flag::aa) ? " aa" : "";
  out += (f & dns::flag::tc) ? " tc" : "";
  out += (f & dns::flag::rd) ? " rd" : "";
  out += (f & dns::flag::ra) ? " ra" : "";
  out += (f & dns::flag::cd) ? " cd" : "";
  out += " " + rcode_name(d.rcode());
  if (d.hdr.qdcount) out += " q=" + d.qname + "/" + type_name(d.qtype);
  out += " an=" + records(d.answer);
  out += " ns=" + records(d.authority);
  out += " ar=" + records(d.additional);
  return out;
}

std::shared_ptr<const zone_set> test_zones() {
  std::vector<source_text> s1 = {{"one",
                                  "$SOA 1h ns1.bl.test hostmaster.bl.test 0 2h 1h 1w 5m\n"
                                  "$NS 1d ns1.bl.test ns2.bl.test\n"
                                  "$TTL 10m\n"
                                  ":2:Listed $\n"
                                  "1.2.3.4\n"
                                  "10.0.0.0/8 :3:Range $\n"
                                  "!10.1.0.0/16\n"
                                  "127.0.0.0/8 :4:loopback\n"
                                  "192.0.2.1 :2:" +
                                      std::string(200, 'a') +
                                      "\n192.0.2.1 :2:" + std::string(200, 'b') +
                                      "\n192.0.2.1 :2:" + std::string(200, 'c') + "\n",
                                  1700000000}};
  std::vector<source_text> s2 = {{"two", "$TTL 5m\n:5:trap\n1.2.3.4\n5.6.7.8\n", 0}};
  std::vector<source_text> s3 = {{"three", "2001:db8::/32 :6:v6 $\n", 0}};
  std::vector<source_text> s4 = {
      {"four", "$SOA 0 ns.dbl.test hm.dbl.test 7 1h 1h 1w 1h\nexample.com :2:domain $\n", 0}};
  std::vector<source_text> s5 = {{"five", "1.2.3.4\n", 0}};
  auto d1 = load_dataset(dataset_type::ip4set, s1);
  auto d2 = load_dataset(dataset_type::ip4tset, s2);
  auto d3 = load_dataset(dataset_type::ip6trie, s3);
  auto d4 = load_dataset(dataset_type::dnset, s4);
  auto d5 = load_dataset(dataset_type::ip4set, s5);
  if (!d1 || !d2 || !d3 || !d4 || !d5) return nullptr;
  auto zs =
      zone_set::build({zone_config{"bl.test", {d1->data, d2->data, d3->data}},
                       zone_config{"dbl.test", {d4->data}}, zone_config{"nosoa.test", {d5->data}}});
  return zs ? *zs : nullptr;
}

struct answer_case {
  std::string what;
  std::vector<std::uint8_t> query;
  std::string want;
  outcome want_outcome = outcome::listed;
  answer_options opts = {};
};

std::vector<std::uint8_t> q(const std::string& name, std::uint16_t type = rt::a) {
  return build_query(query_spec().with_name(name).with_type(type));
}

TEST(answer, table) {
  const auto zs = test_zones();
  ASSERT_TRUE(zs);
  const std::string soa_bl =
      "bl.test SOA 300 ns1.bl.test hostmaster.bl.test 1700000000 7200 3600 "
      "604800 300";
  answer_options tcp;
  tcp.via = transport::tcp;

  auto cd_query = q("4.3.2.1.bl.test");
  cd_query[3] |= 0x10;  // CD
  auto no_rd = build_query(query_spec().with_name("4.3.2.1.bl.test").with_flags(0));

  const answer_case cases[] = {
      {"listed in two stacked sets: two A, smallest TTL", q("4.3.2.1.bl.test"),
       "qr aa rd NOERROR q=4.3.2.1.bl.test/A an=[4.3.2.1.bl.test A 300 127.0.0.2; 4.3.2.1.bl.test "
       "A 300 127.0.0.5] ns=[] ar=[]"},
      {"TXT from two sets", q("4.3.2.1.bl.test", rt::txt),
       "qr aa rd NOERROR q=4.3.2.1.bl.test/TXT an=[4.3.2.1.bl.test TXT 300 \"Listed 1.2.3.4\"; "
       "4.3.2.1.bl.test TXT 300 \"trap\"] ns=[] ar=[]"},
      {"ANY gets A and TXT", q("8.7.6.5.bl.test", rt::any),
       "qr aa rd NOERROR q=8.7.6.5.bl.test/255 an=[8.7.6.5.bl.test A 300 127.0.0.5; "
       "8.7.6.5.bl.test TXT 300 \"trap\"] ns=[] ar=[]"},
      {"one set, its own TTL", q("9.9.9.10.bl.test"),
       "qr aa rd NOERROR q=9.9.9.10.bl.test/A an=[9.9.9.10.bl.test A 600 127.0.0.3] ns=[] ar=[]"},
      {"case echoed as sent (0x20)", q("4.3.2.1.bL.TeSt"),
       "qr aa rd NOERROR q=4.3.2.1.bL.TeSt/A an=[4.3.2.1.bL.TeSt A 300 127.0.0.2; 4.3.2.1.bL.TeSt "
       "A 300 127.0.0.5] ns=[] ar=[]"},
      {"not listed: NXDOMAIN, SOA with the negative TTL", q("5.3.2.1.bl.test"),
       "qr aa rd NXDOMAIN q=5.3.2.1.bl.test/A an=[] ns=[" + soa_bl + "] ar=[]",
       outcome::not_listed},
      {"names compress onto the question, whose case they take", q("5.3.2.1.BL.TEST"),
       "qr aa rd NXDOMAIN q=5.3.2.1.BL.TEST/A an=[] ns=[BL.TEST SOA 300 ns1.BL.TEST "
       "hostmaster.BL.TEST 1700000000 7200 3600 604800 300] ar=[]",
       outcome::not_listed},
      {"excluded", q("1.1.1.10.bl.test"),
       "qr aa rd NXDOMAIN q=1.1.1.10.bl.test/A an=[] ns=[" + soa_bl + "] ar=[]",
       outcome::not_listed},
      {"empty non-terminal: NODATA", q("3.2.1.bl.test"),
       "qr aa rd NOERROR q=3.2.1.bl.test/A an=[] ns=[" + soa_bl + "] ar=[]", outcome::nodata},
      {"listed, no such type: NODATA", q("4.3.2.1.bl.test", rt::aaaa),
       "qr aa rd NOERROR q=4.3.2.1.bl.test/28 an=[] ns=[" + soa_bl + "] ar=[]"},
      {"RFC 5782: 127.0.0.2 listed", q("2.0.0.127.bl.test"),
       "qr aa rd NOERROR q=2.0.0.127.bl.test/A an=[2.0.0.127.bl.test A 300 127.0.0.4; "
       "2.0.0.127.bl.test A 300 127.0.0.5] ns=[] ar=[]"},
      {"RFC 5782: 127.0.0.1 never, even inside a listed /8", q("1.0.0.127.bl.test"),
       "qr aa rd NXDOMAIN q=1.0.0.127.bl.test/A an=[] ns=[" + soa_bl + "] ar=[]",
       outcome::not_listed},
      {"RFC 5782: ::ffff:7f00:2 (mapped, looked up as IPv4, and in the IPv6 set)",
       q(nibble_name("::ffff:127.0.0.2") + ".bl.test"),
       "qr aa rd NOERROR q=" + nibble_name("::ffff:127.0.0.2") + ".bl.test/A an=[" +
           nibble_name("::ffff:127.0.0.2") + ".bl.test A 300 127.0.0.4; " +
           nibble_name("::ffff:127.0.0.2") + ".bl.test A 300 127.0.0.5; " +
           nibble_name("::ffff:127.0.0.2") + ".bl.test A 300 127.0.0.2] ns=[] ar=[]"},
      {"RFC 5782: ::ffff:7f00:1 never", q(nibble_name("::ffff:127.0.0.1") + ".bl.test"),
       "qr aa rd NXDOMAIN q=" + nibble_name("::ffff:127.0.0.1") + ".bl.test/A an=[] ns=[" + soa_bl +
           "] ar=[]",
       outcome::not_listed},
      {"IPv4-mapped name, TXT subject is the IPv4 address",
       q(nibble_name("::ffff:10.9.9.9") + ".bl.test", rt::txt),
       "qr aa rd NOERROR q=" + nibble_name("::ffff:10.9.9.9") + ".bl.test/TXT an=[" +
           nibble_name("::ffff:10.9.9.9") + ".bl.test TXT 600 \"Range 10.9.9.9\"] ns=[] ar=[]"},
      {"IPv6 nibble name", q(nibble_name("2001:db8::7") + ".bl.test", rt::txt),
       "qr aa rd NOERROR q=" + nibble_name("2001:db8::7") + ".bl.test/TXT an=[" +
           nibble_name("2001:db8::7") + ".bl.test TXT 2100 \"v6 2001:db8::7\"] ns=[] ar=[]"},
      {"apex SOA, serial from the newest file", q("bl.test", rt::soa),
       "qr aa rd NOERROR q=bl.test/SOA an=[bl.test SOA 3600 ns1.bl.test hostmaster.bl.test "
       "1700000000 7200 3600 604800 300] ns=[] ar=[]",
       outcome::apex},
      {"apex NS", q("bl.test", rt::ns),
       "qr aa rd NOERROR q=bl.test/NS an=[bl.test NS 86400 ns1.bl.test; bl.test NS 86400 "
       "ns2.bl.test] ns=[] ar=[]",
       outcome::apex},
      {"apex ANY", q("bl.test", rt::any),
       "qr aa rd NOERROR q=bl.test/255 an=[bl.test SOA 3600 ns1.bl.test hostmaster.bl.test "
       "1700000000 7200 3600 604800 300; bl.test NS 86400 ns1.bl.test; bl.test NS 86400 "
       "ns2.bl.test] ns=[] ar=[]",
       outcome::apex},
      {"apex A: NODATA", q("bl.test"),
       "qr aa rd NOERROR q=bl.test/A an=[] ns=[" + soa_bl + "] ar=[]", outcome::nodata},
      {"SOA TTL 0 is the dataset TTL; NS absent", q("dbl.test", rt::ns),
       "qr aa rd NOERROR q=dbl.test/NS an=[] ns=[dbl.test SOA 2100 ns.dbl.test hm.dbl.test 7 3600 "
       "3600 604800 3600] ar=[]",
       outcome::nodata},
      {"domain list", q("Example.COM.dbl.test", rt::any),
       "qr aa rd NOERROR q=Example.COM.dbl.test/255 an=[Example.COM.dbl.test A 2100 127.0.0.2; "
       "Example.COM.dbl.test TXT 2100 \"domain example.com\"] ns=[] ar=[]"},
      {"RFC 5782: TEST listed in a domain list", q("test.dbl.test"),
       "qr aa rd NOERROR q=test.dbl.test/A an=[test.dbl.test A 2100 127.0.0.2] ns=[] ar=[]"},
      {"RFC 5782: INVALID never", q("INVALID.dbl.test"),
       "qr aa rd NXDOMAIN q=INVALID.dbl.test/A an=[] ns=[dbl.test SOA 2100 ns.dbl.test hm.dbl.test "
       "7 3600 3600 604800 3600] ar=[]",
       outcome::not_listed},
      {"no SOA: NXDOMAIN without authority", q("5.3.2.1.nosoa.test"),
       "qr aa rd NXDOMAIN q=5.3.2.1.nosoa.test/A an=[] ns=[] ar=[]", outcome::not_listed},
      {"outside every zone: REFUSED", q("4.3.2.1.other.test"),
       "qr rd REFUSED q=4.3.2.1.other.test/A an=[] ns=[] ar=[]", outcome::refused},
      {"parent of a zone: REFUSED", q("test"), "qr rd REFUSED q=test/A an=[] ns=[] ar=[]",
       outcome::refused},
      {"class CH: REFUSED",
       build_query(query_spec().with_name("version.bind").with_type(rt::txt).with_class(3)),
       "qr rd REFUSED q=version.bind/TXT an=[] ns=[] ar=[]", outcome::refused},
      {"class ANY: answered, not authoritative",
       build_query(query_spec().with_name("8.7.6.5.bl.test").with_class(255)),
       "qr rd NOERROR q=8.7.6.5.bl.test/A an=[8.7.6.5.bl.test A 300 127.0.0.5] ns=[] ar=[]"},
      {"AXFR over UDP: FORMERR (RFC 5936 4.2: not defined over UDP)", q("bl.test", rt::axfr),
       "qr rd FORMERR q=bl.test/252 an=[] ns=[] ar=[]", outcome::formerr},
      {"AXFR over TCP: REFUSED here (the shell serves allowed peers)", q("bl.test", rt::axfr),
       "qr rd REFUSED q=bl.test/252 an=[] ns=[] ar=[]", outcome::refused, tcp},
      {"IXFR: REFUSED", q("bl.test", rt::ixfr), "qr rd REFUSED q=bl.test/251 an=[] ns=[] ar=[]",
       outcome::refused},
      {"MAILB: NOTIMP", q("bl.test", rt::mailb), "qr rd NOTIMP q=bl.test/253 an=[] ns=[] ar=[]",
       outcome::notimp},
      {"QTYPE OPT: FORMERR", q("bl.test", rt::opt), "qr rd FORMERR q=bl.test/OPT an=[] ns=[] ar=[]",
       outcome::formerr},
      {"RD clear stays clear", no_rd,
       "qr aa NOERROR q=4.3.2.1.bl.test/A an=[4.3.2.1.bl.test A 300 127.0.0.2; 4.3.2.1.bl.test A "
       "300 127.0.0.5] ns=[] ar=[]"},
      {"CD echoed", cd_query,
       "qr aa rd cd NOERROR q=4.3.2.1.bl.test/A an=[4.3.2.1.bl.test A 300 127.0.0.2; "
       "4.3.2.1.bl.test A 300 127.0.0.5] ns=[] ar=[]"},
      {"EDNS: OPT back with our size and DO",
       build_query(query_spec().with_name("5.3.2.1.bl.test").with_edns(4096).with_do()),
       "qr aa rd NXDOMAIN q=5.3.2.1.bl.test/A an=[] ns=[" + soa_bl +
           "] ar=[. OPT ttl=32768 udp=1232]",
       outcome::not_listed},
      {"EDNS version 1: BADVERS",
       build_query(query_spec().with_name("4.3.2.1.bl.test").with_edns(1232, 1)),
       "qr rd NOERROR q=4.3.2.1.bl.test/A an=[] ns=[] ar=[. OPT ttl=16777216 udp=1232]",
       outcome::badvers},
      {"too big for 512: TC, question only", q("1.2.0.192.bl.test", rt::txt),
       "qr aa tc rd NOERROR q=1.2.0.192.bl.test/TXT an=[] ns=[] ar=[]"},
      {"too big for EDNS 600: TC, OPT kept",
       build_query(query_spec().with_name("1.2.0.192.bl.test").with_type(rt::txt).with_edns(600)),
       "qr aa tc rd NOERROR q=1.2.0.192.bl.test/TXT an=[] ns=[] ar=[. OPT ttl=0 udp=1232]"},
      {"fits EDNS 1232",
       build_query(query_spec().with_name("1.2.0.192.bl.test").with_type(rt::txt).with_edns(4096)),
       "qr aa rd NOERROR q=1.2.0.192.bl.test/TXT an=[1.2.0.192.bl.test TXT 600 \"" +
           std::string(200, 'a') + "\"; 1.2.0.192.bl.test TXT 600 \"" + std::string(200, 'b') +
           "\"; 1.2.0.192.bl.test TXT 600 \"" + std::string(200, 'c') +
           "\"] ns=[] ar=[. OPT ttl=0 udp=1232]"},
      {"fits TCP without EDNS", q("1.2.0.192.bl.test", rt::txt),
       "qr aa rd NOERROR q=1.2.0.192.bl.test/TXT an=[1.2.0.192.bl.test TXT 600 \"" +
           std::string(200, 'a') + "\"; 1.2.0.192.bl.test TXT 600 \"" + std::string(200, 'b') +
           "\"; 1.2.0.192.bl.test TXT 600 \"" + std::string(200, 'c') + "\"] ns=[] ar=[]",
       outcome::listed, tcp},
  };
  for (const auto& c : cases) {
    answer_result r;
    const auto d = ask_raw(*zs, c.query, c.opts, &r);
    EXPECT_EQ(describe(d), c.want) << c.what;
    EXPECT_EQ(name_of(r.what), name_of(c.want_outcome)) << c.what;
    EXPECT_EQ(d.hdr.id, 0x1234) << c.what;
  }
}

struct raw_case {
  std::string what;
  std::vector<std::uint8_t> query;
  std::string want;  // describe() of the reply, or "dropped"
};

TEST(answer, malformed_table) {
  const auto zs = test_zones();
  ASSERT_TRUE(zs);
  auto response = q("4.3.2.1.bl.test");
  response[2] |= 0x80;
  auto two = q("4.3.2.1.bl.test");
  two[5] = 2;
  auto notify = q("bl.test", rt::soa);
  notify[2] = static_cast<std::uint8_t>((4 << 3) | 1);
  auto cut = q("4.3.2.1.bl.test");
  cut.resize(20);
  const raw_case cases[] = {
      {"empty", {}, "dropped"},
      {"short header", {0x12, 0x34, 1}, "dropped"},
      {"a response", response, "dropped"},
      {"two questions: FORMERR, header only", two, "qr rd FORMERR an=[] ns=[] ar=[]"},
      {"name cut: FORMERR", cut, "qr rd FORMERR an=[] ns=[] ar=[]"},
      {"opcode NOTIFY: NOTIMP", notify, "qr rd NOTIMP an=[] ns=[] ar=[]"},
      {"compression loop: FORMERR",
       {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1},
       "qr rd FORMERR an=[] ns=[] ar=[]"},
  };
  for (const auto& c : cases) {
    const auto d = ask_raw(*zs, c.query);
    const std::string got = d.error == "dropped" ? "dropped" : describe(d);
    EXPECT_EQ(got, c.want) << c.what;
    if (d.ok) {
      EXPECT_EQ(d.hdr.id, 0x1234) << c.what;
      EXPECT_EQ(d.hdr.qdcount, 0) << c.what;
    }
  }
}

TEST(answer, small_buffer_drops) {
  const auto zs = test_zones();
  ASSERT_TRUE(zs);
  const auto query = q("4.3.2.1.bl.test");
  std::vector<std::uint8_t> out(511);
  EXPECT_EQ(answer(*zs, query, out).size, 0u);
  out.resize(512);
  EXPECT_GT(answer(*zs, query, out).size, 0u);
}

TEST(answer, compressed_and_zone_index) {
  const auto zs = test_zones();
  ASSERT_TRUE(zs);
  std::vector<std::uint8_t> out(512);
  const auto query = q("1.2.3.4.5.6.7.8.9.dbl.test");
  const auto r = answer(*zs, query, out);
  EXPECT_EQ(r.zone, 1);
  EXPECT_EQ(name_of(r.what), "not_listed");
  // The SOA owner is a pointer into the question, and its names compress against each other:
  // header 12 + question (28 + 4) + SOA (owner pointer 2 + 10, "ns"+pointer 5, "hm"+pointer 5,
  // 20 octets of numbers).
  EXPECT_EQ(r.size, 12u + 32u + 12u + 5u + 5u + 20u);
  const auto listed = q("8.7.6.5.bl.test");
  const auto r2 = answer(*zs, listed, out);
  EXPECT_EQ(r2.zone, 0);
  // header 12 + question (17 + 4) + one A (2 + 10 + 4).
  EXPECT_EQ(r2.size, 12u + 21u + 16u);
}

TEST(answer, rfc5782_points_can_be_disabled) {
  load_options opts;
  opts.rfc5782_test_points = false;
  const auto ds = load_text(dataset_type::ip4set, "127.0.0.0/8\n", opts);
  ASSERT_TRUE(ds);
  const auto zs = one_zone("bl.test", {ds});
  ASSERT_TRUE(zs);
  EXPECT_EQ(summary(ask(*zs, "1.0.0.127.bl.test")), "NOERROR A:127.0.0.2");
  const auto empty = load_text(dataset_type::ip4set, "", opts);
  const auto zs2 = one_zone("bl.test", {empty});
  EXPECT_EQ(summary(ask(*zs2, "2.0.0.127.bl.test")), "NXDOMAIN");
}

TEST(answer, zone_set_build_errors) {
  const auto ds = load_text(dataset_type::ip4set, "1.2.3.4\n");
  const std::pair<std::vector<zone_config>, std::string> cases[] = {
      {{zone_config{"bad..name", {ds}}}, "invalid zone name `bad..name'"},
      {{zone_config{".", {ds}}}, "invalid zone name `.'"},
      {{zone_config{"bl.test", {}}}, "missing data for zone `bl.test'"},
      {{zone_config{"bl.test", {nullptr}}}, "zone `bl.test': missing dataset"},
  };
  for (const auto& [configs, want] : cases) {
    const auto got = zone_set::build(configs);
    ASSERT_FALSE(got.has_value()) << want;
    EXPECT_EQ(got.error(), want);
  }
  // A zone named twice stacks its datasets.
  const auto ds2 = load_text(dataset_type::ip4set, "1.2.3.4 :3:\n");
  const auto zs = zone_set::build({zone_config{"bl.test", {ds}}, zone_config{"BL.test.", {ds2}}});
  ASSERT_TRUE(zs.has_value());
  EXPECT_EQ((*zs)->zones().size(), 1u);
  EXPECT_EQ(summary(ask(**zs, "4.3.2.1.bl.test")), "NOERROR A:127.0.0.2 A:127.0.0.3");
}

TEST(answer, nested_zones_pick_the_longest) {
  const auto outer = load_text(dataset_type::ip4set, "1.2.3.4 :2:\n");
  const auto inner = load_text(dataset_type::ip4set, "1.2.3.4 :9:\n");
  const auto zs =
      zone_set::build({zone_config{"bl.test", {outer}}, zone_config{"inner.bl.test", {inner}}});
  ASSERT_TRUE(zs.has_value());
  EXPECT_EQ(summary(ask(**zs, "4.3.2.1.inner.bl.test")), "NOERROR A:127.0.0.9");
  EXPECT_EQ(summary(ask(**zs, "4.3.2.1.bl.test")), "NOERROR A:127.0.0.2");
  EXPECT_EQ(summary(ask(**zs, "inner.bl.test")), "NODATA");  // the inner apex
}

}  // namespace
}  // namespace mx::dnsbl
