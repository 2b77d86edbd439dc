#include "dnsbl/intervals.hpp"

#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>

namespace mx::dnsbl {

std::uint32_t group_store::single(std::uint32_t value) {
  if (value >= singles_.size()) singles_.resize(value + 1u, excluded_value);
  if (singles_[value] == excluded_value) {
    singles_[value] = static_cast<std::uint32_t>(start_.size() - 1);
    members_.push_back(value);
    start_.push_back(static_cast<std::uint32_t>(members_.size()));
  }
  return singles_[value];
}

std::uint32_t group_store::intern(const std::vector<std::uint32_t>& sorted_values) {
  if (sorted_values.size() == 1) return single(sorted_values.front());
  const auto [it, inserted] =
      multi_.try_emplace(sorted_values, static_cast<std::uint32_t>(start_.size() - 1));
  if (inserted) {
    members_.insert(members_.end(), sorted_values.begin(), sorted_values.end());
    start_.push_back(static_cast<std::uint32_t>(members_.size()));
  }
  return it->second;
}

void bucket_index::build(std::span<const std::uint32_t> sorted) {
  start_.clear();
  if (sorted.size() < min_keys) return;
  start_.resize((std::size_t{1} << 16) + 1);
  std::size_t pos = 0;
  for (std::size_t h = 0; h < (std::size_t{1} << 16); ++h) {
    while (pos < sorted.size() && (sorted[pos] >> 16) < h) ++pos;
    start_[h] = static_cast<std::uint32_t>(pos);
  }
  start_[std::size_t{1} << 16] = static_cast<std::uint32_t>(sorted.size());
}

namespace {

// Runs work(0) .. work(n - 1), work(0) on this thread and the others on threads of their own
// (on this thread too when no thread can be had). Returns once all are done.
template <class Work>
void run_on_threads(unsigned n, const Work& work) {
  std::vector<std::thread> threads;
  unsigned inline_from = n;
  for (unsigned t = 1; t < n; ++t) {
    try {
      threads.emplace_back([&work, t] { work(t); });
    } catch (const std::system_error&) {
      inline_from = t;
      break;
    }
  }
  work(0);
  for (unsigned t = inline_from; t < n; ++t) work(t);
  for (auto& th : threads) th.join();
}

}  // namespace

compact_set4 compact_set4::build(std::vector<std::vector<std::uint32_t>> chunks, unsigned threads) {
  compact_set4 out;
  std::size_t n = 0;
  for (const auto& c : chunks) n += c.size();
  if (n < min_keys) {
    out.full_.reserve(n);
    for (const auto& c : chunks) out.full_.insert(out.full_.end(), c.begin(), c.end());
    std::sort(out.full_.begin(), out.full_.end());
    out.full_.erase(std::unique(out.full_.begin(), out.full_.end()), out.full_.end());
    out.full_.shrink_to_fit();
    return out;
  }
  constexpr std::size_t buckets = std::size_t{1} << 16;
  // Each thread takes a run of the chunks for the counting and the scatter, then a run of the
  // buckets (about n / threads keys) for the sort, so no two threads write the same place.
  threads = std::clamp<unsigned>(threads, 1, 16);
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, chunks.size()));
  const auto chunk_range = [&](unsigned t) {
    return std::pair{chunks.size() * t / threads, chunks.size() * (t + 1) / threads};
  };

  // A counting sort on the top 16 bits: per thread counts, then where each thread's keys of
  // each bucket go (bucket h: thread 0's keys first, then thread 1's, ...).
  std::vector<std::vector<std::uint32_t>> fill(threads);
  run_on_threads(threads, [&](unsigned t) {
    std::vector<std::uint32_t> count(buckets, 0);
    const auto [first, last] = chunk_range(t);
    for (std::size_t c = first; c < last; ++c) {
      for (const auto k : chunks[c]) ++count[k >> 16];
    }
    fill[t] = std::move(count);
  });
  std::vector<std::uint32_t> start(buckets + 1, 0);
  {
    std::uint32_t sum = 0;
    for (std::size_t h = 0; h < buckets; ++h) {
      start[h] = sum;
      for (unsigned t = 0; t < threads; ++t) {
        const std::uint32_t c = fill[t][h];
        fill[t][h] = sum;
        sum += c;
      }
    }
    start[buckets] = sum;
  }
  std::vector<std::uint16_t> low(n);
  run_on_threads(threads, [&](unsigned t) {
    std::vector<std::uint32_t>& at = fill[t];
    const auto [first, last] = chunk_range(t);
    for (std::size_t c = first; c < last; ++c) {
      for (const auto k : chunks[c]) low[at[k >> 16]++] = static_cast<std::uint16_t>(k);
      std::vector<std::uint32_t>().swap(chunks[c]);
    }
    std::vector<std::uint32_t>().swap(at);
  });

  // Sort each bucket and drop duplicates, compacting towards the front of the thread's run of
  // buckets. A bucket holds low halves only, so a 65536-bit map sorts it: set a bit per value,
  // read the set bits back in order (duplicates fall out). A second map of 1024 bits says which
  // words have a bit set, so reading back visits those words only (random keys spread a bucket
  // over all 1024 words, and scanning them all was most of the build).
  std::vector<std::size_t> first_bucket(threads + 1, buckets);
  first_bucket[0] = 0;
  for (unsigned t = 1; t < threads; ++t) {
    const auto target = static_cast<std::uint32_t>(n * t / threads);
    first_bucket[t] = static_cast<std::size_t>(
        std::lower_bound(start.begin(), start.end() - 1, target) - start.begin());
    first_bucket[t] = std::max(first_bucket[t], first_bucket[t - 1]);
  }
  const std::vector<std::uint32_t> begin_of(start);  // the buckets before compaction
  std::vector<std::size_t> written(threads, 0);
  run_on_threads(threads, [&](unsigned t) {
    std::vector<std::uint64_t> bits(buckets / 64, 0);
    std::array<std::uint64_t, buckets / 64 / 64> used{};  // words of bits with a bit set
    const std::size_t base = begin_of[first_bucket[t]];
    std::size_t w = base;
    for (std::size_t h = first_bucket[t]; h < first_bucket[t + 1]; ++h) {
      const std::size_t b = begin_of[h];
      const std::size_t e = begin_of[h + 1];
      start[h] = static_cast<std::uint32_t>(w - base);  // made absolute below
      if (b == e) continue;
      for (std::size_t i = b; i < e; ++i) {
        const std::size_t word = low[i] >> 6;
        bits[word] |= std::uint64_t{1} << (low[i] & 63);
        used[word >> 6] |= std::uint64_t{1} << (word & 63);
      }
      for (std::size_t u = 0; u < used.size(); ++u) {
        std::uint64_t words = used[u];
        used[u] = 0;
        while (words != 0) {
          const std::size_t word = (u << 6) | static_cast<std::size_t>(std::countr_zero(words));
          words &= words - 1;
          std::uint64_t m = bits[word];
          bits[word] = 0;
          while (m != 0) {
            low[w++] = static_cast<std::uint16_t>((word << 6) |
                                                  static_cast<std::size_t>(std::countr_zero(m)));
            m &= m - 1;
          }
        }
      }
    }
    written[t] = w - base;
  });
  // Close the gaps the duplicates left between the threads' runs.
  std::size_t w = 0;
  for (unsigned t = 0; t < threads; ++t) {
    const std::size_t base = begin_of[first_bucket[t]];
    if (w != base && written[t] > 0) {
      std::memmove(low.data() + w, low.data() + base, written[t] * sizeof(std::uint16_t));
    }
    for (std::size_t h = first_bucket[t]; h < first_bucket[t + 1]; ++h) {
      start[h] += static_cast<std::uint32_t>(w);
    }
    w += written[t];
  }
  start[buckets] = static_cast<std::uint32_t>(w);
  low.resize(w);
  if (low.capacity() - w > w / 16) low.shrink_to_fit();  // many duplicates: give them back
  out.low_ = std::move(low);
  out.start_ = std::move(start);
  return out;
}

