#include "policy/credentials.hpp"

#include <crypt.h>
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

namespace mx::policy {
namespace {

using namespace std::string_literals;

// A fresh hash of `password` with libxcrypt's own salt generator: the test never hard-codes a
// hash, so it checks what crypt produces today. Low costs keep the test fast.
std::string make_hash(std::string_view prefix, unsigned long count, const std::string& password) {
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> setting{};
  const char* s = crypt_gensalt_rn(std::string(prefix).c_str(), count, nullptr, 0, setting.data(),
                                   static_cast<int>(setting.size()));
  EXPECT_NE(s, nullptr) << "prefix: " << prefix;
  if (s == nullptr) return "";
  const auto h = crypt_hash(password, s);
  EXPECT_TRUE(h) << "setting: " << s;
  return h.value_or("");
}

struct method {
  std::string scheme;  // as written in the file
  std::string prefix;
  unsigned long count;
};
const method methods[] = {
    {"{CRYPT}", "$y$", 1},           {"", "$y$", 1},  // no {SCHEME}: CRYPT, as Dovecot reads it
    {"{BLF-CRYPT}", "$2b$", 4},      {"{CRYPT}", "$2b$", 4},
    {"{SHA512-CRYPT}", "$6$", 1000}, {"{sha512-crypt}", "$6$", 1000},
    {"{SHA256-CRYPT}", "$5$", 1000}, {"{MD5-CRYPT}", "$1$", 0},
    {"{CRYPT}", "$gy$", 1},          {"{CRYPT}", "$7$", 6},
};

TEST(credentials, verify_every_scheme) {
  for (const auto& m : methods) {
    const std::string hash = make_hash(m.prefix, m.count, "correct horse");
    const std::string text = "# users\n\nalice:" + m.scheme + hash + "\nbob:" + m.scheme +
                             make_hash(m.prefix, m.count, "battery staple") +
                             ":1000:1000::/home/bob::userdb_quota_rule=*:storage=1G\n";
    const auto table = parse_passwd(text, "passwd");
    ASSERT_TRUE(table) << table.error().to_string() << "\ntext: " << text;
    EXPECT_EQ(table->size(), 2u) << "text: " << text;
    struct login {
      std::string user, password;
      bool want;
    };
    const login cases[] = {
        {"alice", "correct horse", true},
        {"bob", "battery staple", true},
        {"alice", "battery staple", false},  // another user's password
        {"alice", "correct horsE", false},
        {"alice", "correct horse ", false},
        {"alice", "", false},
        {"alice", "correct horse\0junk"s, false},  // crypt would stop at the NUL
        {"Alice", "correct horse", false},         // user names are case-sensitive
        {"carol", "correct horse", false},         // unknown user (hashes the dummy)
        {"", "correct horse", false},
    };
    for (const auto& c : cases) {
      EXPECT_EQ(table->verify(c.user, c.password), c.want)
          << "scheme " << m.scheme << m.prefix << " user " << c.user << " password " << c.password;
    }
    const credential* alice = table->find("alice");
    ASSERT_NE(alice, nullptr);
    EXPECT_EQ(alice->hash, hash);
    EXPECT_EQ(alice->line, 3);
  }
}

TEST(credentials, yescrypt_setting_round_trips) {
  std::array<unsigned char, 16> random{};
  for (std::size_t i = 0; i < random.size(); ++i)
    random[i] = static_cast<unsigned char>(i * 37 + 1);
  const auto setting = yescrypt_setting(random);
  ASSERT_TRUE(setting);
  EXPECT_EQ(setting->substr(0, 7), "$y$j9T$") << "got: " << *setting;
  const auto hash = crypt_hash("s3cret pass", *setting);
  ASSERT_TRUE(hash);
  const auto table = parse_passwd("u:{CRYPT}" + *hash + "\n", "passwd");
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_TRUE(table->verify("u", "s3cret pass"));
  EXPECT_FALSE(table->verify("u", "s3cret pas"));
  EXPECT_FALSE(yescrypt_setting(std::span(random).first(8))) << "8 random octets are too few";
}

TEST(credentials, errors_name_the_line) {
  const std::string y = make_hash("$y$", 1, "pw");
  const std::string six = make_hash("$6$", 1000, "pw");
  const std::string bf = make_hash("$2b$", 4, "pw");
  struct test_case {
    std::string text;
    int want_line;
    std::string want_fragment;
  };
  const test_case cases[] = {
      {"# c\nalice\n", 2, "expected user:{SCHEME}hash"},
      {":{CRYPT}" + y + "\n", 1, "empty user name"},
      {"al ice:{CRYPT}" + y + "\n", 1, "space or a control"},
      {"al\tice:{CRYPT}" + y + "\n", 1, "space or a control"},
      {"alice:\n", 1, "no password hash"},
      {"alice::1000\n", 1, "no password hash"},
      {"a:" + y + "\n\n\nalice:{PLAIN}secret\n", 4, "plaintext scheme {PLAIN} refused"},
      {"alice:{CLEARTEXT}secret\n", 1, "plaintext scheme"},
      {"alice:{plain-trunc}secret\n", 1, "plaintext scheme"},
      {"alice:{SSHA}abcd\n", 1, "unsupported password scheme {SSHA}"},
      {"alice:{ARGON2ID}$argon2id$v=19$m=65536\n", 1, "unsupported password scheme"},
      {"alice:{CRYPT\n", 1, "unterminated {SCHEME}"},
      {"alice:{CRYPT}abJnggxhB/yWI\n", 1, "traditional DES"},
      {"alice:abJnggxhB/yWI\n", 1, "traditional DES"},
      {"alice:{CRYPT}_J9..abcdabcdefghijk\n", 1, "traditional DES"},
      {"alice:{CRYPT}$3$$8846f7eaee8fb117ad06bdd830b7586c\n", 1, "unknown or too weak"},
      {"alice:{CRYPT}$md5$abc$def\n", 1, "unknown or too weak"},
      {"alice:{SHA512-CRYPT}" + y + "\n", 1, "found a $y$ hash"},
      {"alice:{BLF-CRYPT}" + six + "\n", 1, "found a $6$ hash"},
      {"alice:{MD5-CRYPT}" + bf + "\n", 1, "found a $2b$ hash"},
      {"alice:{SHA512-CRYPT}abc\n", 1, "expected a SHA-512"},
      {"alice:{CRYPT}" + y.substr(0, y.size() - 1) + "\n", 1, "incomplete $y$ hash"},
      {"alice:{CRYPT}" + six.substr(0, six.size() - 5) + "\n", 1, "incomplete $6$ hash"},
      {"alice:{CRYPT}" + bf + "x\n", 1, "incomplete $2b$ hash"},
      {"alice:{CRYPT}$6$saltonly\n", 1, "incomplete $6$ hash"},
      {"alice:{CRYPT}$y$\n", 1, "incomplete $y$ hash"},
      {"alice:{CRYPT}$y$j9T$ab c$x\n", 1, "invalid character"},
      {"alice:" + y + "\r\nbob:" + y + "\r\nalice:" + six + "\r\n", 3,
       "user alice defined twice (first on line 1)"},
  };
  for (const auto& c : cases) {
    const auto got = parse_passwd(c.text, "users.passwd");
    ASSERT_FALSE(got) << "text: " << c.text;
    EXPECT_EQ(got.error().line, c.want_line)
        << "text: " << c.text << " got: " << got.error().to_string();
    EXPECT_NE(got.error().message.find(c.want_fragment), std::string::npos)
        << "text: " << c.text << "\ngot: " << got.error().message
        << "\nwant fragment: " << c.want_fragment;
    EXPECT_EQ(
        got.error().to_string().rfind("users.passwd:" + std::to_string(c.want_line) + ": ", 0), 0u)
        << "got: " << got.error().to_string();
  }
}

TEST(credentials, comments_blank_lines_and_crlf) {
  const std::string y = make_hash("$y$", 1, "pw");
  const std::string text = "  # indented comment\r\n\t\r\n\nalice:" + y + "\r\n#bob:" + y + "\n";
  const auto table = parse_passwd(text, "p");
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->size(), 1u);
  EXPECT_TRUE(table->verify("alice", "pw"));
  EXPECT_EQ(table->find("bob"), nullptr) << "a commented-out user must not exist";
}

TEST(credentials, empty_table_refuses_everyone) {
  for (const std::string text : {"", "# nobody\n", "\n\n"}) {
    const auto table = parse_passwd(text, "p");
    ASSERT_TRUE(table) << table.error().to_string();
    EXPECT_TRUE(table->empty());
    EXPECT_FALSE(table->verify("alice", "pw")) << "text: " << text;
  }
  EXPECT_FALSE(credential_table{}.verify("alice", "pw"));
}

TEST(credentials, tables_have_distinct_generations) {
  const auto a = parse_passwd("", "p");
  const auto b = parse_passwd("", "p");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->generation(), b->generation());
  const credential_table copy = *a;
  EXPECT_EQ(copy.generation(), a->generation());
}

