// ip4set, ip4trie and ip4tset: builders and leaves (see sets.hpp).
#include <algorithm>
#include <optional>
#include <string>

#include "dnsbl/dataset.hpp"
#include "dnsbl/flat_set.hpp"
#include "dnsbl/intervals.hpp"
#include "dnsbl/sets.hpp"

namespace mx::dnsbl {

namespace {

using table4 = interval_table<std::uint32_t>;

std::optional<std::pair<std::uint32_t, std::uint32_t>> partial_range(const lookup_key& key) {
  if (key.v4_octets > 0 && key.v4_octets < 4) {
    return std::pair<std::uint32_t, std::uint32_t>{key.v4,
                                                   key.v4 | ~text::ip4_mask(8 * key.v4_octets)};
  }
  return key.mapped_v4_range();
}

std::optional<std::uint32_t> point(const lookup_key& key) {
  if (key.v4_full()) return key.v4;
  return key.mapped_v4();
}

class ip4_leaf final : public leaf {
 public:
  ip4_leaf(dataset_type type, value_pool values, std::uint32_t def, std::uint32_t ttl, bool tp,
           table4 table)
      : leaf(type, key_family::ip4, std::move(values), def, ttl, tp), table_(std::move(table)) {}

  std::size_t entry_count() const override { return table_.singles() + table_.intervals(); }
  std::size_t memory_bytes() const override {
    return table_.memory_bytes() + values().memory_bytes();
  }
  bool next_run(walk_cursor& c, ip_run& out) const override {
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    if (!table_.next(c.a, c.b, lo, hi, out.values)) return false;
    out.lo = {0, lo};
    out.hi = {0, hi};
    return true;
  }

 protected:
  match find(const lookup_key& key) const override {
    if (const auto p = point(key)) {
      const auto vals = table_.find(*p);
      if (vals.empty()) return {};
      return {found::listed, vals, 0};
    }
    if (const auto r = partial_range(key); r && table_.any_in(r->first, r->second)) {
      return {found::exists, {}, 0};
    }
    return {};
  }

 private:
  table4 table_;
};

class ip4tset_leaf final : public leaf {
 public:
  ip4tset_leaf(value_pool values, std::uint32_t def, std::uint32_t ttl, bool tp, compact_set4 addrs)
      : leaf(dataset_type::ip4tset, key_family::ip4, std::move(values), def, ttl, tp),
        addrs_(std::move(addrs)) {}

  std::size_t entry_count() const override { return addrs_.size(); }
  std::size_t memory_bytes() const override {
    return addrs_.memory_bytes() + values().memory_bytes();
  }
  bool next_run(walk_cursor& c, ip_run& out) const override {
    if (c.a >= addrs_.size()) return false;
    out.lo = out.hi = {0, addrs_.at(c.a++, c.b)};
    out.values = listed_default().values;
    return true;
  }

 protected:
  match find(const lookup_key& key) const override {
    if (const auto p = point(key)) {
      if (addrs_.contains(*p)) return listed_default();
      return {};
    }
    if (const auto r = partial_range(key); r && addrs_.any_in(r->first, r->second)) {
      return {found::exists, {}, 0};
    }
    return {};
  }

 private:
  compact_set4 addrs_;
};

// rbldnsd ip4set stores a range as entries on the octet boundaries /32, /24, /16 and /8, and the
// most specific boundary with an entry decides. Splitting the range the same way (as runs, not
// one entry per address) gives the same answers.
void expand_octet_levels(std::uint32_t lo, std::uint32_t hi, std::uint32_t value,
                         range_list<std::uint32_t>& out) {
  std::uint64_t a = lo;
  std::uint64_t b = hi;
  auto emit = [&](int unit_bits, int level, std::uint64_t first, std::uint64_t last) {
    if (first > last) return;
    const auto from = static_cast<std::uint32_t>(first << unit_bits);
    const auto to = static_cast<std::uint32_t>(((last + 1) << unit_bits) - 1);
    out.push({from, to, value, static_cast<std::uint16_t>(level)});
  };
  for (int bits = 0; bits < 24; bits += 8) {
    const int level = 32 - bits;
    if ((a | 255u) >= b) {
      if (a <= b && b - a == 255u) {
        emit(bits + 8, level - 8, a >> 8, a >> 8);  // a whole block of the next level
      } else {
        emit(bits, level, a, b);
      }
      return;
    }
    if ((a & 255u) != 0) {
      emit(bits, level, a, a | 255u);
      a = (a >> 8) + 1;
    } else {
      a >>= 8;
    }
    if ((b & 255u) != 255u) {
      emit(bits, level, b & ~std::uint64_t{255}, b);
      b = (b >> 8) - 1;
    } else {
      b >>= 8;
    }
  }
  emit(24, 8, a, b);
}

class ip4_builder final : public leaf_builder {
 public:
  explicit ip4_builder(dataset_type type) : leaf_builder(type) {}

