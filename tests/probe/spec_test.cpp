#include "probe/spec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mx::probe {
namespace {

std::string show(const target_spec& t) {
  return (t.mx ? "mx " : "") + t.host + " port " + std::to_string(t.port) +
         (t.ip ? (t.ip->is_v4() ? " v4" : " v6") : "");
}

TEST(TargetSpec, Table) {
  const struct {
    std::string in;
    std::string want;  // show(), or "error"
  } cases[] = {
      {"mail.example.test", "mail.example.test port 25"},
      {"Mail.Example.TEST.", "mail.example.test port 25"},
      {"mail.example.test:2525", "mail.example.test port 2525"},
      {"localhost", "localhost port 25"},
      {"192.0.2.1", "192.0.2.1 port 25 v4"},
      {"127.0.0.1:2525", "127.0.0.1 port 2525 v4"},
      {"[2001:db8::1]:2525", "2001:db8::1 port 2525 v6"},
      {"[::1]", "::1 port 25 v6"},
      {"2001:db8::1", "2001:db8::1 port 25 v6"},
      {"::1", "::1 port 25 v6"},
      {"mx:example.test", "mx example.test port 25"},
      {"MX:Example.Test", "mx example.test port 25"},
      {"mx:example.test:2525", "mx example.test port 2525"},
      {"mx:example.test:0", "error"},
      {"mx::25", "error"},
      {"", "error"},
      {"mx:", "error"},
      {"mx:bad_name", "error"},
      {"host:0", "error"},
      {"host:65536", "error"},
      {"host:", "error"},
      {"host:25x", "error"},
      {":25", "error"},
      {"[192.0.2.1]:25", "error"},
      {"[2001:db8::1", "error"},
      {"[2001:db8::1]x", "error"},
      {"[2001:db8::1]:", "error"},
      {"bad_host", "error"},
      {"a b", "error"},
      {"host;rm -rf", "error"},
      {"010.1.1.1", "error"},
  };
  for (const auto& c : cases) {
    const auto got = parse_target(c.in);
    EXPECT_EQ(got ? show(*got) : "error", c.want) << "input: " << c.in;
    if (got) {
      EXPECT_EQ(got->text, c.in);
    }
  }
}

TEST(TargetSpec, List) {
  const struct {
    std::string in;
    std::string want;  // hosts joined by ",", or the error
  } cases[] = {
      {"a.example\nb.example:2525\n", "a.example,b.example"},
      {"# comment\n\n  a.example  # trailing\r\n\t[::1]:25\n", "a.example,::1"},
      {"", ""},
      {"a.example\nbad_one\n", "line 2: bad target \"bad_one\": not a host name or IP address"},
  };
  for (const auto& c : cases) {
    const auto got = parse_target_list(c.in);
    std::string g;
    if (got) {
      for (const auto& t : *got) g += (g.empty() ? "" : ",") + t.host;
    } else {
      g = got.error();
    }
    EXPECT_EQ(g, c.want) << "input: " << c.in;
  }
}

}  // namespace
}  // namespace mx::probe