bool compact_set4::contains(std::uint32_t k) const {
  if (start_.empty()) return std::binary_search(full_.begin(), full_.end(), k);
  const std::size_t h = k >> 16;
  return std::binary_search(low_.begin() + start_[h], low_.begin() + start_[h + 1],
                            static_cast<std::uint16_t>(k));
}

bool compact_set4::any_in(std::uint32_t lo, std::uint32_t hi) const {
  if (lo > hi) return false;
  if (start_.empty()) {
    const auto it = std::lower_bound(full_.begin(), full_.end(), lo);
    return it != full_.end() && *it <= hi;
  }
  const std::size_t h0 = lo >> 16;
  const std::size_t h1 = hi >> 16;
  const auto first = [&](std::size_t h) { return low_.begin() + start_[h]; };
  const auto last = [&](std::size_t h) { return low_.begin() + start_[h + 1]; };
  if (h0 == h1) {
    const auto it = std::lower_bound(first(h0), last(h0), static_cast<std::uint16_t>(lo));
    return it != last(h0) && *it <= static_cast<std::uint16_t>(hi);
  }
  // The end of lo's bucket, whole buckets between, the start of hi's bucket.
  if (first(h0) != last(h0) && *(last(h0) - 1) >= static_cast<std::uint16_t>(lo)) return true;
  if (start_[h0 + 1] < start_[h1]) return true;
  return first(h1) != last(h1) && *first(h1) <= static_cast<std::uint16_t>(hi);
}

