#include "policy/recipients.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace mx::policy {
namespace {

const std::vector<std::string> domains = {"example.test", "example.org"};

TEST(recipient_table, lookups) {
  const auto t = recipient_table::parse(
      "# users\n"
      "alice@example.test\n"
      "Bob@Example.Test   robert   # alias to a mailbox name\n"
      "\n"
      "@example.org catchall\n"
      "\"quoted.user\"@example.test\n",
      "recipients", domains);
  ASSERT_TRUE(t) << t.error().to_string();
  struct lookup_case {
    std::string local, domain;
    std::optional<mailbox_ref> want;
  };
  const lookup_case cases[] = {
      {"alice", "example.test", mailbox_ref{"example.test", "alice"}},
      {"ALICE", "example.test", mailbox_ref{"example.test", "alice"}},
      {"bob", "example.test", mailbox_ref{"example.test", "robert"}},
      {"robert", "example.test", std::nullopt},
      {"carol", "example.test", std::nullopt},
      {"postmaster", "example.test", mailbox_ref{"example.test", "postmaster"}},
      {"PostMaster", "example.test", mailbox_ref{"example.test", "postmaster"}},
      {"postmaster", "example.org", mailbox_ref{"example.org", "postmaster"}},
      {"anyone", "example.org", mailbox_ref{"example.org", "catchall"}},
      {"quoted.user", "example.test", mailbox_ref{"example.test", "quoted.user"}},
      {"alice", "elsewhere.example", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto got = t->find(c.local, c.domain);
    const auto show = [](const std::optional<mailbox_ref>& m) {
      return m ? m->domain + "/" + m->name : std::string("unknown");
    };
    EXPECT_EQ(show(got), show(c.want)) << c.local << "@" << c.domain;
  }
}

TEST(recipient_table, errors_name_the_line) {
  struct error_case {
    std::string text;
    int want_line;
    std::string want_fragment;
  };
  const error_case cases[] = {
      {"alice@example.test\nbob@evil.example\n", 2, "not in smtpd.local_domains"},
      {"alice\n", 1, "not an address"},
      {"@example.org\n", 1, "needs a mailbox name"},
      {"@example.org a\n@example.org b\n", 2, "second catch-all"},
      {"a@example.test ../etc\n", 1, "bad mailbox name"},
      {"a@example.test .hidden\n", 1, "bad mailbox name"},
      {"a/b@example.test\n", 1, "bad mailbox name"},
      {"a%b@example.test\n", 1, "not a plain"},
      {"a@example.test x y\n", 1, "expected"},
      {"a@-bad-.test\n", 1, "bad domain"},
      {"a@example.test " + std::string(65, 'm') + "\n", 1, "bad mailbox name"},
  };
  for (const auto& c : cases) {
    const auto got = recipient_table::parse(c.text, "rcpts", domains);
    ASSERT_FALSE(got) << "text: " << c.text;
    EXPECT_EQ(got.error().line, c.want_line) << "text: " << c.text << " got: " << got.error().to_string();
    EXPECT_NE(got.error().message.find(c.want_fragment), std::string::npos)
        << "text: " << c.text << " got: " << got.error().message << " want fragment: " << c.want_fragment;
  }
}

TEST(recipient_table, mailbox_names) {
  const std::pair<std::string, bool> cases[] = {
      {"alice", true},      {"a.b", true},   {"", false},        {".", false},
      {"..", false},        {"a/b", false},  {".x", false},      {std::string("a\0b", 3), false},
      {"a\nb", false},      {std::string(64, 'x'), true},        {std::string(65, 'x'), false},
      {"j\xc3\xb6rg", true},
  };
  for (const auto& [name, want] : cases) {
    EXPECT_EQ(valid_mailbox_name(name), want) << "name: " << name;
  }
}

}  // namespace
}  // namespace mx::policy
