// dnset: builder and leaf (see sets.hpp).
//
// rbldnsd semantics (rbldnsd_dnset.c): "name" lists the name, "*.name" every name below it,
// ".name" both. An exact entry is tried first; otherwise the closest wildcard above the name
// decides. An exclusion ("!") that decides means not listed. Several entries for one name give
// several values. The "$" subject is the matching entry's name.
#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "dnsbl/dataset.hpp"
#include "dnsbl/intervals.hpp"
#include "dnsbl/sets.hpp"

namespace mx::dnsbl {

namespace {

// Names are stored with their labels in reverse order ("test.example.com" is 3com 7example
// 4test), each label with its length octet: every name below N then starts with N's key, so
// they sort right after it.
struct name_table {
  std::string keys;                    // concatenated, in sorted order
  std::vector<std::uint32_t> offsets;  // entry i is keys[offsets[i], offsets[i + 1])
  std::vector<std::uint32_t> groups;   // group id, or excluded_value

  std::size_t size() const { return groups.size(); }
  std::string_view key(std::size_t i) const {
    return std::string_view(keys).substr(offsets[i], offsets[i + 1] - offsets[i]);
  }
  // Index of the entry whose key is k, or npos.
  std::size_t search(std::string_view k) const {
    std::size_t lo = 0;
    std::size_t hi = size();
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      const int c = key(mid).compare(k);
      if (c == 0) return mid;
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return npos;
  }
  std::size_t lower_bound(std::string_view k) const {
    std::size_t lo = 0;
    std::size_t hi = size();
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (key(mid) < k) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  std::size_t memory_bytes() const {
    return keys.capacity() + (offsets.capacity() + groups.capacity()) * sizeof(std::uint32_t);
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

// An entry while loading: its key is arena[offset, offset + length) (no string of its own: a
// million names made a million allocations), and its first 24 octets are also packed
// big-endian (zero-padded) into the entry. Most comparisons of a sort are then integer
// comparisons, and most keys (a domain's labels reversed: "3com7example" is 12 octets) are
// copied into the table from the entry itself: reading the arena in sorted order is a cache
// miss a key.
struct raw_entry {
  static constexpr std::uint32_t inline_octets = 24;
  std::array<std::uint64_t, 3> head{};
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
  std::uint32_t value = 0;  // or excluded_value
};

raw_entry make_entry(std::string_view arena, std::uint32_t offset, std::uint32_t length,
                     std::uint32_t value) {
  raw_entry e;
  e.offset = offset;
  e.length = length;
  e.value = value;
  for (std::uint32_t i = 0; i < raw_entry::inline_octets && i < length; ++i) {
    const std::uint64_t c = static_cast<unsigned char>(arena[offset + i]);
    e.head[i / 8] |= c << (56 - 8 * (i % 8));
  }
  return e;
}

// Byte-wise order of the keys (a key before every longer key it begins), then by value.
struct entry_order {
  std::string_view arena;
  bool operator()(const raw_entry& a, const raw_entry& b) const {
    // Word by word (std::array's == and < call memcmp and a loop: a third of the sort).
    if (a.head[0] != b.head[0]) return a.head[0] < b.head[0];
    if (a.head[1] != b.head[1]) return a.head[1] < b.head[1];
    if (a.head[2] != b.head[2]) return a.head[2] < b.head[2];
    const int c = key(a).compare(key(b));
    if (c != 0) return c < 0;
    return a.value < b.value;
  }
  std::string_view key(const raw_entry& e) const { return arena.substr(e.offset, e.length); }
  bool same_key(const raw_entry& a, const raw_entry& b) const {
    return a.head[0] == b.head[0] && a.head[1] == b.head[1] && a.head[2] == b.head[2] &&
           a.length == b.length && (a.length <= raw_entry::inline_octets || key(a) == key(b));
  }
  // Appends e's key to out, from the entry when it is short enough.
  void append_key(const raw_entry& e, std::string& out) const {
    if (e.length > raw_entry::inline_octets) {
      out += key(e);
      return;
    }
    for (std::uint32_t i = 0; i < e.length; ++i) {
      out.push_back(static_cast<char>((e.head[i / 8] >> (56 - 8 * (i % 8))) & 0xFF));
    }
  }
};

// A table from entries sorted by entry_order: one row a key, its values' group (excluded when
// any entry of the key is an exclusion). listed[row]: some entry of the row's key has a value.
// The entries are freed.
name_table build_table(std::vector<raw_entry>& entries, const entry_order& order,
                       group_store& groups, std::vector<bool>& listed) {
  name_table t;
  t.offsets.reserve(entries.size() + 1);
  t.groups.reserve(entries.size());
  t.offsets.push_back(0);
  std::vector<std::uint32_t> members;
  std::size_t next = 0;
  for (std::size_t i = 0; i < entries.size();) {
    bool excluded = false;
    members.clear();
    // Entry i, then the entries after it with its key (not i against itself: that read of the
    // arena is a cache miss per key).
    for (std::size_t j = i;
         j < entries.size() && (j == i || order.same_key(entries[j], entries[i])); ++j) {
      if (entries[j].value == excluded_value) {
        excluded = true;
      } else if (members.empty() || members.back() != entries[j].value) {
        members.push_back(entries[j].value);
      }
      next = j + 1;
    }
    order.append_key(entries[i], t.keys);
    t.offsets.push_back(static_cast<std::uint32_t>(t.keys.size()));
    t.groups.push_back(excluded ? excluded_value : groups.intern(members));
    listed.push_back(!members.empty());
    i = next;
  }
  std::vector<raw_entry>().swap(entries);
  t.keys.shrink_to_fit();
  t.offsets.shrink_to_fit();
  t.groups.shrink_to_fit();
  return t;
}

// The keys of both tables' rows with a value (listed by some entry), once each, in order: a
// merge of two sorted tables, read in sequence (an empty non-terminal check needs any listed
// name below a name).
name_table listed_keys(const name_table& a, const std::vector<bool>& a_listed, const name_table& b,
                       const std::vector<bool>& b_listed) {
  name_table t;
  t.offsets.push_back(0);
  const auto take = [&t](std::string_view k) {
    if (t.size() > 0 && t.key(t.size() - 1) == k) return;
    t.keys += k;
    t.offsets.push_back(static_cast<std::uint32_t>(t.keys.size()));
    t.groups.push_back(0);
  };
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && !a_listed[i]) {
      ++i;
    } else if (j < b.size() && !b_listed[j]) {
      ++j;
    } else if (j == b.size() || (i < a.size() && a.key(i) <= b.key(j))) {
      take(a.key(i++));
    } else {
      take(b.key(j++));
    }
  }
  t.keys.shrink_to_fit();
  t.offsets.shrink_to_fit();
  t.groups.shrink_to_fit();
  return t;
}

class dnset_leaf final : public leaf {
 public:
  dnset_leaf(value_pool values, std::uint32_t def, std::uint32_t ttl, bool tp, name_table plain,
             name_table wild, name_table listed, group_store groups)
      : leaf(dataset_type::dnset, key_family::name, std::move(values), def, ttl, tp),
        plain_(std::move(plain)),
        wild_(std::move(wild)),
        listed_(std::move(listed)),
        groups_(std::move(groups)) {}