namespace {

template <class K>
std::vector<tagged_range<K>> concatenate(std::vector<std::vector<tagged_range<K>>>& chunks) {
  if (chunks.size() == 1) return std::move(chunks.front());
  std::size_t n = 0;
  for (const auto& c : chunks) n += c.size();
  std::vector<tagged_range<K>> out;
  out.reserve(n);
  for (auto& c : chunks) {
    out.insert(out.end(), c.begin(), c.end());
    std::vector<tagged_range<K>>().swap(c);
  }
  return out;
}

// The ranges in one vector, most specific level first, then by start (the chunks are freed).
// Equal (level, lo) pairs overlap, and level_segments resolves overlaps whatever their order, so
// no further key is needed.
template <class K>
std::vector<tagged_range<K>> sort_ranges(std::vector<std::vector<tagged_range<K>>> chunks) {
  auto ranges = concatenate(chunks);
  std::sort(ranges.begin(), ranges.end(), [](const tagged_range<K>& a, const tagged_range<K>& b) {
    if (a.level != b.level) return a.level > b.level;
    return a.lo < b.lo;
  });
  return ranges;
}

// A radix sort's digit counts, each made the position where its digit's run starts (an
// exclusive prefix sum), for every digit position.
template <class Counts>
void counts_to_starts(Counts& counts) {
  for (auto& c : counts) {
    std::size_t sum = 0;
    for (auto& x : c) {
      const std::size_t k = x;
      x = sum;
      sum += k;
    }
  }
}

// IPv4: a radix sort, linear in the number of ranges (a million /32s is the common load, and a
// comparison sort of them was a quarter of the load time): by lo in three stable passes of 11,
// 11 and 10 bits, then by level (a stable pass). Digits of 11 bits keep each pass's 2048 write
// positions in the cache, where 16-bit digits missed on almost every write; one read of the
// ranges counts all four digits, and the first pass reads the chunks.
template <>
std::vector<tagged_range<std::uint32_t>> sort_ranges(
    std::vector<std::vector<tagged_range<std::uint32_t>>> chunks) {
  using range = tagged_range<std::uint32_t>;
  std::size_t n = 0;
  for (const auto& c : chunks) n += c.size();
  if (n < 1024) {
    auto ranges = concatenate(chunks);
    std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) {
      if (a.level != b.level) return a.level > b.level;
      return a.lo < b.lo;
    });
    return ranges;
  }
  constexpr std::size_t radix = 2048;
  const auto level_digit = [](const range& r) {
    return std::size_t{32u - std::min<std::uint16_t>(r.level, 32)};  // the most specific first
  };
  std::vector<std::array<std::size_t, radix>> count(4);
  for (auto& c : count) c.fill(0);
  for (const auto& c : chunks) {
    for (const auto& r : c) {
      ++count[0][r.lo & 0x7FFu];
      ++count[1][(r.lo >> 11) & 0x7FFu];
      ++count[2][r.lo >> 22];
      ++count[3][level_digit(r)];
    }
  }
  counts_to_starts(count);
  std::vector<range> a(n);
  for (auto& c : chunks) {
    for (const auto& r : c) a[count[0][r.lo & 0x7FFu]++] = r;
    std::vector<range>().swap(c);
  }
  std::vector<range> b(n);
  auto pass = [](const std::vector<range>& from, std::vector<range>& to, auto& at, auto digit) {
    for (const auto& r : from) to[at[digit(r)]++] = r;
  };
  pass(a, b, count[1], [](const range& r) { return std::size_t{(r.lo >> 11) & 0x7FFu}; });
  pass(b, a, count[2], [](const range& r) { return std::size_t{r.lo >> 22}; });
  pass(a, b, count[3], level_digit);
  return b;
}

// The singles' keys (and values, when they are not all one) sorted into keys_out; equal keys
// keep their order (the order they were pushed). The chunks are freed as they are read.
template <class K, class Chunk>
void sort_singles(std::vector<Chunk>& chunks, std::span<K> keys_out,
                  std::vector<std::uint32_t>& values_out) {
  struct entry {
    K key;
    std::uint32_t value;
  };
  std::vector<entry> all;
  all.reserve(keys_out.size());
  for (auto& c : chunks) {
    for (std::size_t i = 0; i < c.keys.size(); ++i) {
      all.push_back({c.keys[i], c.values.empty() ? c.value : c.values[i]});
    }
    Chunk().keys.swap(c.keys);
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const entry& x, const entry& y) { return x.key < y.key; });
  values_out.resize(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    keys_out[i] = all[i].key;
    values_out[i] = all[i].value;
  }
}

