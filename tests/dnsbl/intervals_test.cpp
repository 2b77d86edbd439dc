#include "dnsbl/intervals.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace mx::dnsbl {
namespace {

using range = tagged_range<std::uint32_t>;

std::string show(std::span<const std::uint32_t> v) {
  std::string out = "{";
  for (const auto x : v) out += std::to_string(x) + ",";
  return out + "}";
}

// The rule, evaluated address by address: the most specific level covering the address decides;
// an exclusion at that level wins; otherwise every distinct value there.
std::vector<std::uint32_t> reference(const std::vector<range>& ranges, std::uint32_t addr) {
  int best = -1;
  for (const auto& r : ranges) {
    if (r.lo <= addr && addr <= r.hi) best = std::max(best, static_cast<int>(r.level));
  }
  std::set<std::uint32_t> vals;
  for (const auto& r : ranges) {
    if (r.lo <= addr && addr <= r.hi && r.level == best) {
      if (r.value == excluded_value) return {};
      vals.insert(r.value);
    }
  }
  return {vals.begin(), vals.end()};
}

struct table_case {
  std::string what;
  std::vector<range> ranges;
  std::vector<std::pair<std::uint32_t, std::string>> probes;  // address -> want values
};

TEST(interval_table, table) {
  const table_case cases[] = {
      {"one single", {{5, 5, 0, 32}}, {{4, "{}"}, {5, "{0,}"}, {6, "{}"}}},
      {"specific beats general",
       {{0, 99, 0, 8}, {10, 19, 1, 24}, {15, 15, 2, 32}},
       {{0, "{0,}"},
        {10, "{1,}"},
        {15, "{2,}"},
        {16, "{1,}"},
        {20, "{0,}"},
        {99, "{0,}"},
        {100, "{}"}}},
      {"exclusion punches a hole",
       {{0, 99, 0, 8}, {50, 59, excluded_value, 24}},
       {{49, "{0,}"}, {50, "{}"}, {59, "{}"}, {60, "{0,}"}}},
      {"listed inside an exclusion",
       {{0, 99, excluded_value, 8}, {50, 50, 3, 32}},
       {{49, "{}"}, {50, "{3,}"}, {51, "{}"}}},
      {"same level: exclusion wins",
       {{10, 19, 1, 24}, {10, 19, excluded_value, 24}},
       {{10, "{}"}, {19, "{}"}}},
      {"same level: values add up",
       {{10, 19, 1, 24}, {10, 19, 2, 24}, {15, 25, 3, 24}},
       {{10, "{1,2,}"}, {15, "{1,2,3,}"}, {20, "{3,}"}, {26, "{}"}}},
      {"top of the key space",
       {{0xFFFFFF00u, 0xFFFFFFFFu, 7, 24}, {0xFFFFFFFFu, 0xFFFFFFFFu, 8, 32}},
       {{0xFFFFFFFEu, "{7,}"}, {0xFFFFFFFFu, "{8,}"}}},
      {"everything", {{0, 0xFFFFFFFFu, 9, 0}}, {{0, "{9,}"}, {0xFFFFFFFFu, "{9,}"}}},
  };
  for (const auto& c : cases) {
    const auto t = interval_table<std::uint32_t>::build(c.ranges);
    for (const auto& [addr, want] : c.probes) {
      EXPECT_EQ(show(t.find(addr)), want) << c.what << " at " << addr;
      EXPECT_EQ(show(t.find(addr)), show(reference(c.ranges, addr))) << c.what << " at " << addr;
    }
  }
}

TEST(interval_table, matches_reference_on_random_data) {
  std::mt19937 rng(20240517);
  for (int round = 0; round < 200; ++round) {
    std::vector<range> ranges;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const std::uint32_t lo = rng() % 200;
      const std::uint32_t len = rng() % 4 == 0 ? 0 : rng() % 60;
      const std::uint32_t value = rng() % 5 == 0 ? excluded_value : rng() % 4;
      ranges.push_back({lo, lo + len, value, static_cast<std::uint16_t>(rng() % 3)});
    }
    const auto t = interval_table<std::uint32_t>::build(ranges);
    for (std::uint32_t addr = 0; addr < 270; ++addr) {
      ASSERT_EQ(show(t.find(addr)), show(reference(ranges, addr)))
          << "round " << round << " addr " << addr;
    }
    for (std::uint32_t lo = 0; lo < 270; lo += 7) {
      const std::uint32_t hi = lo + rng() % 30;
      bool want = false;
      for (std::uint32_t a = lo; a <= hi && !want; ++a) want = !reference(ranges, a).empty();
      ASSERT_EQ(t.any_in(lo, hi), want) << "round " << round << " [" << lo << "," << hi << "]";
    }
  }
}

