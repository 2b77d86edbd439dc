#include "dnsbl/text.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>

#include "dns/name.hpp"
#include "dnsbl/values.hpp"

namespace mx::dnsbl {
namespace {

std::string ip4(std::uint32_t a) {
  char buf[16];
  return std::string(buf, text::ip4_to_text(a, buf));
}

struct range_case {
  std::string input;
  std::optional<std::string> want;  // "lo-hi/bits rest", nullopt: refused
};

std::string show(const text::ip4_range& r, std::string_view rest) {
  return ip4(r.lo) + "-" + ip4(r.hi) + "/" + std::to_string(r.bits) + "|" + std::string(rest);
}

TEST(text, ip4_range_table) {
  // The man page's examples of 127.0.0.0/24 and 127.16.0.0-127.31.255.255, and the edges.
  const range_case cases[] = {
      {"127.0.0.0/24", "127.0.0.0-127.0.0.255/24|"},
      {"127.0.0", "127.0.0.0-127.0.0.255/24|"},
      {"127/24", "127.0.0.0-127.0.0.255/24|"},
      {"127-127.0.0", std::nullopt},  // the man page lists it, but ip4range() refuses mixed forms
      {"127.0.0.0-127.0.0.255", "127.0.0.0-127.0.0.255/32|"},
      {"127.0.0.1-255", "127.0.0.1-127.0.0.255/32|"},
      {"127.16.0.0-127.31.255.255", "127.16.0.0-127.31.255.255/32|"},
      {"127.16.0-127.31.255", "127.16.0.0-127.31.255.255/32|"},
      {"127.16-127.31", "127.16.0.0-127.31.255.255/32|"},
      {"127.16-31", "127.16.0.0-127.31.255.255/32|"},
      {"127.16.0.0/12", "127.16.0.0-127.31.255.255/12|"},
      {"127.16.0/12", "127.16.0.0-127.31.255.255/12|"},
      {"127.16/12", "127.16.0.0-127.31.255.255/12|"},
      {"127.0.0.2", "127.0.0.2-127.0.0.2/32|"},
      {"127.0.0.2 :3:x", "127.0.0.2-127.0.0.2/32| :3:x"},
      {"127.0.0.2:3", "127.0.0.2-127.0.0.2/32|:3"},
      {"010.0.0.1", "10.0.0.1-10.0.0.1/32|"},  // decimal, as rbldnsd
      {"127", std::nullopt},                   // a bare number needs /8
      {"127/8", "127.0.0.0-127.255.255.255/8|"},
      {"0/0", "0.0.0.0-255.255.255.255/0|"},
      {"10.0.0.1/8", "10.0.0.1-10.255.255.255/8|"},  // host bits: the loader decides
      {"256.0.0.1", std::nullopt},
      {"1.2.3.4/33", std::nullopt},
      {"1.2.3.4/", std::nullopt},
      {"1.2.3.", std::nullopt},
      {"1.2.3.9-1.2.3.8", std::nullopt},
      {"1.2-1.2.3.4", std::nullopt},
      {"", std::nullopt},
      {"x", std::nullopt},
  };
  for (const auto& c : cases) {
    std::string_view s = c.input;
    const auto got = text::parse_ip4_range(s);
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "input: " << c.input << " got: " << show(*got, s);
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input << " want: " << *c.want;
    EXPECT_EQ(show(*got, s), *c.want) << "input: " << c.input;
  }
}

// plain_ip4_lines: how many lines it takes from the start of the text and what they are. The
// text is padded so that at least 16 octets follow every line of the case (it stops short of
// that), except in the cases about the tail.
TEST(text, plain_ip4_lines_table) {
  struct plain_case {
    std::string text;
    std::size_t max;
    std::string want;  // the addresses read, then "|" and the text left
  };
  const std::string pad = "\n# padding, not read\n";
  const plain_case cases[] = {
      {"1.2.3.4\n" + pad, 9, "1.2.3.4 |" + pad},
      {"255.255.255.255\n0.0.0.0\n" + pad, 9, "255.255.255.255 0.0.0.0 |" + pad},
      {"10.20.30.40\n100.1.10.199\n" + pad, 1, "10.20.30.40 |100.1.10.199\n" + pad},
      {"001.002.003.004\n" + pad, 9, "1.2.3.4 |" + pad},  // leading zeros are decimal
      {"256.1.1.1\n" + pad, 9, "|256.1.1.1\n" + pad},
      {"1.2.3.300\n" + pad, 9, "|1.2.3.300\n" + pad},
      {"0001.2.3.4\n" + pad, 9, "|0001.2.3.4\n" + pad},  // four digits: the general parser
      {"1.2.3\n" + pad, 9, "|1.2.3\n" + pad},            // a /24
      {"1.2.3.4.5\n" + pad, 9, "|1.2.3.4.5\n" + pad},
      {"1..3.4\n" + pad, 9, "|1..3.4\n" + pad},
      {".1.2.3\n" + pad, 9, "|.1.2.3\n" + pad},
      {"1.2.3.\n" + pad, 9, "|1.2.3.\n" + pad},
      {"1.2.3.4 \n" + pad, 9, "|1.2.3.4 \n" + pad},
      {" 1.2.3.4\n" + pad, 9, "| 1.2.3.4\n" + pad},
      {"1.2.3.4\r\n" + pad, 9, "|1.2.3.4\r\n" + pad},
      {"1.2.3.4/32\n" + pad, 9, "|1.2.3.4/32\n" + pad},
      {"1.2.3.4:2\n" + pad, 9, "|1.2.3.4:2\n" + pad},
      {"1.2.3.4\xB0\n" + pad, 9, "|1.2.3.4\xB0\n" + pad},
      {"\n1.2.3.4\n" + pad, 9, "|\n1.2.3.4\n" + pad},   // an empty line
      {"1.2.3.4\n5.6.7.8\n", 9, "1.2.3.4 |5.6.7.8\n"},  // fewer than 16 octets left
      {"1.2.3.4\n", 9, "|1.2.3.4\n"},
      {"1.2.3.4", 9, "|1.2.3.4"},
  };
  for (auto* read : {&text::plain_ip4_lines, &text::plain_ip4_lines_sse2}) {
    for (const auto& c : cases) {
      std::uint32_t out[16];
      std::size_t n = 99;
      const std::size_t took = (*read)(c.text, out, c.max, n);
      std::string got;
      for (std::size_t i = 0; i < n && i < 16; ++i) got += ip4(out[i]) + " ";
      got += "|" + c.text.substr(took);
      EXPECT_EQ(got, c.want) << "input: " << c.text
                             << (read == &text::plain_ip4_lines ? "" : " (SSE2 alone)");
    }
  }
  // Every layout (1 to 3 digits an octet, 81 in all), with the largest and smallest octets.
  for (int id = 0; id < 81; ++id) {
    const int digits[4] = {id / 27 + 1, id / 9 % 3 + 1, id / 3 % 3 + 1, id % 3 + 1};
    for (const bool high : {false, true}) {
      std::string line;
      std::uint32_t want = 0;
      for (int i = 0; i < 4; ++i) {
        const std::uint32_t v = high ? (digits[i] == 3   ? 255
                                        : digits[i] == 2 ? 99
                                                         : 9)
                                     : (digits[i] == 1   ? 0
                                        : digits[i] == 2 ? 10
                                                         : 100);
        line += (i > 0 ? "." : "") + std::to_string(v);
        want = (want << 8) | v;
      }
      const std::string input = line + "\n" + pad;
      for (auto* read : {&text::plain_ip4_lines, &text::plain_ip4_lines_sse2}) {
        std::uint32_t out[4];
        std::size_t n = 0;
        const std::size_t took = (*read)(input, out, 4, n);
        ASSERT_EQ(n, 1u) << "input: " << line;
        EXPECT_EQ(ip4(out[0]), ip4(want)) << "input: " << line;
        EXPECT_EQ(took, line.size() + 1) << "input: " << line;
      }
    }
  }
}

// append_reversed_name against the general path it stands in for: dns::name::from_text,
// to_lower and the labels walked in reverse. Where it declines (false, out untouched), that path
// reads the text or refuses it.
std::optional<std::string> reversed_by_name(std::string_view text) {
  auto n = dns::name::from_text(text);
  if (!n || n->is_root()) return std::nullopt;
  n->to_lower();
  std::string key;
  for (std::size_t i = n->label_count(); i-- > 0;) {
    const auto l = n->label(i);
    key.push_back(static_cast<char>(l.size()));
    key.append(reinterpret_cast<const char*>(l.data()), l.size());
  }
  return key;
}

TEST(text, append_reversed_name_table) {
  struct name_case {
    std::string input;
    std::optional<std::string> want;  // nullopt: declined
  };
  const std::string l63(63, 'a');
  const std::string l64(64, 'a');
  std::string max_name;  // 253 octets: 63.63.63.61
  for (int i = 0; i < 3; ++i) max_name += std::string(63, 'b') + ".";
  max_name += std::string(61, 'c');
  const name_case cases[] = {
      {"Mail.Example.COM", std::string("\3com\7example\4mail")},
      {"x", std::string("\1x")},
      {"a-b_c.d9", std::string("\2d9\5a-b_c")},
      {l63 + ".com", "\3com\x3f" + l63},
      {l64 + ".com", std::nullopt},
      {max_name, std::nullopt},  // checked below against the general path, which takes it
      {max_name + "c", std::nullopt},
      {"example.com.", std::nullopt},  // trailing dot: the general path reads it
      {"a..b", std::nullopt},
      {".a", std::nullopt},
      {"", std::nullopt},
      {".", std::nullopt},
      {"a\\.b.c", std::nullopt},
      {"a\\065.c", std::nullopt},
  };
  for (const auto& c : cases) {
    std::string out = "prefix";
    const bool took = text::append_reversed_name(c.input, out);
    if (c.input == max_name) {
      ASSERT_TRUE(took) << "input: " << c.input;
      EXPECT_EQ(out.substr(6), reversed_by_name(c.input).value()) << "input: " << c.input;
      continue;
    }
    EXPECT_EQ(took ? std::optional<std::string>(out.substr(6)) : std::nullopt, c.want)
        << "input: " << c.input;
    if (!took) {
      EXPECT_EQ(out, "prefix") << "input: " << c.input;
    }
  }
  // Random text from a small alphabet: where it takes a name, the general path gives the same.
  std::mt19937 rng(42);
  const std::string alphabet = "aZ.-\\09_";
  for (int round = 0; round < 20000; ++round) {
    std::string in;
    const std::size_t n = rng() % 12;
    for (std::size_t i = 0; i < n; ++i) in += alphabet[rng() % alphabet.size()];
    std::string out;
    if (text::append_reversed_name(in, out)) {
      EXPECT_EQ(std::optional<std::string>(out), reversed_by_name(in)) << "input: " << in;
    } else {
      EXPECT_TRUE(out.empty()) << "input: " << in;
    }
  }
}

TEST(text, ip4_cidr_and_addr_table) {
  const range_case cidr[] = {
      {"10.0.0.0/8", "10.0.0.0-10.255.255.255/8|"},
      {"10.0.0", "10.0.0.0-10.0.0.255/24|"},
      {"10", std::nullopt},
      {"10/8", "10.0.0.0-10.255.255.255/8|"},
      {"1.2.3.4-5", "1.2.3.4-1.2.3.4/32|-5"},  // no ranges in a trie; the caller refuses "-5"
  };
  for (const auto& c : cidr) {
    std::string_view s = c.input;
    const auto got = text::parse_ip4_cidr(s);
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "input: " << c.input;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input;
    EXPECT_EQ(show(*got, s), *c.want) << "input: " << c.input;
  }
  const std::pair<std::string, std::string> addrs[] = {
      {"2", "0.0.0.2"}, {"127.2", "127.0.0.2"}, {"127.1.2", "127.1.0.2"}, {"1.2.3.4", "1.2.3.4"}};
  for (const auto& [in, want] : addrs) {
    std::string_view s = in;
    const auto got = text::parse_ip4_addr(s);
    ASSERT_TRUE(got.has_value()) << "input: " << in;
    EXPECT_EQ(ip4(got->addr), want) << "input: " << in;
  }
}

struct ip6_case {
  std::string input;
  bool cidr;
  std::optional<std::string> want;  // "text/bits|rest"
};

TEST(text, ip6_table) {
  const ip6_case cases[] = {
      {"2001:20fe:23:41ed", false, "2001:20fe:23:41ed::/64|"},
      {"2001:db8::1", false, "2001:db8::1/128|"},
      {"::1", false, "::1/128|"},
      {"::", false, "::/128|"},
      {"1::", false, "1::/128|"},
      {"1::4:0:0:0:8", false, "1:0:0:4::8/128|"},
      {"1:2:3:4:5:6:7:8", false, "1:2:3:4:5:6:7:8/128|"},
      {"1:2:3:4:5:6:7:8:9", false, "1:2:3:4:5:6:7:8/128|:9"},
      {"1:2:3:4:5:6:7::8", false, std::nullopt},  // "::" with no zero to stand for
      {"12345::", false, std::nullopt},
      {"1:", false, std::nullopt},
      {"g::", false, std::nullopt},
      {"2001:21ab:c000/36", true, "2001:21ab:c000::/36|"},
      {"2001:db8::/32", true, "2001:db8::/32|"},
      {"2001", true, std::nullopt},  // a bare group needs /bits
      {"2001/16", true, "2001::/16|"},
      {"::/129", true, std::nullopt},
      {"2001:21ab:def7:4242 :127.0.1.3: x", true, "2001:21ab:def7:4242::/64| :127.0.1.3: x"},
  };
  for (const auto& c : cases) {
    std::string_view s = c.input;
    const auto got = c.cidr ? text::parse_ip6_cidr(s) : text::parse_ip6_prefix(s);
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "input: " << c.input;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input << " want: " << *c.want;
    EXPECT_EQ(text::ip6_to_text(got->addr) + "/" + std::to_string(got->bits) + "|" + std::string(s),
              *c.want)
        << "input: " << c.input;
  }
}

TEST(text, ip6_clear_host) {
  text::ip6_bytes a{};
  a[0] = 0x20;
  a[1] = 0x01;
  a[4] = 0xFF;
  EXPECT_TRUE(text::ip6_clear_host(a, 36));
  EXPECT_EQ(text::ip6_to_text(a), "2001:0:f000::");
  EXPECT_FALSE(text::ip6_clear_host(a, 36));
}

struct time_case {
  std::string input;
  std::optional<std::uint32_t> want;
  std::string want_rest = {};
};

TEST(text, time_table) {
  const time_case cases[] = {
      {"30", 30},
      {"35m", 2100},
      {"2h", 7200},
      {"1d", 86400},
      {"1w", 604800},
      {"1W", 604800},
      {"10s", 10},
      {"0", 0},
      {"2h rest", 7200, "rest"},
      {"7102w", std::nullopt},
      {"4294967295", 4294967295u},
      {"4294967296", std::nullopt},
      {"x", std::nullopt},
      {"10x", std::nullopt},
  };
  for (const auto& c : cases) {
    std::string_view s = c.input;
    const auto got = text::parse_time(s);
    EXPECT_EQ(got, c.want) << "input: " << c.input;
    if (got) {
      EXPECT_EQ(std::string(s), c.want_rest) << "input: " << c.input;
    }
  }
}

TEST(text, timestamp_table) {
  const std::pair<std::string, std::optional<std::int64_t>> cases[] = {
      {"1970:01:01", 0},
      {"2005:01:01", 1104537600},
      {"2005-01-01-12", 1104537600 + 12 * 3600},
      {"20050101120102", 1104537600 + 12 * 3600 + 60 + 2},
      {"2004:02:29", 1078012800},
      {"2005:02:29", std::nullopt},
      {"2005:13:01", std::nullopt},
      {"1969:01:01", std::nullopt},
      {"0", 0},
      {"-", 0},
      {"2005:01:01:24", std::nullopt},
  };
  for (const auto& [in, want] : cases) {
    std::string_view s = in;
    EXPECT_EQ(text::parse_timestamp(s), want) << "input: " << in;
  }
}

struct value_case {
  std::string input;
  std::optional<std::string> want;  // "A|txt|from_default"
};

TEST(text, value_table) {
  const value_case cases[] = {
      {":127.0.0.2:Listed $", "127.0.0.2|Listed $|0"},
      {":2:Blacklisted", "127.0.0.2|Blacklisted|0"},
      {":5", "127.0.0.5|<default>|1"},
      {":6:", "127.0.0.6||0"},
      {":7 : spaced", "127.0.0.7|spaced|0"},
      {": 7", std::nullopt},  // the A value must follow the colon
      {"IP address $ running an open relay", "-|IP address $ running an open relay|0"},
      {":127.0.1.3: This one smells funny", "127.0.1.3|This one smells funny|0"},
      {":0:zero", std::nullopt},
      {":x:bad", std::nullopt},
      {":3 junk", std::nullopt},
      {":", std::nullopt},
  };
  for (const auto& c : cases) {
    text::value_error err{};
    const auto got = text::parse_value(c.input, err);
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "input: " << c.input;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input;
    const std::string show = (got->has_a ? ip4(got->a) : "-") + "|" +
                             (got->txt_from_default ? "<default>" : std::string(got->txt)) + "|" +
                             (got->txt_from_default ? "1" : "0");
    EXPECT_EQ(show, *c.want) << "input: " << c.input;
  }
  text::value_error err{};
  const auto longv = text::parse_value(std::string(300, 'x'), err);
  ASSERT_TRUE(longv.has_value());
  EXPECT_TRUE(longv->truncated);
  EXPECT_EQ(longv->txt.size(), 255u);
}

struct template_case {
  std::string what;
  std::string raw;
  std::string subject;
  std::string want;
};

TEST(values, template_table) {
  // rbldnsd(8)'s examples, with $1 = "See http://www.example.com/bl" and $2 = "for details".
  substitutions vars;
  vars.vars[1] = "See http://www.example.com/bl";
  vars.vars[2] = "for details";
  const template_case cases[] = {
      {"subject", "IP address $ is listed", "127.0.0.2", "IP address 127.0.0.2 is listed"},
      {"vars", "$1/spammer/$ $2", "127.0.0.2",
       "See http://www.example.com/bl/spammer/127.0.0.2 for details"},
      {"dollars", "This spammer wants some $$$$.  $1/$", "127.0.0.4",
       "This spammer wants some $$.  See http://www.example.com/bl/127.0.0.4"},
      {"undefined var stays", "x $7 y", "s", "x $7 y"},
      {"subject at end", "ip=$", "1.2.3.4", "ip=1.2.3.4"},
      {"subject then dollar", "$$$", "s", "$s"},
      {"var with dollar is literal", "$3", "s", "$ is not a subject"},
      {"no text", "", "s", ""},
  };
  vars.vars[3] = "$ is not a subject";
  for (const auto& c : cases) {
    const std::string fin = finalize_template(c.raw, vars);
    std::array<char, max_txt_octets> out{};
    const std::size_t n = expand_template(fin, c.subject, out);
    EXPECT_EQ(std::string(out.data(), n), c.want) << c.what << " raw: " << c.raw;
  }
}

TEST(values, base_template_table) {
  // rbldnsd(8): "$= See http://www.example.com/bl?$= ($) for details".
  substitutions vars;
  vars.vars[substitutions::base] = "See http://www.example.com/bl?$= ($) for details";
  const template_case cases[] = {
      {"entry text", "r123", "127.0.0.2",
       "See http://www.example.com/bl?r123 (127.0.0.2) for details"},
      {"no entry text", "", "127.0.0.3",
       "See http://www.example.com/bl?127.0.0.3 (127.0.0.3) for details"},
      {"= escapes the base", "=See other blocklists for details about $", "127.0.0.4",
       "See other blocklists for details about 127.0.0.4"},
      {"entry text is literal", "a$b", "1.1.1.1",
       "See http://www.example.com/bl?a$b (1.1.1.1) for details"},
  };
  for (const auto& c : cases) {
    const std::string fin = finalize_template(c.raw, vars);
    std::array<char, max_txt_octets> out{};
    const std::size_t n = expand_template(fin, c.subject, out);
    EXPECT_EQ(std::string(out.data(), n), c.want) << c.what;
  }
}

TEST(values, expansion_is_capped_at_255) {
  substitutions vars;
  const std::string fin = finalize_template(std::string(250, 'x') + "$", vars);
  std::array<char, max_txt_octets> out{};
  const std::size_t n = expand_template(fin, "255.255.255.255", out);
  EXPECT_EQ(n, 255u);
  EXPECT_EQ(std::string(out.data() + 250, 5), "255.2");
}

TEST(values, pool_interns_and_finalizes) {
  value_pool pool;
  const auto a = pool.intern(0x7F000002, "x $");
  const auto b = pool.intern(0x7F000002, "x $");
  const auto c = pool.intern(0x7F000003, "x $");
  const auto d = pool.intern(0x7F000002, "");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  pool.finalize(substitutions{});
  EXPECT_EQ(pool.size(), 3u);
  EXPECT_EQ(pool.final_template(pool.at(a)), "x $s");
  EXPECT_EQ(pool.at(c).a, 0x7F000003u);
  EXPECT_EQ(pool.at(d).txt_length, 0u);
}

}  // namespace
}  // namespace mx::dnsbl