std::array<unsigned char, verify_cache::key_size> test_key() {
  std::array<unsigned char, verify_cache::key_size> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(i);
  return k;
}

TEST(verify_cache, hits_only_after_a_success) {
  const std::string text =
      "alice:" + make_hash("$y$", 1, "pw-a") + "\nbob:" + make_hash("$y$", 1, "pw-b") + "\n";
  const auto table = parse_passwd(text, "p");
  ASSERT_TRUE(table) << table.error().to_string();
  verify_cache cache(16, test_key());
  struct step {
    std::string user, password;
    bool want;
    std::uint64_t want_hits, want_misses;
    std::size_t want_size;
  };
  const step steps[] = {
      {"alice", "wrong", false, 0, 1, 0},  // failures are not cached
      {"alice", "wrong", false, 0, 2, 0},
      {"alice", "pw-a", true, 0, 3, 1},   // slow path, remembered
      {"alice", "pw-a", true, 1, 3, 1},   // hit
      {"alice", "pw-b", false, 1, 4, 1},  // a wrong password misses and fails
      {"alice", "pw-a", true, 2, 4, 1},
      {"bob", "pw-a", false, 2, 5, 1},  // alice's password is not bob's
      {"bob", "pw-b", true, 2, 6, 2},
      {"carol", "pw-a", false, 2, 7, 2},
      {"Alice", "pw-a", false, 2, 8, 2},
  };
  for (const auto& s : steps) {
    EXPECT_EQ(cache.verify(*table, s.user, s.password), s.want) << s.user << " / " << s.password;
    EXPECT_EQ(cache.hits(), s.want_hits) << s.user << " / " << s.password;
    EXPECT_EQ(cache.misses(), s.want_misses) << s.user << " / " << s.password;
    EXPECT_EQ(cache.size(), s.want_size) << s.user << " / " << s.password;
  }
}

