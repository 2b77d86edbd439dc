#include "dns/writer.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "test_wire.hpp"

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

name n(const char* text) {
  return *name::from_text(text);
}

struct compress_case {
  std::string what;
  std::string first;   // written first (as the question)
  std::string second;  // written next
  std::string want_second_hex;
};

TEST(writer, compression_table) {
  const compress_case cases[] = {
      // The question starts at 12 (0x0c): "www.example.test" = 03www 07example 04test 00.
      {"same name", "www.example.test", "www.example.test", "c00c"},
      {"same name other case", "www.example.test", "WWW.EXAMPLE.TEST", "c00c"},
      {"parent", "www.example.test", "example.test", "c010"},
      {"grandparent", "www.example.test", "test", "c018"},
      {"sibling", "www.example.test", "mail.example.test", "046d61696cc010"},
      {"unrelated", "www.example.test", "a.b", "0161016200"},
      {"root", "www.example.test", ".", "00"},
      {"label equal but not a suffix", "example.test", "example.com", "076578616d706c6503636f6d00"},
  };
  for (const auto& c : cases) {
    std::array<std::uint8_t, 512> buf{};
    writer w(buf, buf.size());
    ASSERT_TRUE(w.write_header(testing::make_header(1, 1)));
    ASSERT_TRUE(w.write_name(n(c.first.c_str())));
    const std::size_t before = w.size();
    ASSERT_TRUE(w.write_name(n(c.second.c_str())));
    const std::string got = hex(w.written().subspan(before));
    EXPECT_EQ(got, c.want_second_hex) << c.what;
    // Whatever was written reads back as the name that was given.
    std::size_t pos = before;
    const auto back = read_name(w.written(), pos);
    ASSERT_TRUE(back.has_value()) << c.what << ": " << describe(back.error());
    EXPECT_TRUE(back->equals_ci(n(c.second.c_str())))
        << c.what << ": got " << back->to_text() << " want " << c.second;
  }
}

TEST(writer, chained_compression_reads_back) {
  // Each name reuses the previous one's tail; all read back intact.
  const char* names[] = {"a.b.c.example.test", "x.b.c.example.test", "y.x.b.c.example.test",
                         "example.test",       "z.example.test",     "q.y.x.b.c.example.test"};
  std::array<std::uint8_t, 512> buf{};
  writer w(buf, buf.size());
  ASSERT_TRUE(w.write_header({}));
  std::vector<std::size_t> starts;
  for (const char* t : names) {
    starts.push_back(w.size());
    ASSERT_TRUE(w.write_name(n(t))) << t;
  }
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::size_t pos = starts[i];
    const auto back = read_name(w.written(), pos);
    ASSERT_TRUE(back.has_value()) << names[i] << ": " << describe(back.error());
    EXPECT_EQ(back->to_text(), names[i]);
  }
  // 18+4 ("a.b.c.example.test" + "x"+ptr) ...: the whole lot is much smaller than uncompressed.
  EXPECT_LT(w.size(), 12u + 20u + 4u + 4u + 2u + 4u + 4u + 1u);
}

TEST(writer, limit_and_restore) {
  std::array<std::uint8_t, 64> buf{};
  writer w(buf, 44);
  ASSERT_TRUE(w.write_header(testing::make_header(7, 1)));
  ASSERT_TRUE(w.write_question(n("example.test"), rr_type::a, rr_class::in));  // 12+14+4 = 30
  const auto m = w.save();
  ASSERT_TRUE(w.begin_rr(section::answer, n("example.test"), rr_type::a, rr_class::in, 60));
  const std::array<std::uint8_t, 4> addr{127, 0, 0, 2};
  EXPECT_FALSE(w.write_bytes(addr)) << "30+2+8+2+4 = 46 > 44 must not fit";
  EXPECT_TRUE(w.overflowed());
  w.restore(m);
  EXPECT_FALSE(w.overflowed());
  EXPECT_EQ(w.size(), 30u);
  EXPECT_EQ(w.count(section::answer), 0);

  // reserve() keeps the room for a later record.
  writer r(buf, 64);
  ASSERT_TRUE(r.write_header({}));
  ASSERT_TRUE(r.reserve(11));
  EXPECT_EQ(r.limit(), 53u);
  EXPECT_FALSE(r.reserve(60));
  r.release(11);
  EXPECT_EQ(r.limit(), 64u);
}

TEST(writer, record_counts_and_rdlength) {
  std::array<std::uint8_t, 512> buf{};
  writer w(buf, buf.size());
  ASSERT_TRUE(w.write_header(testing::make_header(0xBEEF, 1)));
  ASSERT_TRUE(w.write_question(n("2.0.0.127.bl.test"), rr_type::any, rr_class::in));
  const std::array<std::uint8_t, 4> addr{127, 0, 0, 2};
  ASSERT_TRUE(w.begin_rr(section::answer, n("2.0.0.127.bl.test"), rr_type::a, rr_class::in, 60));
  ASSERT_TRUE(w.write_bytes(addr));
  ASSERT_TRUE(w.end_rr());
  ASSERT_TRUE(w.begin_rr(section::authority, n("bl.test"), rr_type::ns, rr_class::in, 300));
  ASSERT_TRUE(w.write_name(n("ns.bl.test")));
  ASSERT_TRUE(w.end_rr());
  const std::size_t size = w.finish(flag::qr | flag::aa);
  const auto d = testing::decode(std::vector<std::uint8_t>(buf.begin(), buf.begin() + size));
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.hdr.id, 0xBEEF);
  EXPECT_EQ(d.hdr.flags, flag::qr | flag::aa);
  ASSERT_EQ(d.answer.size(), 1u);
  EXPECT_EQ(d.answer[0].data, "127.0.0.2");
  EXPECT_EQ(d.answer[0].ttl, 60u);
  ASSERT_EQ(d.authority.size(), 1u);
  EXPECT_EQ(d.authority[0].owner, "bl.test");
  EXPECT_EQ(d.authority[0].data, "ns.bl.test");
}

}  // namespace
}  // namespace mx::dns
