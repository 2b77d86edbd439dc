// dnsbl/flat_set: insert reports new keys exactly as std::set does, through every growth, for
// keys that collide in their low bits and for struct keys.
#include "dnsbl/flat_set.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <utility>

namespace mx::dnsbl {
namespace {

struct weak_hash {  // low bits only: neighbours collide, so probes run long
  std::uint64_t operator()(std::uint64_t k) const { return k & 0xFF; }
};
struct mixed_hash {
  std::uint64_t operator()(std::uint64_t k) const { return mix64(k); }
};

template <class Hash>
void against_std_set(std::uint64_t key_range, int inserts) {
  flat_set<std::uint64_t, Hash> got(~std::uint64_t{0});
  std::set<std::uint64_t> want;
  std::mt19937_64 rng(key_range);
  for (int i = 0; i < inserts; ++i) {
    const std::uint64_t k = rng() % key_range;
    ASSERT_EQ(got.insert(k), want.insert(k).second) << "insert " << i << " key " << k;
    ASSERT_EQ(got.size(), want.size()) << "insert " << i;
  }
}

TEST(flat_set, matches_std_set) {
  against_std_set<mixed_hash>(1000, 5000);       // many repeats
  against_std_set<mixed_hash>(1u << 30, 50000);  // few repeats, many growths
  against_std_set<weak_hash>(4096, 3000);        // long probe runs
}

TEST(flat_set, struct_keys_and_clear) {
  struct key {
    std::uint64_t a;
    int b;
    bool operator==(const key&) const = default;
  };
  struct key_hash {
    std::uint64_t operator()(const key& k) const {
      return mix64(k.a ^ static_cast<std::uint64_t>(k.b));
    }
  };
  flat_set<key, key_hash> s(key{0, -1});
  EXPECT_TRUE(s.insert({0, 0}));
  EXPECT_TRUE(s.insert({0, 1}));  // same address, other length
  EXPECT_FALSE(s.insert({0, 0}));
  EXPECT_TRUE(s.insert({1, 0}));
  EXPECT_EQ(s.size(), 3u);
  s.clear();
  EXPECT_EQ(s.size(), 0u);
  EXPECT_TRUE(s.insert({0, 0}));
}

}  // namespace
}  // namespace mx::dnsbl
