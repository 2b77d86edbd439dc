#include "core/base64.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace mx::base64 {
namespace {

TEST(base64, rfc4648_vectors_round_trip) {
  const std::pair<std::string, std::string> cases[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
      {std::string("\0user\0pass", 10), "AHVzZXIAcGFzcw=="},
      {"\xff\xfe\xfd", "//79"},
  };
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(encode(plain), encoded) << "plain: " << plain;
    const auto got = decode(encoded);
    ASSERT_TRUE(got) << "encoded: " << encoded;
    EXPECT_EQ(*got, plain) << "encoded: " << encoded;
  }
}

TEST(base64, strict_decoding_refuses) {
  const std::string bad[] = {
      "Zg",        // no padding
      "Zg=",       // short padding
      "Z===",      // too much padding
      "Zg==Zg==",  // padding in the middle
      "Zm9v YmFy", // whitespace
      "Zm9v\r\n",  // line break
      "Zh==",      // non-zero unused bits (RFC 4648 3.5)
      "Zm9=",      // non-zero unused bits
      "Zm-v",      // URL alphabet
      "Zm_v",      //
      "=Zm9",      // leading padding
      "Zg=a",      // data after padding
      std::string("Zm\0v", 4),
  };
  for (const auto& text : bad) {
    const auto got = decode(text);
    EXPECT_FALSE(got.has_value()) << "input: " << text << " got: " << *got;
  }
}

}  // namespace
}  // namespace mx::base64