// IPv4: a stable radix sort on the key, in passes of 11, 11 and 10 bits (see sort_ranges), the
// first reading the chunks. When every chunk has one value, and the same, only the keys are
// sorted (4 octets each) and values_out stays empty; otherwise (key, value) records are.
template <class Chunk>
void sort_singles(std::vector<Chunk>& chunks, std::span<std::uint32_t> keys_out,
                  std::vector<std::uint32_t>& values_out) {
  const std::size_t n = keys_out.size();
  bool uniform = true;
  for (const auto& c : chunks) {
    uniform = uniform && c.values.empty() && c.value == chunks.front().value;
  }
  constexpr std::size_t radix = 2048;
  std::vector<std::array<std::size_t, radix>> count(3);
  for (auto& c : count) c.fill(0);
  for (const auto& c : chunks) {
    for (const std::uint32_t k : c.keys) {
      ++count[0][k & 0x7FFu];
      ++count[1][(k >> 11) & 0x7FFu];
      ++count[2][k >> 22];
    }
  }
  counts_to_starts(count);
  if (uniform) {
    // chunks -> keys_out -> temp -> keys_out.
    std::vector<std::uint32_t, uninit_allocator<std::uint32_t>> temp(n);
    for (auto& c : chunks) {
      for (const std::uint32_t k : c.keys) keys_out[count[0][k & 0x7FFu]++] = k;
      Chunk().keys.swap(c.keys);
    }
    for (const std::uint32_t k : keys_out) temp[count[1][(k >> 11) & 0x7FFu]++] = k;
    for (const std::uint32_t k : temp) keys_out[count[2][k >> 22]++] = k;
    return;
  }
  struct entry {
    std::uint32_t key;
    std::uint32_t value;
  };
  std::vector<entry, uninit_allocator<entry>> a(n);
  std::vector<entry, uninit_allocator<entry>> b(n);
  for (auto& c : chunks) {
    for (std::size_t i = 0; i < c.keys.size(); ++i) {
      const std::uint32_t k = c.keys[i];
      a[count[0][k & 0x7FFu]++] = {k, c.values.empty() ? c.value : c.values[i]};
    }
    Chunk().keys.swap(c.keys);
    Chunk().values.swap(c.values);
  }
  for (const entry& e : a) b[count[1][(e.key >> 11) & 0x7FFu]++] = e;
  for (const entry& e : b) a[count[2][e.key >> 22]++] = e;
  values_out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    keys_out[i] = a[i].key;
    values_out[i] = a[i].value;
  }
}

}  // namespace

template <class K>
auto interval_table<K>::level_segments(std::span<const tagged_range<K>> level, group_store& groups)
    -> std::vector<segment> {
  std::vector<segment> out;
  out.reserve(level.size());
  struct event {
    K pos;
    bool start;
    std::uint32_t value;
  };
  std::vector<event> events;
  std::map<std::uint32_t, int> active;  // value (or excluded_value) -> ranges covering
  std::vector<std::uint32_t> members;
  // Sorted by lo: a cluster is a run of ranges chained by overlaps (each starts at or before the
  // furthest end so far). Most ranges are a cluster alone and are a segment as they are; only
  // the ranges of a real cluster go through the sweep, so a few overlapping CIDRs among a
  // million /32s cost what they overlap, not a sort of the whole level.
  for (std::size_t i = 0; i < level.size();) {
    K far = level[i].hi;
    std::size_t j = i + 1;
    while (j < level.size() && level[j].lo <= far) far = std::max(far, level[j++].hi);
    if (j == i + 1) {
      const auto& r = level[i];
      out.push_back(
          {r.lo, r.hi, r.value == excluded_value ? excluded_value : groups.single(r.value)});
      i = j;
      continue;
    }
    events.clear();
    for (std::size_t k = i; k < j; ++k) {
      const auto& r = level[k];
      events.push_back({r.lo, true, r.value});
      if (r.hi != traits::max()) events.push_back({traits::next(r.hi), false, r.value});
    }
    i = j;
    std::sort(events.begin(), events.end(),
              [](const event& x, const event& y) { return x.pos < y.pos; });
    active.clear();
    for (std::size_t e = 0; e < events.size();) {
      const K pos = events[e].pos;
      for (; e < events.size() && events[e].pos == pos; ++e) {
        if (events[e].start) {
          ++active[events[e].value];
        } else if (--active[events[e].value] == 0) {
          active.erase(events[e].value);
        }
      }
      if (active.empty()) continue;
      const K end = e < events.size() ? traits::prev(events[e].pos) : traits::max();
      std::uint32_t group = excluded_value;
      if (!active.contains(excluded_value)) {
        members.clear();
        for (const auto& [v, n] : active) members.push_back(v);
        group = groups.intern(members);
      }
      if (!out.empty() && out.back().group == group && out.back().hi != traits::max() &&
          traits::next(out.back().hi) == pos) {
        out.back().hi = end;
      } else {
        out.push_back({pos, end, group});
      }
    }
  }
  return out;
}