TEST(verify_cache, known_answers_only_from_the_cache) {
  const auto table = parse_passwd("alice:" + make_hash("$y$", 1, "pw-a") + "\n", "p");
  ASSERT_TRUE(table) << table.error().to_string();
  verify_cache cache(16, test_key());
  struct step {
    const char* op;  // "known" or "verify"
    std::string user, password;
    bool want;
    std::uint64_t want_hits, want_misses;
  };
  const step steps[] = {
      {"known", "alice", "pw-a", false, 0, 0},  // never verified: unknown, nothing counted
      {"verify", "alice", "pw-a", true, 0, 1},
      {"known", "alice", "pw-a", true, 1, 1},   // now a hit
      {"known", "alice", "wrong", false, 1, 1},
      {"known", "bob", "pw-a", false, 1, 1},
  };
  for (const auto& s : steps) {
    const bool got = std::string(s.op) == "known" ? cache.known(*table, s.user, s.password)
                                                  : cache.verify(*table, s.user, s.password);
    EXPECT_EQ(got, s.want) << s.op << " " << s.user << " / " << s.password;
    EXPECT_EQ(cache.hits(), s.want_hits) << s.op << " " << s.user;
    EXPECT_EQ(cache.misses(), s.want_misses) << s.op << " " << s.user;
  }
  // Another table generation: nothing is known any more.
  const auto again = parse_passwd("alice:" + make_hash("$y$", 1, "pw-a") + "\n", "p");
  ASSERT_TRUE(again);
  EXPECT_FALSE(cache.known(*again, "alice", "pw-a"));
}