  std::size_t entry_count() const override { return plain_.size() + wild_.size(); }
  // The exact entries (c.a), then the wildcards (c.b).
  bool next_name(walk_cursor& c, name_entry& out) const override {
    const bool wild = c.a >= plain_.size();
    const name_table& t = wild ? wild_ : plain_;
    std::size_t& i = wild ? c.b : c.a;
    if (i >= t.size()) return false;
    out.reversed = t.key(i);
    out.wildcard = wild;
    out.excluded = t.groups[i] == excluded_value;
    out.values = out.excluded ? std::span<const std::uint32_t>() : groups_.get(t.groups[i]);
    ++i;
    return true;
  }
  std::size_t memory_bytes() const override {
    return plain_.memory_bytes() + wild_.memory_bytes() + listed_.memory_bytes() +
           groups_.memory_bytes() + values().memory_bytes();
  }

 protected:
  match find(const lookup_key& key) const override {
    if (key.labels == 0) return {};
    // The reversed key, and where it ends after j labels (the name's ancestors).
    std::array<char, 256> rk{};
    std::array<std::size_t, 128> end{};
    std::size_t n = 0;
    for (std::size_t j = 0; j < key.labels; ++j) {
      const auto l = key.label(key.labels - 1 - j);
      rk[n++] = static_cast<char>(l.size());
      for (const auto c : l) rk[n++] = static_cast<char>(c);
      end[j + 1] = n;
    }
    const std::string_view full(rk.data(), n);
    bool stop = false;
    if (const auto i = plain_.search(full); i != name_table::npos) {
      if (plain_.groups[i] != excluded_value) {
        return {found::listed, groups_.get(plain_.groups[i]),
                static_cast<std::uint8_t>(key.labels)};
      }
      stop = true;
    }
    for (std::size_t j = key.labels - 1; !stop && j >= 1; --j) {
      const auto i = wild_.search(std::string_view(rk.data(), end[j]));
      if (i == name_table::npos) continue;
      if (wild_.groups[i] != excluded_value) {
        return {found::listed, groups_.get(wild_.groups[i]), static_cast<std::uint8_t>(j)};
      }
      stop = true;
    }
    // Not listed. The name still exists when names below it are listed: through the wildcard
    // that applies to its children (the closest one from the name itself up: "*.name", or one
    // above that an exact exclusion of the name did not stop), or through entries below it.
    for (std::size_t j = key.labels; j >= 1; --j) {
      const auto i = wild_.search(std::string_view(rk.data(), end[j]));
      if (i == name_table::npos) continue;
      if (wild_.groups[i] != excluded_value) return {found::exists, {}, 0};
      break;
    }
    std::size_t i = listed_.lower_bound(full);
    if (i < listed_.size() && listed_.key(i) == full) ++i;
    if (i < listed_.size() && listed_.key(i).substr(0, full.size()) == full) {
      return {found::exists, {}, 0};
    }
    return {};
  }