template <class K>
void interval_table<K>::fill_gaps(std::vector<segment>& top, const std::vector<segment>& below) {
  std::vector<segment> gaps;
  std::size_t k = 0;
  for (const auto& b : below) {
    while (k < top.size() && top[k].hi < b.lo) ++k;
    K cur = b.lo;
    for (std::size_t kk = k;; ++kk) {
      if (kk == top.size() || top[kk].lo > b.hi) {
        gaps.push_back({cur, b.hi, b.group});
        break;
      }
      if (top[kk].lo > cur) gaps.push_back({cur, traits::prev(top[kk].lo), b.group});
      if (top[kk].hi >= b.hi) break;
      cur = traits::next(top[kk].hi);
    }
  }
  // Merge from the back into top's own storage: the levels below the /32s are usually few
  // ranges, and a fresh copy of a million segments per level was most of build()'s page faults.
  std::size_t a = top.size();
  std::size_t b = gaps.size();
  top.resize(top.size() + gaps.size());
  for (std::size_t w = top.size(); b > 0;) {
    if (a > 0 && top[a - 1].lo > gaps[b - 1].lo) {
      top[--w] = top[--a];
    } else {
      top[--w] = gaps[--b];
    }
  }
}

template <class K>
range_list<K>::range_list(unsigned shards)
    : chunks_(std::is_same_v<K, std::uint32_t> ? shards : 1) {
  if (chunks_.empty()) chunks_.resize(1);
  singles_.resize(chunks_.size());
}

template <class K>
void range_list<K>::add(unsigned shard, const tagged_range<K>& r) {
  auto& list = chunks_[shard];
  if (list.empty() || list.back().size() == chunk_ranges) list.emplace_back().reserve(chunk_ranges);
  list.back().push_back(r);
  ++size_;
}

template <class K>
void range_list<K>::push(const tagged_range<K>& r) {
  if constexpr (std::is_same_v<K, std::uint32_t>) {
    // Level 32 is the most specific an IPv4 table knows (resolve() relies on it).
    if (r.level > 32) std::abort();
    if (r.lo == r.hi && r.level == 32 && r.value != excluded_value) {
      push_single(r.lo, r.value);
      return;
    }
    const unsigned first = shard_of(r.lo);
    const unsigned last = shard_of(r.hi);
    if (first == last) {
      add(first, r);
      return;
    }
    const auto n = static_cast<unsigned>(chunks_.size());
    const auto shard_lo = [n](unsigned s) {
      return static_cast<std::uint32_t>(((std::uint64_t{s} << 32) + n - 1) / n);
    };
    for (unsigned s = first; s <= last; ++s) {
      tagged_range<K> piece = r;
      piece.lo = std::max(r.lo, shard_lo(s));
      piece.hi = s + 1 < n ? std::min(r.hi, shard_lo(s + 1) - 1) : r.hi;
      add(s, piece);
    }
  } else {
    add(0, r);
  }
}

template <class K>
void range_list<K>::append(range_list&& later) {
  const auto take = [](auto& to, auto& from, auto size) {
    for (std::size_t s = 0; s < to.size() && s < from.size(); ++s) {
      for (auto& c : from[s]) {
        if (size(c) > 0) to[s].push_back(std::move(c));
      }
      from[s].clear();
    }
  };
  take(chunks_, later.chunks_, [](const auto& c) { return c.size(); });
  take(singles_, later.singles_, [](const auto& c) { return c.keys.size(); });
  size_ += later.size_;
  later.size_ = 0;
}