  void line(std::string_view s, line_context& ctx) override {
    if (s.front() == ':') {
      default_line(s, ctx);
      return;
    }
    const bool excl = s.front() == '!';
    if (excl) {
      s.remove_prefix(1);
      text::skip_space(s);
    }
    const bool trie = type() == dataset_type::ip4trie;
    auto r = trie ? text::parse_ip4_cidr(s) : text::parse_ip4_range(s);
    if (!r || (!trie && r->bits <= 0) || !text::at_key_end(s)) {
      ctx.warn("invalid address");
      return;
    }
    if ((r->lo & ~text::ip4_mask(r->bits)) != 0) {
      if (!ctx.options().accept_host_bits) {
        ctx.warn("invalid range (non-zero host part)");
        return;
      }
      r->lo &= text::ip4_mask(r->bits);
    }
    if (ctx.maxrange4 != 0 && ctx.maxrange4 <= r->hi - r->lo) {
      ctx.warn("too large range (" + std::to_string(std::uint64_t{r->hi - r->lo} + 1) +
               ") ignored (" + std::to_string(ctx.maxrange4) + " max)");
      return;
    }
    std::uint32_t value = excluded_value;
    if (!excl) {
      text::skip_space(s);
      const auto v = entry_value(s, ctx);
      if (!v) return;
      value = *v;
    }
    if (trie) {
      if (!first_of_prefix(r->lo, r->bits, ctx)) return;
      ranges(ctx).push({r->lo, r->hi, value, static_cast<std::uint16_t>(r->bits)});
    } else {
      expand_octet_levels(r->lo, r->hi, value, ranges(ctx));
    }
  }

  std::size_t plain_lines(std::string_view text, line_context& ctx) override {
    // A lone /32 with the default value, as line() reads "a.b.c.d" (expand_octet_levels keeps
    // a /32 as it is, on level 32; an ip4trie keeps it on level 32, its prefix length, once).
    const bool trie = type() == dataset_type::ip4trie;
    std::size_t taken = 0;
    std::uint32_t value = 0;
    for (;;) {
      std::uint32_t batch[256];
      std::size_t n = 0;
      const std::size_t octets = text::plain_ip4_lines(text.substr(taken), batch, 256, n);
      if (n == 0) return taken;
      if (taken == 0) value = default_entry_value();
      auto& list = ranges(ctx);
      if (trie) {
        for (std::size_t i = 0; i < n; ++i) {
          ++ctx.line;  // the line's own number for the warning
          if (first_of_prefix(batch[i], 32, ctx)) list.push_single(batch[i], value);
        }
      } else {
        for (std::size_t i = 0; i < n; ++i) list.push_single(batch[i], value);
        ctx.line += n;
      }
      taken += octets;
      if (n < 256) return taken;
    }
  }

  std::unique_ptr<leaf_builder> fork() const override {
    if (type() == dataset_type::ip4trie) return nullptr;  // duplicates span the whole dataset
    auto b = std::make_unique<ip4_builder>(type());
    b->speculative_ = true;
    return b;
  }

  void absorb(leaf_builder& part) override {
    auto& p = static_cast<ip4_builder&>(part);
    const value_map m = take_values(p);
    if (!p.ranges_) return;
    p.ranges_->update_values([&m](std::uint32_t& v) {
      if (v != excluded_value) v = m(v);
    });
    if (!ranges_) {
      ranges_ = std::move(p.ranges_);
    } else {
      ranges_->append(std::move(*p.ranges_));
    }
    p.ranges_.reset();
  }

