// dnsbl/intervals: a compact, immutable map from IP addresses to value groups, built from
// overlapping prioritised ranges, with O(log n) lookups and no allocation per lookup.
//
// Input: ranges [lo, hi] with a value (or "excluded") and a specificity level. At every address
// the most specific level covering it decides; at one level, an exclusion beats values and
// several values make a group (rbldnsd ip4set returns one A+TXT pair per matching entry). This
// models both rbldnsd ip4set (levels are the octet boundaries 32/24/16/8 its ranges are expanded
// to) and the tries (levels are prefix lengths: longest prefix wins).
//
// Output: sorted disjoint intervals. Single addresses (the bulk of a DNSBL) live in their own
// array of keys, 4 octets each for IPv4, with one shared group when all share one (the common
// case); longer intervals keep lo, hi and group. Build cost O(n log n).
//
// SECURITY: lookups are binary searches over immutable arrays, so a query costs O(log n) whatever
// the data; building is bounded by the input size (no range is ever expanded address by address).
#pragma once

#include <algorithm>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace mx::dnsbl {

// 128-bit unsigned key for IPv6 (no __int128: -Wpedantic).
struct u128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  friend auto operator<=>(const u128&, const u128&) = default;
};

template <class K>
struct key_traits;

template <>
struct key_traits<std::uint32_t> {
  static constexpr std::uint32_t max() { return 0xFFFFFFFFu; }
  static std::uint32_t next(std::uint32_t k) { return k + 1; }
  static std::uint32_t prev(std::uint32_t k) { return k - 1; }
};

template <>
struct key_traits<u128> {
  static constexpr u128 max() { return {~0ULL, ~0ULL}; }
  static u128 next(u128 k) {
    if (++k.lo == 0) ++k.hi;
    return k;
  }
  static u128 prev(u128 k) {
    if (k.lo-- == 0) --k.hi;
    return k;
  }
};

inline constexpr std::uint32_t excluded_value = 0xFFFFFFFFu;

// An index over a large sorted array of 32-bit keys: where each value of the top 16 bits starts.
// A search then reads the 256 KiB index and one bucket (a few cache lines) instead of log2(n)
// lines spread over the whole array, which is what a lookup in millions of /32s costs.
class bucket_index {
 public:
  static constexpr std::size_t min_keys = 1u << 16;  // smaller arrays: plain binary search

  void build(std::span<const std::uint32_t> sorted);
  // The positions [first, last) holding the keys whose top 16 bits are those of k.
  std::pair<std::size_t, std::size_t> bucket(std::uint32_t k, std::size_t n) const {
    if (start_.empty()) return {0, n};
    const std::size_t h = k >> 16;
    return {start_[h], start_[h + 1]};
  }
  std::size_t memory_bytes() const { return start_.capacity() * sizeof(std::uint32_t); }

 private:
  std::vector<std::uint32_t> start_;  // 65537 entries, or none
};

// Is k in the sorted array? (Uses the index when there is one.)
inline bool indexed_contains(std::span<const std::uint32_t> sorted, const bucket_index& idx,
                             std::uint32_t k) {
  const auto [first, last] = idx.bucket(k, sorted.size());
  return std::binary_search(sorted.begin() + static_cast<std::ptrdiff_t>(first),
                            sorted.begin() + static_cast<std::ptrdiff_t>(last), k);
}

// A set of IPv4 addresses, built once from unsorted keys. A large set (min_keys and more) keeps
// only the low 16 bits of each address, 2 octets each, grouped in buckets by the top 16 bits:
// where each bucket starts (a 256 KiB index) says what the top half is, so it is not stored.
// That halves a big list's memory, and a lookup reads the index and one bucket of a few hundred
// octets. A smaller set is a plain sorted array (4 octets each, no index).
// Building is a counting sort on the top 16 bits, then a sort of each bucket: linear but for
// buckets of a few hundred entries, where a sort of the whole array was n log n over 40 MB.
class compact_set4 {
 public:
  static constexpr std::size_t min_keys = bucket_index::min_keys;