 private:
  name_table plain_;
  name_table wild_;
  name_table listed_;  // keys of every non-excluded entry, for empty non-terminal checks
  group_store groups_;
};

class dnset_builder final : public leaf_builder {
 public:
  dnset_builder() : leaf_builder(dataset_type::dnset) {}

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
    bool wild = false;
    bool plain = true;
    if (!s.empty() && s.front() == '.') {
      wild = true;
      s.remove_prefix(1);
    } else if (s.size() >= 2 && s[0] == '*' && s[1] == '.') {
      wild = true;
      plain = false;
      s.remove_prefix(2);
    }
    std::size_t len = 0;
    while (len < s.size() && !text::is_space(s[len])) ++len;
    const std::string_view name_text = s.substr(0, len);
    s.remove_prefix(len);
    if (arena_.size() > std::numeric_limits<std::uint32_t>::max() - 256) {
      ctx.warn("too many names in one set (4 GiB of keys), entry ignored");
      return;
    }
    // The key, labels reversed, appended to the arena; most names are plain text, read without
    // building a dns::name.
    const auto offset = static_cast<std::uint32_t>(arena_.size());
    if (!text::append_reversed_name(name_text, arena_)) {
      auto n = dns::name::from_text(name_text);
      if (!n || n->is_root()) {
        ctx.warn("invalid domain name");
        return;
      }
      n->to_lower();
      for (std::size_t i = n->label_count(); i-- > 0;) {
        const auto l = n->label(i);
        arena_.push_back(static_cast<char>(l.size()));
        arena_.append(reinterpret_cast<const char*>(l.data()), l.size());
      }
    }
    text::skip_space(s);
    std::uint32_t value = excluded_value;
    if (!excl) {
      const auto v = entry_value(s, ctx);
      if (!v) {
        arena_.resize(offset);
        return;
      }
      value = *v;
    }
    const raw_entry e =
        make_entry(arena_, offset, static_cast<std::uint32_t>(arena_.size() - offset), value);
    if (plain) plain_.push_back(e);
    if (wild) wild_.push_back(e);
  }

  std::shared_ptr<const leaf> finish(line_context& ctx) override {
    const std::uint32_t def = first_default();
    values_.finalize(subst);
    const entry_order order{arena_};
    std::sort(plain_.begin(), plain_.end(), order);
    std::sort(wild_.begin(), wild_.end(), order);
    group_store groups;
    std::vector<bool> plain_listed;
    std::vector<bool> wild_listed;
    auto plain = build_table(plain_, order, groups, plain_listed);
    auto wild = build_table(wild_, order, groups, wild_listed);
    std::string().swap(arena_);
    auto listed_table = listed_keys(plain, plain_listed, wild, wild_listed);
    groups.shrink();
    return std::make_shared<dnset_leaf>(
        std::move(values_), def, ttl, ctx.options().rfc5782_test_points, std::move(plain),
        std::move(wild), std::move(listed_table), std::move(groups));
  }

 private:
  std::string arena_;  // every entry's key, end to end
  std::vector<raw_entry> plain_;
  std::vector<raw_entry> wild_;
};

}  // namespace

std::unique_ptr<leaf_builder> make_dnset_builder() {
  return std::make_unique<dnset_builder>();
}

}  // namespace mx::dnsbl