// Enough ranges (over 1024) for the IPv4 radix sort, overlapping, on five levels, with
// exclusions and several values, checked at every address against the reference.
TEST(interval_table, radix_sorted_tables_match_reference) {
  std::mt19937 rng(99);
  for (int round = 0; round < 3; ++round) {
    std::vector<range> ranges;
    for (int i = 0; i < 3000; ++i) {
      const std::uint32_t lo = rng() % 20000 + (round == 2 ? 0x7FFFF000u : 0u);
      const std::uint32_t len = rng() % 3 == 0 ? 0 : rng() % 300;
      const std::uint32_t value = rng() % 7 == 0 ? excluded_value : rng() % 5;
      ranges.push_back({lo, lo + len, value, static_cast<std::uint16_t>(8 * (rng() % 5))});
    }
    const auto t = interval_table<std::uint32_t>::build(ranges);
    const std::uint32_t base = round == 2 ? 0x7FFFF000u : 0u;
    for (std::uint32_t addr = base; addr < base + 20400; ++addr) {
      ASSERT_EQ(show(t.find(addr)), show(reference(ranges, addr)))
          << "round " << round << " addr " << addr;
    }
  }
}

// Tables large enough to be built in shards on several threads are the same table: the same
// runs with the same values in a walk, and the same answers at shard edges and random points.
// Ranges of every size cross the edges (2^32 / 3 is not a multiple of any block).
TEST(interval_table, sharded_build_is_the_same_table) {
  std::mt19937 rng(5);
  std::vector<range> ranges;
  while (ranges.size() < interval_table<std::uint32_t>::parallel_min_ranges + 5000) {
    const std::uint32_t kind = rng() % 100;
    const std::uint32_t lo = rng();
    std::uint32_t len = 0;
    std::uint16_t level = 32;
    if (kind < 10) {
      len = rng() % 5000;  // a short range
      level = 24;
    } else if (kind < 12) {
      len = rng() >> (rng() % 8);  // up to half the space
      level = static_cast<std::uint16_t>(8 * (rng() % 3));
    }
    const std::uint32_t hi = lo > 0xFFFFFFFFu - len ? 0xFFFFFFFFu : lo + len;
    const std::uint32_t value = rng() % 13 == 0 ? excluded_value : rng() % 4;
    ranges.push_back({lo, hi, value, level});
    if (kind == 99) ranges.push_back({lo, hi, (value + 1) % 4, level});  // a group of two
  }
  const auto walk = [](const interval_table<std::uint32_t>& t) {
    std::vector<std::string> out;
    std::size_t a = 0;
    std::size_t b = 0;
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    std::span<const std::uint32_t> values;
    while (t.next(a, b, lo, hi, values)) {
      out.push_back(std::to_string(lo) + "-" + std::to_string(hi) + show(values));
    }
    return out;
  };
  const auto one = interval_table<std::uint32_t>::build(ranges, 1);
  const auto want = walk(one);
  ASSERT_GT(want.size(), 50000u);
  for (const unsigned threads : {2u, 3u, 7u, 16u}) {
    const auto t = interval_table<std::uint32_t>::build(ranges, threads);
    const auto got = walk(t);
    ASSERT_EQ(got.size(), want.size()) << "threads=" << threads;
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "threads=" << threads << " run " << i;
    }
    std::vector<std::uint32_t> probes;
    for (std::uint64_t s = 1; s < threads; ++s) {
      const auto edge = static_cast<std::uint32_t>(((s << 32) + threads - 1) / threads);
      probes.insert(probes.end(), {edge - 1, edge, edge + 1});
    }
    for (int i = 0; i < 20000; ++i) probes.push_back(rng());
    for (const auto& r : ranges) probes.push_back(r.lo);
    for (const auto p : probes) {
      ASSERT_EQ(show(t.find(p)), show(one.find(p))) << "threads=" << threads << " at " << p;
    }
  }
}