  // The keys in any order, duplicates allowed, in chunks (each freed once it has been read);
  // built on up to `threads` threads (the same set whatever the number).
  static compact_set4 build(std::vector<std::vector<std::uint32_t>> chunks, unsigned threads = 1);

  bool contains(std::uint32_t k) const;
  bool any_in(std::uint32_t lo, std::uint32_t hi) const;  // is an address in [lo, hi] listed?
  std::size_t size() const { return start_.empty() ? full_.size() : low_.size(); }
  // The i-th address in order; bucket carries the position of the bucket between calls (start
  // at 0), so a walk in order costs O(1) per address.
  std::uint32_t at(std::size_t i, std::size_t& bucket) const {
    if (start_.empty()) return full_[i];
    while (start_[bucket + 1] <= i) ++bucket;
    return static_cast<std::uint32_t>(bucket << 16) | low_[i];
  }
  std::size_t memory_bytes() const {
    return full_.capacity() * 4 + low_.capacity() * 2 + start_.capacity() * 4;
  }

 private:
  std::vector<std::uint32_t> full_;   // small sets
  std::vector<std::uint16_t> low_;    // large sets: low halves, bucket by bucket, sorted
  std::vector<std::uint32_t> start_;  // large sets: 65537 bucket starts into low_
};

// A std::allocator whose value-initialisation leaves the memory as it is: vector(n) and resize(n)
// of integers then do not write n zeros that are overwritten at once (a large table's arrays are
// filled by sorts, and each zero write faults a fresh page in on the wrong thread).
template <class T>
struct uninit_allocator : std::allocator<T> {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = uninit_allocator<U>;
  };
  uninit_allocator() = default;
  template <class U>
  uninit_allocator(const uninit_allocator<U>& /*other*/) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class K>
struct tagged_range {
  K lo{};
  K hi{};
  std::uint32_t value = 0;  // value index, or excluded_value
  std::uint16_t level = 0;  // higher is more specific
};

template <class K>
class interval_table;

// The ranges a table is built from, kept in shards of the key space (IPv4: one shard per thread
// that will build the table; a range crossing a shard's edge is cut there) and in chunks of
// fixed size, so no vector doubles (and copies itself) while a big list is read, and the parts
// of a parallel load are taken over without a copy. IPv6 lists have one shard.
// IPv4 single addresses of the most specific level (32) with a value, the bulk of a big list,
// are kept apart: 4 octets each (a quarter of a range), with their value once per chunk while
// the chunk's keys share one (the common case: a list of addresses under one default), and they
// are sorted and resolved without the level machinery (interval_table::build).
template <class K>
class range_list {
 public:
  struct single_chunk {
    std::vector<K> keys;
    std::vector<std::uint32_t> values;  // empty while every key has `value`
    std::uint32_t value = 0;
  };

  explicit range_list(unsigned shards = 1);
  void push(const tagged_range<K>& r);
  void push_single(K key, std::uint32_t value) {  // push({key, key, value, most specific})
    if constexpr (std::is_same_v<K, std::uint32_t>) {
      auto& list = singles_[shard_of(key)];
      if (list.empty() || list.back().keys.size() == chunk_singles) {
        list.emplace_back().keys.reserve(chunk_singles);
        list.back().value = value;
      }
      auto& c = list.back();
      if (c.values.empty() && value != c.value) {
        c.values.reserve(chunk_singles);
        c.values.assign(c.keys.size(), c.value);
      }
      c.keys.push_back(key);
      if (!c.values.empty()) c.values.push_back(value);
      ++size_;
    } else {
      push({key, key, value, 128});
    }
  }
  void append(range_list&& later);  // later's ranges after these (the same number of shards)
  unsigned shards() const { return static_cast<unsigned>(chunks_.size()); }
  std::size_t size() const { return size_; }
  template <class F>
  void update_values(F f) {  // f(std::uint32_t&) on the value of every range and single
    for (auto& shard : chunks_) {
      for (auto& c : shard) {
        for (auto& r : c) f(r.value);
      }
    }
    for (auto& shard : singles_) {
      for (auto& c : shard) {
        f(c.value);
        for (auto& v : c.values) f(v);
      }
    }
  }

