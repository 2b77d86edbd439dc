#include "probe/output.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mx::probe {
namespace {

TEST(Output, JsonString) {
  const struct {
    std::string in;
    std::string want;
  } cases[] = {
      {"plain", "\"plain\""},
      {"a\"b\\c", "\"a\\\"b\\\\c\""},
      {"tab\there\r\n", "\"tab\\there\\r\\n\""},
      {std::string("nul\0x", 5), "\"nul\\u0000x\""},
      {"\x1b[31mred", "\"\\u001b[31mred\""},
      {"del\x7f", "\"del\\u007f\""},
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""},                        // valid UTF-8 kept
      {"\xe2\x82\xac", "\"\xe2\x82\xac\""},                      // euro sign
      {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},              // 4 octets
      {"bad\xff", "\"bad\\ufffd\""},                             // never valid
      {"\xc3", "\"\\ufffd\""},                                   // truncated
      {"\xc0\xaf", "\"\\ufffd\\ufffd\""},                        // overlong
      {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},             // surrogate
      {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},             // overlong 3-octet
      {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},  // above U+10FFFF
  };
  for (const auto& c : cases) {
    EXPECT_EQ(json_string(c.in), c.want) << "input bytes: " << c.in.size();
  }
}

TEST(Output, Printable) {
  EXPECT_EQ(printable("ok text"), "ok text");
  EXPECT_EQ(printable("\x1b]0;pwned\x07"), "?]0;pwned?");
  EXPECT_EQ(printable("abcdef", 3), "abc...");
}

target_report sample(bool open) {
  target_report r;
  r.target = "127.0.0.1:2525";
  r.endpoint = "127.0.0.1:2525";
  r.banner = smtp::reply{220, "", {"mx.example.test ESMTP \x1b[2J"}};
  r.hello = smtp::reply{250, "", {"mx.example.test", "PIPELINING"}};
  r.caps.esmtp = true;
  r.caps.pipelining = true;
  r.caps.keywords = {"PIPELINING"};
  r.banner_host = "mx.example.test";
  r.local_domain = "example.test";
  r.connections = 2;
  r.facts.session = true;
  r.facts.test_domain = "example.net";
  target_identity id;
  id.address = *inet::ip_address::parse("127.0.0.1");
  id.port = 2525;
  id.banner_host = "mx.example.test";
  id.local_domains = {"example.test"};
  battery_options o;
  o.token = "t";
  for (const auto& t : build_battery(id, o)) {
    if (t.id != "ctl-local" && t.id != "plain") continue;
    test_result res;
    res.test = t;
    res.attempts = 1;
    const bool accept = t.id == "ctl-local" || open;
    res.lines = {{line_kind::mail, "MAIL FROM:" + t.mail, true, smtp::reply{250, "2.1.0", {"Ok"}}},
                 {line_kind::rcpt, "RCPT TO:" + t.rcpt, true,
                  accept ? smtp::reply{250, "2.1.5", {"Ok"}}
                         : smtp::reply{554, "5.7.1", {"Relay \"denied\""}}}};
    res.outcome = judge(res.lines, &res.detail);
    r.facts.results.push_back(res);
  }
  r.result = classify(r.facts);
  return r;
}

TEST(Output, Table) {
  const std::string closed = format_table(sample(false));
  const std::string open = format_table(sample(true));
  const struct {
    std::string name;
    const std::string& text;
    std::string want;
  } cases[] = {
      {"header", closed, "== 127.0.0.1:2525  CLOSED\n"},
      {"banner without escapes", closed, "banner:       220 mx.example.test ESMTP ?[2J\n"},
      {"extensions", closed, "extensions:   ESMTP PIPELINING\n"},
      {"local domain", closed, "local domain: example.test\n"},
      {"row", closed, "  plain                  plain external                         refused"},
      {"verdict", closed, "verdict: CLOSED\n"},
      {"open header", open, "== 127.0.0.1:2525  OPEN\n"},
      {"open row marked", open, "! plain "},
      {"open reason", open, "accepts relay at RCPT, not verified by delivery"},
  };
  for (const auto& c : cases) {
    EXPECT_NE(c.text.find(c.want), std::string::npos)
        << "case: " << c.name << "\nwant: " << c.want << "\ngot:\n"
        << c.text;
  }
  EXPECT_EQ(closed.find('\x1b'), std::string::npos) << "terminal escape leaked:\n" << closed;
}

TEST(Output, Json) {
  const std::string j = format_json({sample(false), sample(true)});
  const std::string wants[] = {
      "\"verdict\": \"CLOSED\"",
      "\"verdict\": \"OPEN\"",
      "\"banner\": {\"code\": 220, \"enhanced\": \"\", \"lines\": [\"220 mx.example.test ESMTP "
      "\\u001b[2J\"]}",
      "{\"send\": \"RCPT TO:<relaytest@example.net>\", \"sent\": true, \"reply\": {\"code\": 554, "
      "\"enhanced\": \"5.7.1\", \"lines\": [\"554 5.7.1 Relay \\\"denied\\\"\"]}}",
      "\"summary\": {\"targets\": 2, \"OPEN\": 1, \"CLOSED\": 1, \"TEMPFAIL\": 0, "
      "\"AUTH-REQUIRED\": 0, \"INCONCLUSIVE\": 0}",
      "\"exit\": 1}",
      "\"capabilities\": {\"esmtp\": true, \"pipelining\": true, \"starttls\": false, "
      "\"xclient\": false, \"keywords\": [\"PIPELINING\"]}",
  };
  for (const auto& w : wants) {
    EXPECT_NE(j.find(w), std::string::npos) << "want: " << w << "\ngot:\n" << j;
  }
  // Balanced brackets outside strings: a cheap structural check (pytest parses it for real).
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (in_string) {
      if (j[i] == '\\')
        ++i;
      else if (j[i] == '"')
        in_string = false;
      continue;
    }
    if (j[i] == '"') in_string = true;
    if (j[i] == '{' || j[i] == '[') ++depth;
    if (j[i] == '}' || j[i] == ']') --depth;
    ASSERT_GE(depth, 0) << "at " << i;
  }
  EXPECT_EQ(depth, 0);
  EXPECT_FALSE(in_string);
}

TEST(Output, TestList) {
  const std::string list = format_test_list();
  for (const auto& row : catalogue()) {
    EXPECT_NE(list.find(std::string(row.id) + " "), std::string::npos) << row.id;
    EXPECT_NE(list.find(std::string(row.reference)), std::string::npos) << row.id;
  }
  EXPECT_NE(list.find("XCLIENT ADDR=127.0.0.1, EHLO, then MAIL FROM:<{from}> RCPT TO:<{to}@{T}>"),
            std::string::npos);
}

}  // namespace
}  // namespace mx::probe