// Level-32 single addresses with a value are sorted and resolved apart from the ranges
// (range_list::push_single): here they fall on level-32 ranges and exclusions, repeat with
// other values, and sit inside and beside lower levels, around the edges of 2 and 3 shards.
// Every address against the reference; the walk is sorted, disjoint and canonical (no two
// touching runs of one group); 1, 2 and 3 threads give the same walk.
TEST(interval_table, singles_resolve_against_level_32_and_below) {
  std::mt19937 rng(321);
  const std::uint32_t bases[] = {0u, 0x7FFFE000u, 0x55554000u, 0xFFFFB000u};
  for (const std::uint32_t base : bases) {
    std::vector<range> ranges;
    const std::uint32_t span = 0x4000;
    for (int i = 0; i < 6000; ++i) {
      const std::uint32_t kind = rng() % 100;
      const std::uint32_t lo = base + rng() % span;
      const std::uint32_t value = rng() % 4;
      if (kind < 70) {
        ranges.push_back({lo, lo, value, 32});  // a single
      } else if (kind < 78) {
        ranges.push_back({lo, lo, excluded_value, 32});
      } else if (kind < 86) {
        const std::uint32_t hi = std::min<std::uint64_t>(lo + rng() % 40, 0xFFFFFFFFu);
        ranges.push_back({lo, hi, rng() % 5 == 0 ? excluded_value : value, 32});
      } else {
        const std::uint32_t len = rng() % 2000;
        const std::uint32_t hi = std::min<std::uint64_t>(std::uint64_t{lo} + len, 0xFFFFFFFFu);
        const auto level = static_cast<std::uint16_t>(8 * (rng() % 4));
        ranges.push_back({lo, hi, rng() % 6 == 0 ? excluded_value : value, level});
      }
    }
    std::vector<std::string> walks[3];
    for (const unsigned threads : {1u, 2u, 3u}) {
      const auto t = interval_table<std::uint32_t>::build(ranges, threads);
      const std::uint32_t last = base + span + 2100 < base ? 0xFFFFFFFFu : base + span + 2100;
      for (std::uint32_t addr = base;; ++addr) {
        ASSERT_EQ(show(t.find(addr)), show(reference(ranges, addr)))
            << "base " << base << " threads " << threads << " addr " << addr;
        if (addr == last) break;
      }
      std::size_t a = 0;
      std::size_t b = 0;
      std::uint32_t lo = 0;
      std::uint32_t hi = 0;
      std::span<const std::uint32_t> values;
      std::uint64_t prev_hi = 0;
      std::string prev_values;
      bool first = true;
      while (t.next(a, b, lo, hi, values)) {
        ASSERT_LE(lo, hi);
        if (!first) {
          ASSERT_GT(lo, prev_hi) << "overlap at " << lo;
          ASSERT_FALSE(lo == prev_hi + 1 && show(values) == prev_values)
              << "touching runs of one group at " << lo;
        }
        first = false;
        prev_hi = hi;
        prev_values = show(values);
        walks[threads - 1].push_back(std::to_string(lo) + "-" + std::to_string(hi) + prev_values);
      }
    }
    EXPECT_EQ(walks[1], walks[0]) << "base " << base;
    EXPECT_EQ(walks[2], walks[0]) << "base " << base;
  }
}

TEST(interval_table, large_tables_use_the_bucket_index) {
  // Over 65536 singles and intervals, so the bucket index is built and searched; checked
  // against a std::map at every boundary and at random points.
  std::mt19937 rng(7);
  std::map<std::uint32_t, std::uint32_t> singles;                          // addr -> value
  std::map<std::uint32_t, std::pair<std::uint32_t, std::uint32_t>> spans;  // lo -> (hi, value)
  std::vector<range> ranges;
  while (spans.size() < 80000) {
    const std::uint32_t lo = rng() & ~0xFFFu;  // 4096-aligned blocks cannot overlap
    const std::uint32_t hi = lo + 1 + rng() % 4000;
    if (spans.count(lo)) continue;
    const std::uint32_t v = 1 + rng() % 3;
    spans[lo] = {hi, v};
    ranges.push_back({lo, hi, v, 24});
  }
  while (singles.size() < 90000) {
    const std::uint32_t a = rng();
    if (singles.count(a)) continue;
    singles[a] = 10;
    ranges.push_back({a, a, 10, 32});
  }
  const auto t = interval_table<std::uint32_t>::build(ranges);
  auto want = [&](std::uint32_t p) -> std::string {
    if (singles.count(p)) return "{10,}";
    auto it = spans.upper_bound(p);
    if (it == spans.begin()) return "{}";
    --it;
    if (p <= it->second.first) return "{" + std::to_string(it->second.second) + ",}";
    return "{}";
  };
  std::vector<std::uint32_t> probes;
  for (const auto& [a, v] : singles) probes.insert(probes.end(), {a, a - 1, a + 1});
  for (const auto& [lo, hv] : spans)
    probes.insert(probes.end(), {lo, lo - 1, hv.first, hv.first + 1});
  for (int i = 0; i < 100000; ++i) probes.push_back(static_cast<std::uint32_t>(rng()));
  for (const auto p : probes) ASSERT_EQ(show(t.find(p)), want(p)) << "at " << p;
}

