#include "dns/message.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "test_wire.hpp"

namespace mx::dns {
namespace {

using testing::build_query;
using testing::put16;
using testing::query_spec;

std::string fault_name(query_fault f) {
  switch (f) {
    case query_fault::drop:
      return "drop";
    case query_fault::formerr:
      return "formerr";
    case query_fault::notimp:
      return "notimp";
  }
  return "?";
}

struct parse_case {
  std::string what;
  std::vector<std::uint8_t> msg;
  std::optional<query_fault> want_fault;  // nullopt: parses
  std::string want_qname = {};
  std::uint16_t want_qtype = 0;
  std::optional<std::uint16_t> want_edns = {};
  bool want_do = false;
  std::uint8_t want_version = 0;
};

std::vector<std::uint8_t> q(query_spec s) {
  return build_query(s);
}

std::vector<std::uint8_t> with_counts(std::vector<std::uint8_t> m, int qd, int an, int ns, int ar) {
  m[4] = 0;
  m[5] = static_cast<std::uint8_t>(qd);
  m[6] = 0;
  m[7] = static_cast<std::uint8_t>(an);
  m[8] = 0;
  m[9] = static_cast<std::uint8_t>(ns);
  m[10] = 0;
  m[11] = static_cast<std::uint8_t>(ar);
  return m;
}

std::vector<std::uint8_t> append(std::vector<std::uint8_t> m, std::vector<std::uint8_t> tail) {
  m.insert(m.end(), tail.begin(), tail.end());
  return m;
}

// A root-owned OPT record with the given RDATA.
std::vector<std::uint8_t> opt_rr(std::uint16_t size, std::vector<std::uint8_t> rdata,
                                 std::uint8_t owner_first = 0) {
  std::vector<std::uint8_t> out;
  if (owner_first != 0) {
    out.push_back(1);
    out.push_back(owner_first);
  }
  out.push_back(0);
  put16(out, rr_type::opt);
  put16(out, size);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(rdata.size()));
  out.insert(out.end(), rdata.begin(), rdata.end());
  return out;
}

TEST(parse_query, table) {
  const auto plain = q(query_spec());
  auto response = plain;
  response[2] |= 0x80;
  auto notify = plain;
  notify[2] = static_cast<std::uint8_t>(4 << 3);  // opcode NOTIFY
  auto truncated = plain;
  truncated.resize(truncated.size() - 1);
  auto cut_name = plain;
  cut_name.resize(16);

  const parse_case cases[] = {
      {"plain A", plain, std::nullopt, "example.test", rr_type::a},
      {"case kept", q(query_spec().with_name("2.0.0.127.BL.Example.TEST")), std::nullopt,
       "2.0.0.127.BL.Example.TEST", rr_type::a},
      {"TXT", q(query_spec().with_type(rr_type::txt)), std::nullopt, "example.test", rr_type::txt},
      {"EDNS 4096 DO", q(query_spec().with_edns(4096).with_do()), std::nullopt, "example.test",
       rr_type::a, 4096, true},
      {"EDNS small size kept as sent", q(query_spec().with_edns(100)), std::nullopt, "example.test",
       rr_type::a, 100},
      {"EDNS version 1", q(query_spec().with_edns(1232, 1)), std::nullopt, "example.test",
       rr_type::a, 1232, false, 1},
      {"empty", {}, query_fault::drop},
      {"11 octets", std::vector<std::uint8_t>(11, 0), query_fault::drop},
      {"a response", response, query_fault::drop},
      {"opcode NOTIFY", notify, query_fault::notimp},
      {"qdcount 0", with_counts(plain, 0, 0, 0, 0), query_fault::formerr},
      {"qdcount 2", with_counts(plain, 2, 0, 0, 0), query_fault::formerr},
      {"header only", std::vector<std::uint8_t>{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0},
       query_fault::formerr},
      {"type/class cut", truncated, query_fault::formerr},
      {"name cut", cut_name, query_fault::formerr},
      {"self-pointer qname",
       std::vector<std::uint8_t>{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1},
       query_fault::formerr},
      {"label type 0x40",
       std::vector<std::uint8_t>{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0, 0, 1, 0, 1},
       query_fault::formerr},
      {"arcount 1, nothing there", with_counts(plain, 1, 0, 0, 1), query_fault::formerr},
      {"ancount 1, nothing there", with_counts(plain, 1, 1, 0, 0), query_fault::formerr},
      {"two OPTs",
       with_counts(append(append(plain, opt_rr(1232, {})), opt_rr(1232, {})), 1, 0, 0, 2),
       query_fault::formerr},
      {"OPT owned by a name", with_counts(append(plain, opt_rr(1232, {}, 'x')), 1, 0, 0, 1),
       query_fault::formerr},
      {"OPT option overruns",
       with_counts(append(plain, opt_rr(1232, {0, 10, 0, 5, 1})), 1, 0, 0, 1),
       query_fault::formerr},
      {"OPT with a cookie option",
       with_counts(append(plain, opt_rr(1232, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})), 1, 0, 0, 1),
       std::nullopt, "example.test", rr_type::a, 1232},
      {"OPT rdlength past end",
       with_counts(append(plain, std::vector<std::uint8_t>{0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 9}), 1, 0,
                   0, 1),
       query_fault::formerr},
      {"trailing garbage ignored", append(plain, {1, 2, 3}), std::nullopt, "example.test",
       rr_type::a},
  };
  for (const auto& c : cases) {
    const auto got = parse_query(c.msg);
    if (c.want_fault) {
      ASSERT_FALSE(got.has_value())
          << c.what << ": got a query, want " << fault_name(*c.want_fault);
      EXPECT_EQ(fault_name(got.error().fault), fault_name(*c.want_fault))
          << c.what << " (" << got.error().reason << ")";
      if (*c.want_fault != query_fault::drop) {
        EXPECT_EQ(got.error().hdr.id, static_cast<std::uint16_t>((c.msg[0] << 8) | c.msg[1]))
            << c.what;
      }
      continue;
    }
    ASSERT_TRUE(got.has_value()) << c.what << ": got " << fault_name(got.error().fault) << " ("
                                 << got.error().reason << ") want a query";
    EXPECT_EQ(got->qname.to_text(), c.want_qname) << c.what;
    EXPECT_EQ(got->qtype, c.want_qtype) << c.what;
    EXPECT_EQ(got->hdr.id, 0x1234) << c.what;
    EXPECT_EQ(got->edns.has_value(), c.want_edns.has_value()) << c.what;
    if (got->edns && c.want_edns) {
      EXPECT_EQ(got->edns->udp_payload, *c.want_edns) << c.what;
      EXPECT_EQ(got->edns->dnssec_ok, c.want_do) << c.what;
      EXPECT_EQ(got->edns->version, c.want_version) << c.what;
    }
  }
}

}  // namespace
}  // namespace mx::dns
