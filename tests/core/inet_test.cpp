#include "core/inet.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace mx::inet {
namespace {

struct ip_case {
  std::string input;
  std::optional<std::string> want;  // canonical text, or nullopt for "refused"
};

TEST(ip_address, parse_table) {
  const ip_case cases[] = {
      {"192.0.2.1", "192.0.2.1"},
      {"0.0.0.0", "0.0.0.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"256.1.1.1", std::nullopt},
      {"1.2.3", std::nullopt},
      {"1.2.3.4.5", std::nullopt},
      {"01.2.3.4", std::nullopt},  // leading zero: octal in some parsers
      {"1.2.3.04", std::nullopt},
      {"127.1", std::nullopt},     // inet_aton's short form
      {"0x7f.0.0.1", std::nullopt},
      {" 1.2.3.4", std::nullopt},
      {"1.2.3.4 ", std::nullopt},
      {"1..2.3", std::nullopt},
      {"", std::nullopt},
      {"1.2.3.4/32", std::nullopt},
      {"+1.2.3.4", std::nullopt},
      {"1.2.3.1000", std::nullopt},
      {"::1", "::1"},
      {"::", "::"},
      {"2001:DB8::1", "2001:db8::1"},
      {"2001:db8:0:0:0:0:0:1", "2001:db8::1"},
      {"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
      {"2001:db8::1:0:0:1", "2001:db8::1:0:0:1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
      {"::ffff:c000:0201", "::ffff:192.0.2.1"},
      {"::ffff:192.0.2.01", std::nullopt},  // embedded IPv4 is strict too
      {"::ffff:1.2.3", std::nullopt},
      {"1:2:3:4:5:6:7:8:9", std::nullopt},
      {"1::2::3", std::nullopt},
      {"fe80::1%eth0", std::nullopt},
      {"[::1]", std::nullopt},
      {"::g", std::nullopt},
      {std::string("::1\0", 4), std::nullopt},
  };
  for (const auto& c : cases) {
    auto got = ip_address::parse(c.input);
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "input: " << c.input << " got: " << got->to_string()
                                    << " want: refused";
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input << " got: refused want: " << *c.want;
    EXPECT_EQ(got->to_string(), *c.want) << "input: " << c.input;
  }
}

TEST(ip_address, mapped_and_unspecified) {
  auto mapped = ip_address::parse("::ffff:203.0.113.7");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->is_v4_mapped());
  EXPECT_EQ(mapped->unmapped(), *ip_address::parse("203.0.113.7"));
  auto v6 = ip_address::parse("2001:db8::ffff:cb00:7107");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is_v4_mapped());
  EXPECT_EQ(v6->unmapped(), *v6);
  EXPECT_TRUE(ip_address::parse("0.0.0.0")->is_unspecified());
  EXPECT_TRUE(ip_address::parse("::")->is_unspecified());
  EXPECT_FALSE(ip_address::parse("::1")->is_unspecified());
}

struct cidr_case {
  std::string network;
  std::string client;
  bool want;
};

TEST(cidr, contains_table) {
  const cidr_case cases[] = {
      {"127.0.0.0/8", "127.0.0.1", true},
      {"127.0.0.0/8", "127.255.255.255", true},
      {"127.0.0.0/8", "128.0.0.1", false},
      {"127.0.0.0/8", "::ffff:127.0.0.1", true},  // mapped client matches v4 network
      {"127.0.0.0/8", "::1", false},
      {"192.0.2.128/25", "192.0.2.129", true},
      {"192.0.2.128/25", "192.0.2.127", false},
      {"192.0.2.1", "192.0.2.1", true},  // bare address: host network
      {"192.0.2.1", "192.0.2.2", false},
      {"0.0.0.0/0", "203.0.113.7", true},
      {"0.0.0.0/0", "::ffff:203.0.113.7", true},
      {"0.0.0.0/0", "2001:db8::1", false},
      {"::/0", "2001:db8::1", true},
      {"::/0", "::ffff:203.0.113.7", true},  // ::/0 admits every mapped IPv4 client
      {"::/0", "203.0.113.7", false},
      {"::1/128", "::1", true},
      {"::1/128", "::2", false},
      {"2001:db8::/33", "2001:db8:7fff::1", true},
      {"2001:db8::/33", "2001:db8:8000::1", false},
      {"::ffff:0:0/96", "::ffff:10.1.2.3", true},
  };
  for (const auto& c : cases) {
    auto net = cidr::parse(c.network);
    auto ip = ip_address::parse(c.client);
    ASSERT_TRUE(net && ip) << c.network << " " << c.client;
    EXPECT_EQ(net->contains(*ip), c.want) << "network " << c.network << " client " << c.client;
  }
}

TEST(cidr, parse_table) {
  const ip_case cases[] = {
      {"10.0.0.0/8", "10.0.0.0/8"},   {"10.0.0.1/8", std::nullopt},  // host bits set
      {"10.0.0.0/33", std::nullopt},  {"10.0.0.0/", std::nullopt},
      {"10.0.0.0/08", std::nullopt},  {"10.0.0.0/-1", std::nullopt},
      {"::/0", "::/0"},               {"::1/129", std::nullopt},
      {"2001:db8::/32", "2001:db8::/32"}, {"2001:db8::1/32", std::nullopt},
      {"1.2.3.4", "1.2.3.4/32"},      {"x/8", std::nullopt},
      {"10.0.0.0/8/8", std::nullopt},
  };
  for (const auto& c : cases) {
    auto got = cidr::parse(c.input);
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "input: " << c.input << " got: " << got->to_string();
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input << " want: " << *c.want;
    EXPECT_EQ(got->to_string(), *c.want) << "input: " << c.input;
  }
}

TEST(endpoint, parse_table) {
  const ip_case cases[] = {
      {"127.0.0.1:2525", "127.0.0.1:2525"},
      {"[::1]:2525", "[::1]:2525"},
      {"0.0.0.0:25", "0.0.0.0:25"},
      {"127.0.0.1:0", "127.0.0.1:0"},
      {"127.0.0.1:65535", "127.0.0.1:65535"},
      {"127.0.0.1:65536", std::nullopt},
      {"127.0.0.1:025", std::nullopt},
      {"127.0.0.1", std::nullopt},
      {"::1:2525", std::nullopt},  // IPv6 must be bracketed
      {"[::1]", std::nullopt},
      {"[::1]2525", std::nullopt},
      {"[127.0.0.1]:25", std::nullopt},
      {"localhost:25", std::nullopt},
      {"127.0.0.1:", std::nullopt},
      {"127.0.0.1:x", std::nullopt},
  };
  for (const auto& c : cases) {
    auto got = endpoint::parse(c.input);
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "input: " << c.input << " got: " << got->to_string();
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input << " want: " << *c.want;
    EXPECT_EQ(got->to_string(), *c.want) << "input: " << c.input;
  }
}

}  // namespace
}  // namespace mx::inet
