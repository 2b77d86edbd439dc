#include "dns/name.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace mx::dns {
namespace {

std::string hex(std::span<const std::uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

std::vector<std::uint8_t> bytes_of(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (const int v : list) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

// A name of `labels` labels of `len` octets each ("aaa.aaa...").
std::string long_name(std::size_t labels, std::size_t len) {
  std::string out;
  for (std::size_t i = 0; i < labels; ++i) {
    if (i > 0) out.push_back('.');
    out.append(len, 'a');
  }
  return out;
}

struct text_case {
  std::string input;
  std::optional<std::string> want;  // to_text() of the result, nullopt for refused
  std::size_t want_labels = 0;
};

TEST(name, from_text_table) {
  const text_case cases[] = {
      {"bl.example.test", "bl.example.test", 3},
      {"bl.example.test.", "bl.example.test", 3},
      {"BL.Example.TEST", "BL.Example.TEST", 3},  // case kept
      {".", ".", 0},
      {"", std::nullopt},
      {"a..b", std::nullopt},
      {".a", std::nullopt},
      {"a.b..", std::nullopt},
      {std::string(63, 'x'), std::string(63, 'x'), 1},
      {std::string(64, 'x'), std::nullopt},
      {long_name(127, 1), long_name(127, 1), 127},  // 127*2+1 = 255 octets
      {long_name(128, 1), std::nullopt},
      {long_name(4, 63), std::nullopt},  // 4*64+1 = 257 octets
      {long_name(3, 63) + "." + std::string(61, 'b'), long_name(3, 63) + "." + std::string(61, 'b'),
       4},  // exactly 255
      {"a\\.b.test", "a\\.b.test", 2},
      {"a\\046b.test", "a\\.b.test", 2},
      {"a\\000b", "a\\000b", 1},
      {"a\\25", std::nullopt},
      {"a\\256", std::nullopt},
      {"a\\", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto got = name::from_text(c.input);
    if (!c.want) {
      EXPECT_FALSE(got.has_value())
          << "input: " << c.input << " got: " << got->to_text() << " want: refused";
      continue;
    }
    ASSERT_TRUE(got.has_value()) << "input: " << c.input << " got: refused want: " << *c.want;
    EXPECT_EQ(got->to_text(), *c.want) << "input: " << c.input;
    EXPECT_EQ(got->label_count(), c.want_labels) << "input: " << c.input;
    // The text form reads back as the same name.
    const auto again = name::from_text(got->to_text());
    ASSERT_TRUE(again.has_value()) << "input: " << c.input;
    EXPECT_EQ(*again, *got) << "input: " << c.input;
  }
}

struct relation_case {
  std::string a, b;
  bool want_equal;
  bool want_a_under_b;
};

TEST(name, compare_table) {
  const relation_case cases[] = {
      {"bl.example.test", "BL.EXAMPLE.test", true, true},
      {"2.0.0.127.bl.example.test", "bl.example.test", false, true},
      {"bl.example.test", "2.0.0.127.bl.example.test", false, false},
      {"xbl.example.test", "bl.example.test", false, false},  // label boundary, not substring
      {"bl.example.test", ".", false, true},
      {".", ".", true, true},
      {"a.b", "a.c", false, false},
  };
  for (const auto& c : cases) {
    const auto a = *name::from_text(c.a);
    const auto b = *name::from_text(c.b);
    EXPECT_EQ(a.equals_ci(b), c.want_equal) << c.a << " vs " << c.b;
    EXPECT_EQ(a.is_subdomain_of(b), c.want_a_under_b) << c.a << " under " << c.b;
  }
}

TEST(name, suffix_and_lower) {
  auto n = *name::from_text("WWW.Example.Test");
  EXPECT_EQ(n.suffix(1).to_text(), "Example.Test");
  EXPECT_EQ(n.suffix(3).to_text(), ".");
  n.to_lower();
  EXPECT_EQ(n.to_text(), "www.example.test");
  EXPECT_EQ(n.label_offset(1), 4u);
  EXPECT_EQ(n.label_offset(3), n.wire_length() - 1);
}

struct read_case {
  std::string what;
  std::vector<std::uint8_t> msg;
  std::size_t start;
  std::optional<std::string> want;  // text, or nullopt for an error
  name_error want_error = name_error::truncated;
  std::size_t want_pos = 0;  // pos after a successful read
};

std::vector<std::uint8_t> with_header(const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> out(12, 0);
  for (const auto b : body) out.push_back(b);
  return out;
}

TEST(name, read_table) {
  std::vector<std::uint8_t> max_ok;  // 255 octets: three 63-octet labels and one of 61
  std::vector<std::uint8_t> too_long;
  for (int i = 0; i < 3; ++i) {
    max_ok.push_back(63);
    max_ok.insert(max_ok.end(), 63, 'a');
  }
  too_long = max_ok;
  max_ok.push_back(61);
  max_ok.insert(max_ok.end(), 61, 'b');
  max_ok.push_back(0);
  too_long.push_back(62);
  too_long.insert(too_long.end(), 62, 'b');
  too_long.push_back(0);

  const read_case cases[] = {
      {"plain", with_header(bytes_of({2, 'b', 'l', 4, 't', 'e', 's', 't', 0})), 12, "bl.test",
       name_error::truncated, 21},
      {"root", with_header(bytes_of({0})), 12, ".", name_error::truncated, 13},
      {"case kept", with_header(bytes_of({2, 'B', 'l', 0})), 12, "Bl", name_error::truncated, 16},
      {"backward pointer", with_header(bytes_of({4, 't', 'e', 's', 't', 0, 1, 'x', 0xC0, 12})), 18,
       "x.test", name_error::truncated, 22},
      {"two hops",
       with_header(bytes_of({4, 't', 'e', 's', 't', 0, 1, 'x', 0xC0, 12, 1, 'y', 0xC0, 18})), 22,
       "y.x.test", name_error::truncated, 26},
      {"pointer to itself", with_header(bytes_of({0xC0, 12})), 12, std::nullopt,
       name_error::bad_pointer},
      {"pointer loop through a label", with_header(bytes_of({1, 'a', 0xC0, 12})), 12, std::nullopt,
       name_error::bad_pointer},
      {"two-pointer loop", with_header(bytes_of({1, 'a', 0xC0, 16, 1, 'b', 0xC0, 12})), 16,
       std::nullopt, name_error::bad_pointer},
      {"forward pointer", with_header(bytes_of({0xC0, 14, 1, 'a', 0})), 12, std::nullopt,
       name_error::bad_pointer},
      {"pointer into header", with_header(bytes_of({0xC0, 2})), 12, std::nullopt,
       name_error::bad_pointer},
      {"pointer out of range", with_header(bytes_of({1, 'a', 0xFF, 0xFF})), 12, std::nullopt,
       name_error::bad_pointer},
      {"pointer cut short", with_header(bytes_of({1, 'a', 0xC0})), 12, std::nullopt,
       name_error::truncated},
      {"label type 0x40", with_header(bytes_of({0x41, 'a', 0})), 12, std::nullopt,
       name_error::label_type},
      {"label type 0x80", with_header(bytes_of({0x81, 'a', 0})), 12, std::nullopt,
       name_error::label_type},
      {"label runs past end", with_header(bytes_of({5, 'a', 'b'})), 12, std::nullopt,
       name_error::truncated},
      {"no terminator", with_header(bytes_of({1, 'a'})), 12, std::nullopt, name_error::truncated},
      {"empty", with_header({}), 12, std::nullopt, name_error::truncated},
      {"255 octets", with_header(max_ok), 12, std::string(), name_error::truncated, 12 + 255},
      {"256 octets", with_header(too_long), 12, std::nullopt, name_error::too_long},
  };
  for (const auto& c : cases) {
    std::size_t pos = c.start;
    const auto got = read_name(c.msg, pos);
    if (!c.want) {
      ASSERT_FALSE(got.has_value()) << c.what << ": got " << got->to_text() << " want error";
      EXPECT_EQ(got.error(), c.want_error)
          << c.what << ": got " << describe(got.error()) << " want " << describe(c.want_error);
      continue;
    }
    ASSERT_TRUE(got.has_value()) << c.what << ": got error " << describe(got.error()) << " msg "
                                 << hex(c.msg);
    if (!c.want->empty()) {
      EXPECT_EQ(got->to_text(), *c.want) << c.what;
    }
    EXPECT_EQ(pos, c.want_pos) << c.what;
  }
}

TEST(name, read_long_compression_chain) {
  // 100 pointers each one label longer than the last: legal, and read in bounded time.
  std::vector<std::uint8_t> msg(12, 0);
  msg.push_back(0);  // the root at 12
  std::size_t prev = 12;
  for (int i = 0; i < 100; ++i) {
    const std::size_t here = msg.size();
    msg.push_back(1);
    msg.push_back('a');
    msg.push_back(static_cast<std::uint8_t>(0xC0 | (prev >> 8)));
    msg.push_back(static_cast<std::uint8_t>(prev));
    prev = here;
  }
  std::size_t pos = prev;
  const auto got = read_name(msg, pos);
  ASSERT_TRUE(got.has_value()) << describe(got.error());
  EXPECT_EQ(got->label_count(), 100u);
  EXPECT_EQ(pos, prev + 4);
}

}  // namespace
}  // namespace mx::dns