TEST(verify_cache, invalidated_when_the_table_changes) {
  const std::string old_hash = make_hash("$y$", 1, "old");
  const auto before = parse_passwd("alice:" + old_hash + "\nbob:" + old_hash + "\n", "p");
  ASSERT_TRUE(before);
  verify_cache cache(16, test_key());
  ASSERT_TRUE(cache.verify(*before, "alice", "old"));
  ASSERT_TRUE(cache.verify(*before, "alice", "old"));
  ASSERT_EQ(cache.hits(), 1u);

  // Reloaded: alice has a new password, bob is gone. Neither may log in with the old one.
  const auto after = parse_passwd("alice:" + make_hash("$y$", 1, "new") + "\n", "p");
  ASSERT_TRUE(after);
  struct test_case {
    std::string user, password;
    bool want;
  };
  const test_case cases[] = {{"alice", "old", false},
                             {"bob", "old", false},
                             {"alice", "new", true},
                             {"alice", "new", true}};
  for (const auto& c : cases) {
    EXPECT_EQ(cache.verify(*after, c.user, c.password), c.want) << c.user << " / " << c.password;
  }
  EXPECT_EQ(cache.hits(), 2u) << "only the second alice/new is a hit";
  EXPECT_EQ(cache.size(), 1u);

  // The same table again (a copy shares its generation) keeps the entries.
  const credential_table copy = *after;
  EXPECT_TRUE(cache.verify(copy, "alice", "new"));
  EXPECT_EQ(cache.hits(), 3u);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(verify_cache, bounded_least_recently_used_first) {
  std::string text;
  const std::string hash = make_hash("$5$", 1000, "pw");
  for (int i = 0; i < 5; ++i) text += "u" + std::to_string(i) + ":" + hash + "\n";
  const auto table = parse_passwd(text, "p");
  ASSERT_TRUE(table) << table.error().to_string();
  verify_cache cache(3, test_key());
  for (const char* u : {"u0", "u1", "u2", "u0", "u3"}) ASSERT_TRUE(cache.verify(*table, u, "pw"));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.hits(), 1u);  // the second u0
  // u1 was the least recently used when u3 came: evicted. u0, u2 and u3 are still there.
  const std::pair<const char*, std::uint64_t> cases[] = {
      {"u0", 2}, {"u2", 3}, {"u3", 4}, {"u1", 4}};
  for (const auto& [user, want_hits] : cases) {
    EXPECT_TRUE(cache.verify(*table, user, "pw"));
    EXPECT_EQ(cache.hits(), want_hits) << "user: " << user;
  }
  EXPECT_EQ(cache.size(), 3u);
  verify_cache none(0, test_key());
  EXPECT_TRUE(none.verify(*table, "u0", "pw"));
  EXPECT_EQ(none.size(), 0u) << "capacity 0 disables the cache";
}

TEST(verify_cache, random_key_and_threads) {
  const auto table = parse_passwd("alice:" + make_hash("$5$", 1000, "pw") + "\n", "p");
  ASSERT_TRUE(table);
  verify_cache cache;
  ASSERT_TRUE(cache.enabled());
  std::vector<std::thread> threads;
  std::array<int, 4> ok{};
  for (std::size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        ok[t] += cache.verify(*table, "alice", "pw") ? 1 : 0;
        ok[t] += cache.verify(*table, "alice", "nope") ? 100 : 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (std::size_t t = 0; t < ok.size(); ++t) EXPECT_EQ(ok[t], 25) << "thread " << t;
  EXPECT_EQ(cache.hits() + cache.misses(), 200u);
  EXPECT_GE(cache.hits(), 96u) << "every success after the first ones is a hit";
}

}  // namespace
}  // namespace mx::policy