// Writes pieces in key order into a shard's arrays, joining a piece to the one before when they
// touch and have one group (so the table is the same however its pieces were found).
template <class K>
class interval_table<K>::piece_writer {
 public:
  // read: how many sorted singles have been read (singles are written in place below it).
  piece_writer(pieces& out, const std::size_t& read) : out_(out), read_(read) {}
  void add(K lo, K hi, std::uint32_t group) {
    if (open_ && group_ == group && hi_ != traits::max() && traits::next(hi_) == lo) {
      hi_ = hi;
      return;
    }
    flush();
    open_ = true;
    lo_ = lo;
    hi_ = hi;
    group_ = group;
  }
  void flush() {
    if (!open_) return;
    open_ = false;
    if (lo_ != hi_) {
      out_.lo.push_back(lo_);
      out_.hi.push_back(hi_);
      out_.group.push_back(group_);
      return;
    }
    const std::size_t n = out_.singles();
    if (n == 0) out_.single_common = group_;
    if (out_.single_group.empty() && group_ != out_.single_common) {
      out_.single_group.assign(n, out_.single_common);
    }
    if (out_.overflow.empty() && out_.in_place < read_) {
      out_.single[out_.in_place++] = lo_;
    } else {
      out_.overflow.push_back(lo_);
    }
    if (!out_.single_group.empty()) out_.single_group.push_back(group_);
  }

 private:
  pieces& out_;
  const std::size_t& read_;
  bool open_ = false;
  K lo_{};
  K hi_{};
  std::uint32_t group_ = 0;
};

namespace {

// The sorted singles resolved one address at a time: several entries of one address, and the
// level-32 segments covering it, add up to its group; a level-32 exclusion covering it removes
// it. Read as the pieces are written (over the keys, behind the reading), so the resolved points
// are never stored.
template <class K, class Segment>
class point_reader {
 public:
  point_reader(std::span<const K> keys, const std::vector<std::uint32_t>& values,
               std::uint32_t common, const std::vector<Segment>& top, group_store& groups)
      : keys_(keys), values_(values), common_(common), groups_(groups), top_(top) {
    advance();
  }
  bool more() const { return more_; }
  const std::size_t& read() const { return k_; }  // keys read so far
  K key() const { return key_; }
  std::uint32_t group() const { return group_; }

  void advance() {
    while (k_ < keys_.size()) {
      key_ = keys_[k_];
      std::size_t e = k_ + 1;
      while (e < keys_.size() && keys_[e] == key_) ++e;
      while (t_ < top_.size() && top_[t_].hi < key_) ++t_;
      const bool covered = t_ < top_.size() && top_[t_].lo <= key_;
      if (covered && top_[t_].group == excluded_value) {
        k_ = e;
        continue;
      }
      if (e == k_ + 1 && !covered) {
        // Most singles share a value: its group is kept at hand.
        const std::uint32_t v = value(k_);
        if (v != last_value_) {
          last_value_ = v;
          last_group_ = groups_.single(v);
        }
        group_ = last_group_;
        k_ = e;
        more_ = true;
        return;
      }
      members_.clear();
      for (; k_ < e; ++k_) members_.push_back(value(k_));
      if (covered) {
        const auto g = groups_.get(top_[t_].group);
        members_.insert(members_.end(), g.begin(), g.end());
      }
      std::sort(members_.begin(), members_.end());
      members_.erase(std::unique(members_.begin(), members_.end()), members_.end());
      group_ = groups_.intern(members_);
      more_ = true;
      return;
    }
    more_ = false;
  }

 private:
  std::uint32_t value(std::size_t i) const { return values_.empty() ? common_ : values_[i]; }

  std::span<const K> keys_;
  const std::vector<std::uint32_t>& values_;
  std::uint32_t common_;
  group_store& groups_;
  std::vector<Segment> top_;  // the level-32 segments (a copy: the gaps below are filled later)
  std::vector<std::uint32_t> members_;
  std::size_t k_ = 0;
  std::size_t t_ = 0;
  bool more_ = false;
  K key_{};
  std::uint32_t group_ = 0;
  std::uint32_t last_value_ = excluded_value;
  std::uint32_t last_group_ = 0;
};

}  // namespace

