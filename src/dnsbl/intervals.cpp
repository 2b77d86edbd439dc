#include "dnsbl/intervals.hpp"

#include <bit>

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

compact_set4 compact_set4::build(std::vector<std::vector<std::uint32_t>> chunks) {
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
  std::vector<std::uint32_t> start(buckets + 1, 0);
  for (const auto& c : chunks) {
    for (const auto k : c) ++start[(k >> 16) + 1];
  }
  for (std::size_t h = 0; h < buckets; ++h) start[h + 1] += start[h];
  std::vector<std::uint16_t> low(n);
  {
    std::vector<std::uint32_t> fill(start.begin(), start.end() - 1);
    for (auto& c : chunks) {
      for (const auto k : c) low[fill[k >> 16]++] = static_cast<std::uint16_t>(k);
      std::vector<std::uint32_t>().swap(c);
    }
  }
  // Sort each bucket and drop duplicates, compacting towards the front. A bucket holds low
  // halves only, so a 65536-bit map sorts it: set a bit per value, read the set bits back in
  // order (duplicates fall out). Reading back costs a scan of the words between the bucket's
  // smallest and largest value, a few hundred nanoseconds against microseconds for a
  // comparison sort of the average bucket.
  std::vector<std::uint64_t> bits(buckets / 64, 0);
  std::size_t w = 0;
  for (std::size_t h = 0; h < buckets; ++h) {
    const std::size_t b = start[h];
    const std::size_t e = start[h + 1];
    start[h] = static_cast<std::uint32_t>(w);
    if (b == e) continue;
    std::size_t lo_word = bits.size();
    std::size_t hi_word = 0;
    for (std::size_t i = b; i < e; ++i) {
      const std::size_t word = low[i] >> 6;
      bits[word] |= std::uint64_t{1} << (low[i] & 63);
      lo_word = std::min(lo_word, word);
      hi_word = std::max(hi_word, word);
    }
    for (std::size_t word = lo_word; word <= hi_word; ++word) {
      std::uint64_t m = bits[word];
      bits[word] = 0;
      while (m != 0) {
        low[w++] =
            static_cast<std::uint16_t>((word << 6) | static_cast<std::size_t>(std::countr_zero(m)));
        m &= m - 1;
      }
    }
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

template <class K>
auto interval_table<K>::level_segments(std::span<const tagged_range<K>> level, group_store& groups)
    -> std::vector<segment> {
  std::vector<segment> out;
  // Sorted by lo: ranges overlap when one starts at or before the furthest end so far. Most data
  // has none, and then each range is a segment as it is.
  bool overlap = false;
  K far = level.empty() ? K{} : level[0].hi;
  for (std::size_t i = 1; i < level.size() && !overlap; ++i) {
    if (level[i].lo <= far) overlap = true;
    far = std::max(far, level[i].hi);
  }
  if (!overlap) {
    out.reserve(level.size());
    for (const auto& r : level) {
      out.push_back(
          {r.lo, r.hi, r.value == excluded_value ? excluded_value : groups.single(r.value)});
    }
    return out;
  }
  struct event {
    K pos;
    bool start;
    std::uint32_t value;
  };
  std::vector<event> events;
  events.reserve(level.size() * 2);
  for (const auto& r : level) {
    events.push_back({r.lo, true, r.value});
    if (r.hi != traits::max()) events.push_back({traits::next(r.hi), false, r.value});
  }
  std::sort(events.begin(), events.end(),
            [](const event& a, const event& b) { return a.pos < b.pos; });
  std::map<std::uint32_t, int> active;  // value (or excluded_value) -> ranges covering
  std::vector<std::uint32_t> members;
  for (std::size_t i = 0; i < events.size();) {
    const K pos = events[i].pos;
    for (; i < events.size() && events[i].pos == pos; ++i) {
      if (events[i].start) {
        ++active[events[i].value];
      } else if (--active[events[i].value] == 0) {
        active.erase(events[i].value);
      }
    }
    if (active.empty()) continue;
    const K end = i < events.size() ? traits::prev(events[i].pos) : traits::max();
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
  return out;
}

template <class K>
auto interval_table<K>::fill_gaps(const std::vector<segment>& top,
                                  const std::vector<segment>& below) -> std::vector<segment> {
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
  std::vector<segment> out;
  out.reserve(top.size() + gaps.size());
  std::merge(top.begin(), top.end(), gaps.begin(), gaps.end(), std::back_inserter(out),
             [](const segment& a, const segment& b) { return a.lo < b.lo; });
  return out;
}

template <class K>
interval_table<K> interval_table<K>::build(std::vector<tagged_range<K>> ranges) {
  interval_table t;
  std::sort(ranges.begin(), ranges.end(), [](const tagged_range<K>& a, const tagged_range<K>& b) {
    if (a.level != b.level) return a.level > b.level;
    if (a.lo != b.lo) return a.lo < b.lo;
    return a.value < b.value;
  });
  std::vector<segment> merged;
  for (std::size_t i = 0; i < ranges.size();) {
    std::size_t j = i;
    while (j < ranges.size() && ranges[j].level == ranges[i].level) ++j;
    auto segs = level_segments(std::span(ranges).subspan(i, j - i), t.groups_);
    merged = merged.empty() ? std::move(segs) : fill_gaps(merged, segs);
    i = j;
  }
  ranges.clear();
  ranges.shrink_to_fit();

  std::vector<segment> clean;
  for (const auto& s : merged) {
    if (s.group == excluded_value) continue;
    if (!clean.empty() && clean.back().group == s.group && clean.back().hi != traits::max() &&
        traits::next(clean.back().hi) == s.lo) {
      clean.back().hi = s.hi;
    } else {
      clean.push_back(s);
    }
  }
  merged.clear();
  merged.shrink_to_fit();

  std::size_t singles = 0;
  for (const auto& s : clean) singles += s.lo == s.hi ? 1 : 0;
  t.single_.reserve(singles);
  t.lo_.reserve(clean.size() - singles);
  t.hi_.reserve(clean.size() - singles);
  t.group_.reserve(clean.size() - singles);
  bool common = true;
  for (const auto& s : clean) {
    if (s.lo == s.hi) {
      if (t.single_.empty()) t.single_common_ = s.group;
      if (s.group != t.single_common_) common = false;
      t.single_.push_back(s.lo);
    } else {
      t.lo_.push_back(s.lo);
      t.hi_.push_back(s.hi);
      t.group_.push_back(s.group);
    }
  }
  if (!common) {
    t.single_group_.reserve(singles);
    for (const auto& s : clean) {
      if (s.lo == s.hi) t.single_group_.push_back(s.group);
    }
  }
  t.groups_.shrink();
  if constexpr (std::is_same_v<K, std::uint32_t>) {
    t.single_idx_.build(t.single_);
    t.lo_idx_.build(t.lo_);
  }
  return t;
}

template class interval_table<std::uint32_t>;
template class interval_table<u128>;

}  // namespace mx::dnsbl