TEST(interval_table, singles_are_compact) {
  std::vector<range> ranges;
  for (std::uint32_t i = 0; i < 1000; ++i) ranges.push_back({i * 3, i * 3, 0, 32});
  ranges.push_back({10000, 20000, 1, 16});
  const auto t = interval_table<std::uint32_t>::build(ranges);
  EXPECT_EQ(t.singles(), 1000u);
  EXPECT_EQ(t.intervals(), 1u);
  // 4 octets a single (one shared group), plus small overheads.
  EXPECT_LT(t.memory_bytes(), 1000u * 4 + 200);
}

TEST(interval_table, u128_keys) {
  using r6 = tagged_range<u128>;
  const u128 base{0x20010db800000000ULL, 0};
  const u128 top{0x20010db8ffffffffULL, ~0ULL};
  const u128 one{0x20010db800000000ULL, 1};
  const std::vector<r6> ranges = {{base, top, 0, 32}, {one, one, excluded_value, 128}};
  const auto t = interval_table<u128>::build(ranges);
  EXPECT_EQ(show(t.find(base)), "{0,}");
  EXPECT_EQ(show(t.find(one)), "{}");
  EXPECT_EQ(show(t.find(u128{0x20010db800000000ULL, 2})), "{0,}");
  EXPECT_EQ(show(t.find(u128{0x20010db900000000ULL, 0})), "{}");
  EXPECT_TRUE(t.any_in(one, one) == false);
  EXPECT_TRUE(t.any_in(u128{0, 0}, base));
}

}  // namespace
}  // namespace mx::dnsbl

namespace mx::dnsbl {
namespace {

// compact_set4 against std::set on random keys with duplicates, small (plain array) and large
// (16-bit halves in buckets): membership, range checks across bucket edges, the walk in order.
TEST(compact_set4, matches_reference) {
  const std::size_t sizes[] = {0,     1, 1000, compact_set4::min_keys - 1, compact_set4::min_keys,
                               300000};
  for (const std::size_t n : sizes) {
    std::mt19937 rnd(static_cast<unsigned>(n) + 7);
    std::set<std::uint32_t> ref;
    std::vector<std::vector<std::uint32_t>> chunks(7);
    for (std::size_t i = 0; i < n; ++i) {
      // Clustered in few /16s so buckets get full, with edges and repeats.
      std::uint32_t k = (rnd() % 4 == 0) ? rnd() : ((rnd() % 8) << 16 | (rnd() & 0xFFFF));
      if (i % 50 == 0) k = i % 100 == 0 ? 0u : 0xFFFFFFFFu;
      if (i % 7 == 0 && !ref.empty()) k = *ref.begin();  // a duplicate
      ref.insert(k);
      chunks[(i * 5 / 3) % 7].push_back(k);  // chunks of different sizes
    }
    // Built on 1 to 7 threads (and more threads than chunks): the same set every time.
    for (const unsigned threads : {2u, 3u, 7u, 16u}) {
      const auto other = compact_set4::build(chunks, threads);
      ASSERT_EQ(other.size(), ref.size()) << "n=" << n << " threads=" << threads;
      std::size_t bucket = 0;
      std::size_t i = 0;
      for (const auto k : ref) {
        ASSERT_EQ(other.at(i++, bucket), k) << "n=" << n << " threads=" << threads << " i=" << i;
        ASSERT_TRUE(other.contains(k)) << "n=" << n << " threads=" << threads << " k=" << k;
      }
    }
    const auto set = compact_set4::build(std::move(chunks));
    ASSERT_EQ(set.size(), ref.size()) << "n=" << n;
    std::size_t bucket = 0;
    std::size_t i = 0;
    for (const auto k : ref) {
      ASSERT_EQ(set.at(i++, bucket), k) << "n=" << n << " i=" << i;
      ASSERT_TRUE(set.contains(k)) << "n=" << n << " k=" << k;
    }
    for (int probe = 0; probe < 20000; ++probe) {
      const std::uint32_t k = probe % 2 ? rnd() : ((rnd() % 9) << 16 | (rnd() & 0xFFFF));
      EXPECT_EQ(set.contains(k), ref.count(k) == 1) << "n=" << n << " k=" << k;
      const std::uint32_t span = probe % 3 == 0 ? rnd() % 300000 : rnd() % 300;
      const std::uint32_t hi = k > 0xFFFFFFFFu - span ? 0xFFFFFFFFu : k + span;
      const auto it = ref.lower_bound(k);
      const bool want = it != ref.end() && *it <= hi;
      EXPECT_EQ(set.any_in(k, hi), want) << "n=" << n << " [" << k << ", " << hi << "]";
    }
    if (n >= compact_set4::min_keys) {
      EXPECT_LT(set.memory_bytes(), ref.size() * 2 + 300000) << "2 octets per address, n=" << n;
    }
  }
}

}  // namespace
}  // namespace mx::dnsbl