  std::shared_ptr<const leaf> finish(line_context& ctx) override {
    const std::uint32_t def = first_default();
    values_.finalize(subst);
    prefixes_.clear();
    auto table = table4::build(ranges_ ? std::move(*ranges_) : range_list<std::uint32_t>(),
                               thread_count(ctx.options()));
    ranges_.reset();
    return std::make_shared<ip4_leaf>(type(), std::move(values_), def, ttl,
                                      ctx.options().rfc5782_test_points, std::move(table));
  }

 private:
  // ip4trie: true the first time (address, bits) is seen; later, a warning as rbldnsd gives.
  bool first_of_prefix(std::uint32_t lo, int bits, line_context& ctx) {
    if (prefixes_.insert((std::uint64_t{lo} << 8) | static_cast<std::uint64_t>(bits))) return true;
    char buf[16];
    ctx.warn("duplicated entry for " + std::string(buf, text::ip4_to_text(lo, buf)) + "/" +
             std::to_string(bits));
    return false;
  }

  // In as many shards as the load has threads (the options are the same for every fork).
  range_list<std::uint32_t>& ranges(line_context& ctx) {
    if (!ranges_) ranges_.emplace(thread_count(ctx.options()));
    return *ranges_;
  }

  std::optional<range_list<std::uint32_t>> ranges_;
  struct hash64 {
    std::uint64_t operator()(std::uint64_t k) const { return mix64(k); }
  };
  // ip4trie: seen (address << 8 | bits); all ones is never one (bits <= 32).
  flat_set<std::uint64_t, hash64> prefixes_{~std::uint64_t{0}};
};

class ip4tset_builder final : public leaf_builder {
 public:
  ip4tset_builder() : leaf_builder(dataset_type::ip4tset) {}

  void start_file() override {}  // one default for the whole set

  void line(std::string_view s, line_context& ctx) override {
    if (s.front() == ':') {
      if (!default_seen_) default_line(s, ctx);
      return;
    }
    const auto p = text::parse_ip4_prefix(s);
    if (!p || p->bits != 32 || !text::at_key_end(s)) {
      ctx.warn("invalid address");
      return;
    }
    push(p->addr);
  }

  std::size_t plain_lines(std::string_view text, line_context& ctx) override {
    std::size_t taken = 0;
    for (;;) {
      std::uint32_t batch[256];
      std::size_t n = 0;
      const std::size_t octets = text::plain_ip4_lines(text.substr(taken), batch, 256, n);
      for (std::size_t i = 0; i < n; ++i) push(batch[i]);
      ctx.line += n;
      taken += octets;
      if (n < 256) return taken;
    }
  }

  std::unique_ptr<leaf_builder> fork() const override {
    auto b = std::make_unique<ip4tset_builder>();
    b->speculative_ = true;
    return b;
  }

  void absorb(leaf_builder& part) override {
    // The part's chunks as they are (the order of keys does not matter to the build).
    auto& p = static_cast<ip4tset_builder&>(part);
    for (auto& c : p.chunks_) {
      if (!c.empty()) chunks_.push_back(std::move(c));
    }
    p.chunks_.clear();
  }

  std::shared_ptr<const leaf> finish(line_context& ctx) override {
    const std::uint32_t def = first_default();
    values_.finalize(subst);
    return std::make_shared<ip4tset_leaf>(
        std::move(values_), def, ttl, ctx.options().rfc5782_test_points,
        compact_set4::build(std::move(chunks_), thread_count(ctx.options())));
  }

 private:
  static constexpr std::size_t chunk_keys = std::size_t{1} << 18;  // 1 MiB
  // Fixed-size chunks: no vector ever doubles (and copies) the whole list while it grows.
  void push(std::uint32_t addr) {
    if (chunks_.empty() || chunks_.back().size() == chunk_keys) {
      chunks_.emplace_back().reserve(chunk_keys);
    }
    chunks_.back().push_back(addr);
  }
  std::vector<std::vector<std::uint32_t>> chunks_;
};

}  // namespace

std::unique_ptr<leaf_builder> make_ip4_builder(dataset_type type) {
  return std::make_unique<ip4_builder>(type);
}

std::unique_ptr<leaf_builder> make_ip4tset_builder() {
  return std::make_unique<ip4tset_builder>();
}

}  // namespace mx::dnsbl
