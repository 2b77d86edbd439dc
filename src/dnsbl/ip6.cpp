// ip6trie and ip6tset: builders and leaves (see sets.hpp).
#include <algorithm>
#include <string>
#include <utility>

#include "dnsbl/dataset.hpp"
#include "dnsbl/flat_set.hpp"
#include "dnsbl/intervals.hpp"
#include "dnsbl/sets.hpp"

namespace mx::dnsbl {

namespace {

using table6 = interval_table<u128>;

u128 to_u128(const text::ip6_bytes& b) {
  u128 v;
  for (std::size_t i = 0; i < 8; ++i) v.hi = (v.hi << 8) | b[i];
  for (std::size_t i = 8; i < 16; ++i) v.lo = (v.lo << 8) | b[i];
  return v;
}

// The address with its last (128 - bits) bits set.
u128 with_host_ones(u128 v, int bits) {
  if (bits <= 0) return key_traits<u128>::max();
  if (bits < 64) {
    v.hi |= ~0ULL >> bits;
    v.lo = ~0ULL;
  } else if (bits < 128) {
    v.lo |= ~0ULL >> (bits - 64);
  }
  return v;
}

std::pair<u128, u128> prefix_range(const lookup_key& key) {
  const u128 lo = to_u128(key.v6);
  return {lo, with_host_ones(lo, 4 * key.v6_nibbles)};
}

class ip6_leaf final : public leaf {
 public:
  ip6_leaf(value_pool values, std::uint32_t def, std::uint32_t ttl, bool tp, table6 table)
      : leaf(dataset_type::ip6trie, key_family::ip6, std::move(values), def, ttl, tp),
        table_(std::move(table)) {}

  std::size_t entry_count() const override { return table_.singles() + table_.intervals(); }
  std::size_t memory_bytes() const override {
    return table_.memory_bytes() + values().memory_bytes();
  }
  bool next_run(walk_cursor& c, ip_run& out) const override {
    return table_.next(c.a, c.b, out.lo, out.hi, out.values);
  }

 protected:
  match find(const lookup_key& key) const override {
    if (key.v6_nibbles == 0) return {};
    if (key.v6_full()) {
      const auto vals = table_.find(to_u128(key.v6));
      if (vals.empty()) return {};
      return {found::listed, vals, 0};
    }
    const auto [lo, hi] = prefix_range(key);
    if (table_.any_in(lo, hi)) return {found::exists, {}, 0};
    return {};
  }

 private:
  table6 table_;
};

class ip6tset_leaf final : public leaf {
 public:
  ip6tset_leaf(value_pool values, std::uint32_t def, std::uint32_t ttl, bool tp,
               std::vector<std::uint64_t> prefixes, std::vector<u128> excluded)
      : leaf(dataset_type::ip6tset, key_family::ip6, std::move(values), def, ttl, tp),
        prefixes_(std::move(prefixes)),
        excluded_(std::move(excluded)) {}

  std::size_t entry_count() const override { return prefixes_.size() + excluded_.size(); }
  std::size_t memory_bytes() const override {
    return prefixes_.capacity() * sizeof(std::uint64_t) + excluded_.capacity() * sizeof(u128) +
           values().memory_bytes();
  }
  // Each /64 in turn, cut around its excluded /128s: c.a is the prefix, c.b the next exclusion;
  // when c.mid, c.pos is an excluded address of the current /64 and the walk goes on after it.
  bool next_run(walk_cursor& c, ip_run& out) const override {
    while (c.a < prefixes_.size()) {
      const u128 first{prefixes_[c.a], 0};
      const u128 last{prefixes_[c.a], ~0ULL};
      u128 lo = first;
      if (c.mid) {
        c.mid = false;
        if (c.pos == last) {
          ++c.a;
          continue;
        }
        lo = key_traits<u128>::next(c.pos);
      }
      while (c.b < excluded_.size() && excluded_[c.b] < lo) ++c.b;
      out.values = listed_default().values;
      if (c.b < excluded_.size() && excluded_[c.b] <= last) {
        c.pos = excluded_[c.b++];
        c.mid = true;
        if (c.pos == lo) continue;
        out.lo = lo;
        out.hi = key_traits<u128>::prev(c.pos);
        return true;
      }
      out.lo = lo;
      out.hi = last;
      ++c.a;
      return true;
    }
    return false;
  }

 protected:
  match find(const lookup_key& key) const override {
    if (key.v6_nibbles == 0) return {};
    const auto [lo, hi] = prefix_range(key);
    if (key.v6_full()) {
      if (!std::binary_search(prefixes_.begin(), prefixes_.end(), lo.hi)) return {};
      if (std::binary_search(excluded_.begin(), excluded_.end(), lo)) return {};
      return listed_default();
    }
    // A listed /64 keeps existing even when some of its /128s are excluded.
    const auto it = std::lower_bound(prefixes_.begin(), prefixes_.end(), lo.hi);
    if (it != prefixes_.end() && *it <= hi.hi) return {found::exists, {}, 0};
    return {};
  }