template <class K>
auto interval_table<K>::resolve(std::vector<std::vector<tagged_range<K>>> chunks,
                                std::vector<single_chunk> singles, std::span<K> room,
                                group_store& groups) -> pieces {
  auto ranges = sort_ranges(std::move(chunks));
  std::vector<std::uint32_t> values;  // empty: every single has `common`
  const std::uint32_t common = singles.empty() ? 0 : singles.front().value;
  if (!room.empty()) sort_singles(singles, room, values);
  std::vector<single_chunk>().swap(singles);
  std::vector<segment> merged;
  std::size_t i = 0;
  if (std::is_same_v<K, std::uint32_t> && !ranges.empty() && ranges.front().level == 32) {
    // Level 32, the singles' own, first: they are resolved against it.
    while (i < ranges.size() && ranges[i].level == 32) ++i;
    merged = level_segments(std::span(ranges).subspan(0, i), groups);
    merged.reserve(merged.size() + 2 * (ranges.size() - i) + 16);
  }
  point_reader<K, segment> points(room, values, common, merged, groups);
  while (i < ranges.size()) {
    std::size_t j = i;
    while (j < ranges.size() && ranges[j].level == ranges[i].level) ++j;
    auto segs = level_segments(std::span(ranges).subspan(i, j - i), groups);
    if (merged.empty()) {
      merged = std::move(segs);
      // Room for the gaps the levels below fill, so fill_gaps does not move a million
      // segments to grow them.
      merged.reserve(merged.size() + 2 * (ranges.size() - j) + 16);
    } else {
      fill_gaps(merged, segs);
    }
    i = j;
  }
  std::vector<tagged_range<K>>().swap(ranges);

  // The segments (exclusions dropped) with the points on top: a point is more specific than
  // any range below level 32, and was resolved against level 32.
  pieces out;
  out.single = room.data();
  piece_writer w(out, points.read());
  for (const auto& seg : merged) {
    if (seg.group == excluded_value) continue;
    K from = seg.lo;
    bool rest = true;  // [from, seg.hi] is still to write
    for (; points.more() && points.key() <= seg.hi; points.advance()) {
      const K key = points.key();
      if (key < from) {
        w.add(key, key, points.group());  // before the segment
        continue;
      }
      if (key > from) w.add(from, traits::prev(key), seg.group);
      w.add(key, key, points.group());
      if (key == seg.hi) {
        rest = false;
        points.advance();
        break;
      }
      from = traits::next(key);
    }
    if (rest) w.add(from, seg.hi, seg.group);
  }
  for (; points.more(); points.advance()) w.add(points.key(), points.key(), points.group());
  w.flush();
  return out;
}

template <class K>
interval_table<K> interval_table<K>::build(const std::vector<tagged_range<K>>& ranges,
                                           unsigned threads) {
  range_list<K> list(std::clamp(threads, 1u, 64u));
  for (const auto& r : ranges) list.push(r);
  return build(std::move(list), threads);
}

template <class K>
void interval_table<K>::index() {
  groups_.shrink();
  if constexpr (std::is_same_v<K, std::uint32_t>) {
    single_idx_.build(std::span<const K>(single_.data(), single_.size()));
    lo_idx_.build(lo_);
  }
}

