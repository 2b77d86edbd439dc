#include "policy/sender_login.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mx::policy {
namespace {

smtp::address sender(std::string_view path) {
  const auto a =
      smtp::parse_address(path, smtp::parse_options{.smtputf8 = true, .allow_null = true});
  EXPECT_TRUE(a) << "bad test path " << path;
  return a ? *a : smtp::address{};
}

const char* const map_text =
    "# who may send as whom\n"
    "alice@example.test      alice\n"
    "Info@Example.Test.      alice, bob   # shared\n"
    "\n"
    "@example.org            carol,dave\teve\n"
    "special@example.org     frank\r\n"
    "\"first.last\"@example.test  grace\n"
    "team@example.test       x#1\n"
    "  @example.net          Alice\n";

TEST(sender_login, allowed) {
  const auto map = parse_sender_login_map(map_text, "senders");
  ASSERT_TRUE(map) << map.error().to_string();
  EXPECT_EQ(map->size(), 7u);
  struct test_case {
    std::string path, user;
    bool want;
  };
  const test_case cases[] = {
      {"<alice@example.test>", "alice", true},
      {"<ALICE@EXAMPLE.TEST>", "alice", true},   // local part folded, domain canonical
      {"<alice@example.test.>", "alice", true},  // trailing dot
      {"<alice@example.test>", "Alice", false},  // owners are case-sensitive
      {"<alice@example.test>", "bob", false},
      {"<info@example.test>", "alice", true},
      {"<info@example.test>", "bob", true},
      {"<info@example.test>", "carol", false},
      {"<anyone@example.org>", "carol", true},  // @domain
      {"<anyone@example.org>", "dave", true},
      {"<anyone@example.org>", "eve", true},
      {"<anyone@example.org>", "frank", false},
      {"<special@example.org>", "frank", true},
      {"<special@example.org>", "carol", false},     // the full address decides, not @domain
      {"<first.last@example.test>", "grace", true},  // "first.last" quoted in the map
      {"<team@example.test>", "x#1", true},
      {"<x@example.net>", "Alice", true},
      {"<x@example.net>", "alice", false},
      {"<bob@example.test>", "bob", false},  // unmapped: owned by nobody
      {"<alice@sub.example.test>", "alice", false},
      {"<alice@elsewhere.example>", "alice", false},
      {"<>", "alice", true},  // the null sender has no owner
      {"<>", "nobody", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(map->allowed(sender(c.path), c.user), c.want)
        << "sender " << c.path << " user " << c.user;
  }
}

TEST(sender_login, owners_for_logs) {
  const auto map = parse_sender_login_map(map_text, "senders");
  ASSERT_TRUE(map) << map.error().to_string();
  const std::pair<std::string, std::string> cases[] = {
      {"<info@example.test>", "alice,bob"},
      {"<z@example.org>", "carol,dave,eve"},
      {"<nobody@example.test>", "(none)"},
      {"<>", "(none)"},
  };
  for (const auto& [path, want] : cases) {
    const auto* o = map->owners(sender(path));
    std::string got = "(none)";
    if (o != nullptr) {
      got.clear();
      for (const auto& name : *o) got += (got.empty() ? "" : ",") + name;
    }
    EXPECT_EQ(got, want) << "sender " << path;
  }
}

TEST(sender_login, errors_name_the_line) {
  struct test_case {
    std::string text;
    int want_line;
    std::string want_fragment;
  };
  const test_case cases[] = {
      {"alice@example.test\n", 1, "has no owner"},
      {"a@example.test a\nalice@example.test ,\n", 2, "has no owner"},
      {"alice a\n", 1, "is not an address"},
      {"@bad..domain a\n", 1, "bad domain"},
      {"@ a\n", 1, "bad domain"},
      {"a b@example.test x\n", 1, "is not an address"},
      {"a%b@example.test x\n", 1, "not a plain"},
      {"a!b@example.test x\n", 1, "not a plain"},
      {"@a,@b:c@example.test x\n", 1, "not a plain"},  // a source route
      {"a@example.test x\n\n# c\nA@EXAMPLE.TEST y\n", 4,
       "a@example.test listed twice (first on line 1)"},
      {"@example.org x\n@Example.Org. y\n", 2, "@example.org listed twice"},
      {"a@example.test x\x01y\n", 1, "control character"},
      {std::string("a@example.test x\0y\n", 19), 1, "NUL"},
  };
  for (const auto& c : cases) {
    const auto got = parse_sender_login_map(c.text, "senders");
    ASSERT_FALSE(got) << "text: " << c.text;
    EXPECT_EQ(got.error().line, c.want_line)
        << "text: " << c.text << " got: " << got.error().to_string();
    EXPECT_NE(got.error().message.find(c.want_fragment), std::string::npos)
        << "text: " << c.text << "\ngot: " << got.error().message
        << "\nwant fragment: " << c.want_fragment;
    EXPECT_EQ(got.error().to_string().rfind("senders:" + std::to_string(c.want_line) + ": ", 0), 0u)
        << "got: " << got.error().to_string();
  }
}

TEST(sender_login, empty_map_allows_only_the_null_sender) {
  const auto map = parse_sender_login_map("# nothing\n", "senders");
  ASSERT_TRUE(map) << map.error().to_string();
  const std::pair<std::string, bool> cases[] = {{"<alice@example.test>", false}, {"<>", true}};
  for (const auto& [path, want] : cases) {
    EXPECT_EQ(map->allowed(sender(path), "alice"), want) << "sender " << path;
  }
}

TEST(sender_login, reply) {
  const std::pair<std::string, std::string> cases[] = {
      {"<Bob@Example.Test>",
       "553 5.7.1 <Bob@Example.Test>: Sender address rejected: not owned by user alice\r\n"},
      {"<\"a b\"@example.test>",
       "553 5.7.1 <\"a b\"@example.test>: Sender address rejected: not owned by user alice\r\n"},
  };
  for (const auto& [path, want] : cases) {
    EXPECT_EQ(sender_not_owned(sender(path), "alice").wire(), want) << "sender " << path;
  }
  // A user name cannot split the reply.
  EXPECT_EQ(sender_not_owned(sender("<a@example.test>"), "x\r\n250 ok").wire(),
            "553 5.7.1 <a@example.test>: Sender address rejected: not owned by user x  250 ok\r\n");
}

}  // namespace
}  // namespace mx::policy