 private:
  friend class interval_table<K>;
  static constexpr std::size_t chunk_ranges = std::size_t{1} << 16;   // 1 MiB of IPv4 ranges
  static constexpr std::size_t chunk_singles = std::size_t{1} << 18;  // 1 MiB of IPv4 singles
  void add(unsigned shard, const tagged_range<K>& r);
  unsigned shard_of(K key) const {
    if constexpr (std::is_same_v<K, std::uint32_t>) {
      // Shard s holds the keys k with k * n / 2^32 == s.
      return static_cast<unsigned>((std::uint64_t{key} * chunks_.size()) >> 32);
    } else {
      (void)key;
      return 0;
    }
  }
  std::vector<std::vector<std::vector<tagged_range<K>>>> chunks_;  // [shard][chunk]
  std::vector<std::vector<single_chunk>> singles_;                 // [shard][chunk]
  std::size_t size_ = 0;
};

// Groups of value indices, interned: group g is members[start[g] .. start[g + 1]).
class group_store {
 public:
  std::size_t size() const { return start_.size() - 1; }  // groups so far
  std::uint32_t single(std::uint32_t value);
  std::uint32_t intern(const std::vector<std::uint32_t>& sorted_values);
  std::span<const std::uint32_t> get(std::uint32_t g) const {
    return {members_.data() + start_[g], start_[g + 1] - start_[g]};
  }
  std::size_t memory_bytes() const {
    return (start_.capacity() + members_.capacity()) * sizeof(std::uint32_t);
  }
  void shrink() {
    start_.shrink_to_fit();
    members_.shrink_to_fit();
    singles_.clear();
    singles_.shrink_to_fit();
    multi_.clear();
  }

 private:
  std::vector<std::uint32_t> start_{0};
  std::vector<std::uint32_t> members_;
  std::vector<std::uint32_t> singles_;  // value -> group (build time)
  std::map<std::vector<std::uint32_t>, std::uint32_t> multi_;
};

template <class K>
class interval_table {
 public:
  using traits = key_traits<K>;

  // IPv4 tables of parallel_min_ranges and more are built on up to `threads` threads, each
  // resolving a shard of the key space; the table is the same whatever the number.
  static constexpr std::size_t parallel_min_ranges = std::size_t{1} << 16;
  static interval_table build(range_list<K> ranges, unsigned threads = 1);
  static interval_table build(const std::vector<tagged_range<K>>& ranges, unsigned threads = 1);

  // The value group at key; empty when not listed.
  std::span<const std::uint32_t> find(K key) const {
    auto [sf, sl] = bucket(single_idx_, key, single_.size());
    const auto s_end = single_.begin() + static_cast<std::ptrdiff_t>(sl);
    auto s = std::lower_bound(single_.begin() + static_cast<std::ptrdiff_t>(sf), s_end, key);
    if (s != s_end && *s == key) {
      const auto i = static_cast<std::size_t>(s - single_.begin());
      return groups_.get(single_group_.empty() ? single_common_ : single_group_[i]);
    }
    // The last interval starting at or before key: in key's bucket, or else the one before it.
    auto [rf, rl] = bucket(lo_idx_, key, lo_.size());
    const auto r = std::upper_bound(lo_.begin() + static_cast<std::ptrdiff_t>(rf),
                                    lo_.begin() + static_cast<std::ptrdiff_t>(rl), key);
    const auto pos = static_cast<std::size_t>(r - lo_.begin());
    if (pos == 0) return {};
    const std::size_t i = pos - 1;
    if (key <= hi_[i]) return groups_.get(group_[i]);
    return {};
  }