template <class K>
interval_table<K> interval_table<K>::build(range_list<K> ranges, unsigned threads) {
  interval_table t;
  const unsigned shards = ranges.shards();
  // One array for every shard's singles, each shard sorting its own into its stretch and
  // writing its part of the table's singles there; the stretches are then closed up.
  std::vector<std::size_t> first(shards + 1, 0);
  for (unsigned s = 0; s < shards; ++s) {
    std::size_t n = 0;
    for (const auto& c : ranges.singles_[s]) n += c.keys.size();
    first[s + 1] = first[s] + n;
  }
  t.single_.resize(first[shards]);
  const auto room = [&](unsigned s) {
    return std::span<K>(t.single_.data() + first[s], first[s + 1] - first[s]);
  };
  std::vector<pieces> parts(shards);
  std::vector<group_store> stores(shards);
  if (shards == 1) {
    parts[0] =
        resolve(std::move(ranges.chunks_[0]), std::move(ranges.singles_[0]), room(0), t.groups_);
  } else {
    // What an address resolves to depends only on the ranges covering it, so each shard is
    // resolved alone (on its own thread when the list is large), with its own groups; then the
    // groups are interned again here and the shards' parts put end to end.
    const auto one = [&](unsigned s) {
      parts[s] =
          resolve(std::move(ranges.chunks_[s]), std::move(ranges.singles_[s]), room(s), stores[s]);
    };
    if (threads > 1 && ranges.size() >= parallel_min_ranges) {
      run_on_threads(shards, one);
    } else {
      for (unsigned s = 0; s < shards; ++s) one(s);
    }
    std::vector<std::uint32_t> members;
    for (unsigned s = 0; s < shards; ++s) {
      std::vector<std::uint32_t> global(stores[s].size());
      for (std::uint32_t g = 0; g < global.size(); ++g) {
        const auto values = stores[s].get(g);
        members.assign(values.begin(), values.end());
        global[g] = t.groups_.intern(members);
      }
      auto& p = parts[s];
      p.single_common = p.singles() == 0 ? 0 : global[p.single_common];
      for (auto& g : p.single_group) g = global[g];
      for (auto& g : p.group) g = global[g];
    }
  }

  using piece = segment;
  const auto group_of = [](const pieces& p, std::size_t i) {
    return p.single_group.empty() ? p.single_common : p.single_group[i];
  };
  const auto first_piece = [&](const pieces& p) -> std::optional<piece> {
    const bool s = p.singles() > 0;
    const bool r = !p.lo.empty();
    if (!s && !r) return std::nullopt;
    if (s && (!r || p.single_at(0) < p.lo.front())) {
      return piece{p.single_at(0), p.single_at(0), group_of(p, 0)};
    }
    return piece{p.lo.front(), p.hi.front(), p.group.front()};
  };
  const auto last_piece = [&](const pieces& p) -> std::optional<piece> {
    const std::size_t n = p.singles();
    const bool r = !p.lo.empty();
    if (n == 0 && !r) return std::nullopt;
    const K last = n > 0 ? p.single_at(n - 1) : K{};
    if (n > 0 && (!r || last > p.hi.back())) return piece{last, last, group_of(p, n - 1)};
    return piece{p.lo.back(), p.hi.back(), p.group.back()};
  };
  // A piece at the end of a shard that touches the next shard's first piece and has its group
  // (a range cut at the edge, or neighbours) joins it; and a part whose singles overflowed its
  // stretch does not fit back in it. Then the pieces go through a writer again, into a new
  // array (rare). Otherwise the parts are put end to end.
  bool rewrite = false;
  std::size_t total = 0;
  std::optional<piece> before;
  for (const auto& p : parts) {
    total += p.singles();
    rewrite = rewrite || !p.overflow.empty();
    const auto head = first_piece(p);
    if (!head) continue;
    if (before && before->group == head->group && before->hi != traits::max() &&
        traits::next(before->hi) == head->lo) {
      rewrite = true;
    }
    before = last_piece(p);
  }
  pieces all;
  decltype(t.single_) rewritten;
  if (rewrite) {
    rewritten.resize(total);
    all.single = rewritten.data();
    piece_writer w(all, total);
    for (auto& p : parts) {
      std::size_t a = 0;
      std::size_t b = 0;
      while (a < p.singles() || b < p.lo.size()) {
        if (a < p.singles() && (b == p.lo.size() || p.single_at(a) < p.lo[b])) {
          w.add(p.single_at(a), p.single_at(a), group_of(p, a));
          ++a;
        } else {
          w.add(p.lo[b], p.hi[b], p.group[b]);
          ++b;
        }
      }
      p = pieces{};
    }
    w.flush();
  } else {
    std::size_t intervals = 0;
    bool common = true;
    std::optional<std::uint32_t> common_group;
    for (const auto& p : parts) {
      intervals += p.lo.size();
      if (p.singles() == 0) continue;
      if (!p.single_group.empty() || (common_group && *common_group != p.single_common)) {
        common = false;
      }
      if (!common_group) common_group = p.single_common;
    }
    all.single = t.single_.data();
    all.single_common = common_group.value_or(0);
    if (shards == 1) {
      all.lo = std::move(parts[0].lo);
      all.hi = std::move(parts[0].hi);
      all.group = std::move(parts[0].group);
    } else {
      all.lo.reserve(intervals);
      all.hi.reserve(intervals);
      all.group.reserve(intervals);
    }
    if (!common) all.single_group.reserve(total);
    for (auto& p : parts) {
      // Each part's singles sit at the start of its stretch, at or after where they go.
      if (p.in_place > 0) std::memmove(all.single + all.in_place, p.single, p.in_place * sizeof(K));
      if (!common) {
        for (std::size_t i = 0; i < p.in_place; ++i) all.single_group.push_back(group_of(p, i));
      }
      all.in_place += p.in_place;
      if (shards > 1) {
        all.lo.insert(all.lo.end(), p.lo.begin(), p.lo.end());
        all.hi.insert(all.hi.end(), p.hi.begin(), p.hi.end());
        all.group.insert(all.group.end(), p.group.begin(), p.group.end());
      }
      p = pieces{};
    }
  }
  if (rewrite) t.single_ = std::move(rewritten);
  t.single_.resize(all.singles());
  // A few duplicates or exclusions leave little room unused; many (a quarter) are given back.
  if (t.single_.capacity() / 4 > t.single_.size()) t.single_.shrink_to_fit();
  t.single_group_ = std::move(all.single_group);
  t.single_common_ = all.single_common;
  t.lo_ = std::move(all.lo);
  t.hi_ = std::move(all.hi);
  t.group_ = std::move(all.group);
  t.index();
  return t;
}

template class range_list<std::uint32_t>;
template class range_list<u128>;
template class interval_table<std::uint32_t>;
template class interval_table<u128>;

}  // namespace mx::dnsbl
