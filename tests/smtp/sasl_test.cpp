#include "smtp/sasl.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "core/base64.hpp"

namespace mx::smtp::sasl {
namespace {

using namespace std::string_literals;

// "ok:<octets>" or "<code> <enhanced> <text>": one string per outcome, so a table can hold both.
template <class T, class F>
std::string outcome(const expected<T, reply>& got, F show) {
  if (!got)
    return fmt::format("{} {} {}", got.error().code, got.error().enhanced, got.error().text());
  return "ok:" + show(*got);
}

std::string show_plain(const plain_credentials& c) {
  return fmt::format("[{}][{}][{}]", c.authzid, c.authcid, c.password);
}

TEST(sasl, decode_response) {
  struct test_case {
    std::string line;
    response_kind kind;
    std::string want;
  };
  const test_case cases[] = {
      {"YWxpY2U=", response_kind::continuation, "ok:alice"},
      {"YWxpY2U=", response_kind::initial, "ok:alice"},
      {"", response_kind::continuation, "ok:"},
      {"=", response_kind::initial, "ok:"},
      {"=", response_kind::continuation, "501 5.5.2 Cannot decode response"},
      {"*", response_kind::continuation, "501 5.7.0 Authentication aborted"},
      {"*", response_kind::initial, "501 5.5.2 Cannot decode response"},
      {"YWxpY2U", response_kind::continuation, "501 5.5.2 Cannot decode response"},    // no padding
      {"YWxp Y2U=", response_kind::continuation, "501 5.5.2 Cannot decode response"},  // space
      {"YWxpY2V=", response_kind::continuation, "501 5.5.2 Cannot decode response"},  // unused bits
      {"not base64!", response_kind::initial, "501 5.5.2 Cannot decode response"},
  };
  for (const auto& c : cases) {
    const auto got =
        outcome(decode_response(c.line, c.kind), [](const std::string& s) { return s; });
    EXPECT_EQ(got, c.want) << "line: " << c.line << " kind: " << static_cast<int>(c.kind);
  }
}

TEST(sasl, parse_plain) {
  const std::string invalid = "501 5.5.2 Invalid PLAIN response";
  const std::pair<std::string, std::string> cases[] = {
      {"\0alice\0secret"s, "ok:[][alice][secret]"},
      {"alice\0alice\0secret"s, "ok:[alice][alice][secret]"},
      {"\0alice\0"s, "ok:[][alice][]"},
      {"\0alice\0p w:\xc3\xa9"s, "ok:[][alice][p w:\xc3\xa9]"},
      {"bob\0alice\0secret"s, invalid},  // proxy authorization is not offered
      {"\0\0secret"s, invalid},          // empty authcid
      {"alice\0secret"s, invalid},       // one NUL
      {"alicesecret"s, invalid},         // no NUL
      {"\0alice\0sec\0ret"s, invalid},   // three NULs
      {""s, invalid},
  };
  for (const auto& [message, want] : cases) {
    EXPECT_EQ(outcome(parse_plain(message), show_plain), want)
        << "message: " << base64::encode(message);
  }
}

TEST(sasl, decode_plain_round_trips_encode_plain) {
  struct test_case {
    std::string authzid, authcid, password;
  };
  const test_case cases[] = {
      {"", "alice", "secret"},
      {"alice", "alice", "secret"},
      {"", "a", ""},
      {"", "user@example.test", std::string(300, 'x')},
      {"", "\xc3\xa9l\xc3\xa8ve", "\x01\x02\xff"},
  };
  for (const auto& c : cases) {
    const std::string line = encode_plain(c.authzid, c.authcid, c.password);
    const auto got = decode_plain(line);
    ASSERT_TRUE(got) << "line: " << line << " got: " << got.error().text();
    EXPECT_EQ(show_plain(*got), show_plain({c.authzid, c.authcid, c.password})) << "line: " << line;
  }
}

TEST(sasl, decode_plain_errors) {
  const std::pair<std::string, std::string> cases[] = {
      {"*", "501 5.7.0 Authentication aborted"},
      {"AGFsaWNlAHNlY3JldA", "501 5.5.2 Cannot decode response"},
      {"Ym9iAGFsaWNlAHNlY3JldA==", "501 5.5.2 Invalid PLAIN response"},
      {"YWxpY2U=", "501 5.5.2 Invalid PLAIN response"},
  };
  for (const auto& [line, want] : cases) {
    EXPECT_EQ(outcome(decode_plain(line), show_plain), want) << "line: " << line;
  }
  // "=" is an empty initial response: it decodes, and an empty PLAIN message is invalid.
  EXPECT_EQ(outcome(decode_plain("=", response_kind::initial), show_plain),
            "501 5.5.2 Invalid PLAIN response");
}

TEST(sasl, finish_login) {
  struct test_case {
    std::string user, password, want;
  };
  const test_case cases[] = {
      {"alice", "secret", "ok:[alice][secret]"},
      {"alice", "", "ok:[alice][]"},
      {"", "secret", "501 5.5.2 Invalid LOGIN response"},
      {"ali\0ce"s, "secret", "501 5.5.2 Invalid LOGIN response"},
  };
  for (const auto& c : cases) {
    const auto got = outcome(finish_login(c.user, c.password), [](const login_credentials& l) {
      return fmt::format("[{}][{}]", l.user, l.password);
    });
    EXPECT_EQ(got, c.want) << "user: " << c.user;
  }
}

TEST(sasl, challenges) {
  const std::pair<reply, std::string> cases[] = {
      {login_user_challenge(), "334 VXNlcm5hbWU6\r\n"},
      {login_password_challenge(), "334 UGFzc3dvcmQ6\r\n"},
      {plain_challenge(), "334 \r\n"},
  };
  for (const auto& [r, want] : cases) EXPECT_EQ(r.wire(), want);
}

}  // namespace
}  // namespace mx::smtp::sasl