  // Is anything listed in [lo, hi]?
  bool any_in(K lo, K hi) const {
    auto s = std::lower_bound(single_.begin(), single_.end(), lo);
    if (s != single_.end() && *s <= hi) return true;
    // The first interval ending at or after lo (intervals are disjoint and sorted).
    auto r = std::lower_bound(hi_.begin(), hi_.end(), lo);
    if (r == hi_.end()) return false;
    return lo_[static_cast<std::size_t>(r - hi_.begin())] <= hi;
  }

  // The intervals in key order, singles and longer ones merged: a and b are the positions in
  // each (start both at 0). False at the end.
  bool next(std::size_t& a, std::size_t& b, K& lo, K& hi,
            std::span<const std::uint32_t>& values) const {
    const bool has_single = a < single_.size();
    const bool has_range = b < lo_.size();
    if (!has_single && !has_range) return false;
    if (has_single && (!has_range || single_[a] < lo_[b])) {
      lo = hi = single_[a];
      values = groups_.get(single_group_.empty() ? single_common_ : single_group_[a]);
      ++a;
      return true;
    }
    lo = lo_[b];
    hi = hi_[b];
    values = groups_.get(group_[b]);
    ++b;
    return true;
  }

  std::size_t singles() const { return single_.size(); }
  std::size_t intervals() const { return lo_.size(); }
  std::size_t memory_bytes() const {
    return single_.capacity() * sizeof(K) + single_group_.capacity() * 4 +
           (lo_.capacity() + hi_.capacity()) * sizeof(K) + group_.capacity() * 4 +
           groups_.memory_bytes() + single_idx_.memory_bytes() + lo_idx_.memory_bytes();
  }

 private:
  struct segment {
    K lo;
    K hi;
    std::uint32_t group;  // group id, or excluded_value
  };
  // One shard's part of a table, with the shard's own group ids. Its singles are written over
  // its sorted singles, in place, behind where they are read; once one would overtake the
  // reading (a range resolved to a single address adds one), the rest go to overflow.
  struct pieces {
    K* single = nullptr;
    std::size_t in_place = 0;
    std::vector<K> overflow;
    std::size_t singles() const { return in_place + overflow.size(); }
    K single_at(std::size_t i) const { return i < in_place ? single[i] : overflow[i - in_place]; }
    std::vector<std::uint32_t> single_group;  // empty while every single has single_common
    std::uint32_t single_common = 0;
    std::vector<K> lo;
    std::vector<K> hi;
    std::vector<std::uint32_t> group;
  };
  class piece_writer;
  using single_chunk = typename range_list<K>::single_chunk;

  static std::vector<segment> level_segments(std::span<const tagged_range<K>> level,
                                             group_store& groups);
  // The ranges and singles as sorted disjoint pieces, most specific level first at each
  // address, the exclusions dropped and neighbours of one group joined. The singles are sorted
  // into `room` (as many as there are) and the pieces' singles written there.
  static pieces resolve(std::vector<std::vector<tagged_range<K>>> chunks,
                        std::vector<single_chunk> singles, std::span<K> room, group_store& groups);
  // Adds to top (one level's segments) the parts of below's that top does not cover.
  static void fill_gaps(std::vector<segment>& top, const std::vector<segment>& below);
  void index();  // after the arrays are complete

  std::vector<K, uninit_allocator<K>> single_;
  std::vector<std::uint32_t> single_group_;
  std::uint32_t single_common_ = 0;
  std::vector<K> lo_;
  std::vector<K> hi_;
  std::vector<std::uint32_t> group_;
  group_store groups_;
  bucket_index single_idx_;  // IPv4 only
  bucket_index lo_idx_;

  static std::pair<std::size_t, std::size_t> bucket(const bucket_index& idx, const K& key,
                                                    std::size_t n) {
    if constexpr (std::is_same_v<K, std::uint32_t>) {
      return idx.bucket(key, n);
    } else {
      return {0, n};
    }
  }
};

// Template definitions (instantiated for std::uint32_t and u128 in intervals.cpp).
extern template class range_list<std::uint32_t>;
extern template class range_list<u128>;
extern template class interval_table<std::uint32_t>;
extern template class interval_table<u128>;

}  // namespace mx::dnsbl