 private:
  std::vector<std::uint64_t> prefixes_;
  std::vector<u128> excluded_;
};

class ip6trie_builder final : public leaf_builder {
 public:
  ip6trie_builder() : leaf_builder(dataset_type::ip6trie) {}

  void line(std::string_view s, line_context& ctx) override {
    // "::1" is an address; ":..." otherwise a default value.
    if (s.front() == ':' && !(s.size() > 1 && s[1] == ':')) {
      default_line(s, ctx);
      return;
    }
    const bool excl = s.front() == '!';
    if (excl) {
      s.remove_prefix(1);
      text::skip_space(s);
    }
    auto p = text::parse_ip6_cidr(s);
    if (!p || !text::at_key_end(s)) {
      ctx.warn("invalid address");
      return;
    }
    if (text::ip6_clear_host(p->addr, p->bits) && !ctx.options().accept_host_bits) {
      ctx.warn("invalid range (non-zero host part)");
      return;
    }
    text::skip_space(s);
    std::uint32_t value = excluded_value;
    if (!excl) {
      const auto v = entry_value(s, ctx);
      if (!v) return;
      value = *v;
    }
    const u128 lo = to_u128(p->addr);
    if (!prefixes_.insert({lo, p->bits})) {
      ctx.warn("duplicated entry for " + text::ip6_to_text(p->addr) + "/" +
               std::to_string(p->bits));
      return;
    }
    ranges_.push_back(
        {lo, with_host_ones(lo, p->bits), value, static_cast<std::uint16_t>(p->bits)});
  }

  std::shared_ptr<const leaf> finish(line_context& ctx) override {
    const std::uint32_t def = first_default();
    values_.finalize(subst);
    prefixes_.clear();
    auto table = table6::build(std::move(ranges_));
    return std::make_shared<ip6_leaf>(std::move(values_), def, ttl,
                                      ctx.options().rfc5782_test_points, std::move(table));
  }

 private:
  struct prefix {
    u128 lo;
    int bits;
    bool operator==(const prefix&) const = default;
  };
  struct prefix_hash {
    std::uint64_t operator()(const prefix& p) const {
      return mix64(p.lo.hi ^ mix64(p.lo.lo ^ static_cast<std::uint64_t>(p.bits)));
    }
  };
  std::vector<tagged_range<u128>> ranges_;
  flat_set<prefix, prefix_hash> prefixes_{prefix{{}, -1}};  // seen (address, bits); bits >= 0
};

class ip6tset_builder final : public leaf_builder {
 public:
  ip6tset_builder() : leaf_builder(dataset_type::ip6tset) {}

  void start_file() override {}  // one default for the whole set

  void line(std::string_view s, line_context& ctx) override {
    if (s.front() == ':') {
      if (!default_seen_) default_line(s, ctx);
      return;
    }
    const bool excl = s.front() == '!';
    if (excl) {
      s.remove_prefix(1);
      text::skip_space(s);
    }
    const auto p = text::parse_ip6_prefix(s);
    if (!p || !text::at_key_end(s)) {
      ctx.warn("invalid address");
      return;
    }
    if (p->bits != (excl ? 128 : 64)) {
      ctx.warn(excl ? "invalid address for exclusion (should be 128 bits)"
                    : "invalid address for regular entry (should be 64 bits)");
      return;
    }
    const u128 v = to_u128(p->addr);
    if (excl) {
      excluded_.push_back(v);
    } else {
      prefixes_.push_back(v.hi);
    }
  }

  std::shared_ptr<const leaf> finish(line_context& ctx) override {
    const std::uint32_t def = first_default();
    values_.finalize(subst);
    std::sort(prefixes_.begin(), prefixes_.end());
    prefixes_.erase(std::unique(prefixes_.begin(), prefixes_.end()), prefixes_.end());
    prefixes_.shrink_to_fit();
    std::sort(excluded_.begin(), excluded_.end());
    excluded_.erase(std::unique(excluded_.begin(), excluded_.end()), excluded_.end());
    excluded_.shrink_to_fit();
    return std::make_shared<ip6tset_leaf>(std::move(values_), def, ttl,
                                          ctx.options().rfc5782_test_points, std::move(prefixes_),
                                          std::move(excluded_));
  }

 private:
  std::vector<std::uint64_t> prefixes_;
  std::vector<u128> excluded_;
};

}  // namespace

std::unique_ptr<leaf_builder> make_ip6trie_builder() {
  return std::make_unique<ip6trie_builder>();
}
std::unique_ptr<leaf_builder> make_ip6tset_builder() {
  return std::make_unique<ip6tset_builder>();
}

}  // namespace mx::dnsbl
