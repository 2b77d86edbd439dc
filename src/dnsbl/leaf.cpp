#include "dnsbl/leaf.hpp"

namespace mx::dnsbl {

namespace {

constexpr std::uint32_t test_listed_v4 = 0x7F000002u;    // 127.0.0.2
constexpr std::uint32_t test_unlisted_v4 = 0x7F000001u;  // 127.0.0.1

text::ip6_bytes mapped(std::uint32_t v4) {
  text::ip6_bytes b{};
  b[10] = b[11] = 0xFF;
  for (int i = 0; i < 4; ++i)
    b[static_cast<std::size_t>(12 + i)] = static_cast<std::uint8_t>(v4 >> (24 - 8 * i));
  return b;
}

std::uint8_t nibble(const text::ip6_bytes& b, std::size_t i) {
  return static_cast<std::uint8_t>((i % 2 == 0) ? (b[i / 2] >> 4) : (b[i / 2] & 15));
}

bool label_is(std::span<const std::uint8_t> label, std::string_view word) {
  if (label.size() != word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (label[i] != static_cast<std::uint8_t>(word[i])) return false;
  }
  return true;
}

}  // namespace

std::string_view name_of(dataset_type t) {
  switch (t) {
    case dataset_type::ip4set:
      return "ip4set";
    case dataset_type::ip4tset:
      return "ip4tset";
    case dataset_type::ip4trie:
      return "ip4trie";
    case dataset_type::ip6tset:
      return "ip6tset";
    case dataset_type::ip6trie:
      return "ip6trie";
    case dataset_type::dnset:
      return "dnset";
    case dataset_type::combined:
      return "combined";
  }
  return "?";
}

std::optional<dataset_type> parse_dataset_type(std::string_view text) {
  for (const auto t :
       {dataset_type::ip4set, dataset_type::ip4tset, dataset_type::ip4trie, dataset_type::ip6tset,
        dataset_type::ip6trie, dataset_type::dnset, dataset_type::combined}) {
    if (name_of(t) == text) return t;
  }
  return std::nullopt;
}

lookup_key lookup_key::from_labels(std::span<const std::uint8_t> labels) {
  lookup_key k;
  if (labels.size() > k.wire.size()) return k;
  std::size_t pos = 0;
  std::size_t count = 0;
  while (pos < labels.size()) {
    const std::size_t len = labels[pos];
    if (len == 0 || len > 63 || pos + 1 + len > labels.size() || count >= 127) return lookup_key{};
    k.offsets[count++] = static_cast<std::uint8_t>(pos);
    pos += 1 + len;
  }
  std::copy(labels.begin(), labels.end(), k.wire.begin());
  k.wire_length = labels.size();
  k.labels = count;

  if (count >= 1 && count <= 4) {
    bool ok = true;
    std::uint32_t v4 = 0;
    for (std::size_t j = 0; j < count && ok; ++j) {
      const auto l = k.label(count - 1 - j);  // the last label is the first octet
      if (l.size() > 3) {
        ok = false;
        break;
      }
      unsigned o = 0;
      for (const auto c : l) {
        if (c < '0' || c > '9') ok = false;
        o = o * 10 + static_cast<unsigned>(c - '0');
      }
      if (o > 255) ok = false;
      v4 |= static_cast<std::uint32_t>(o) << (24 - 8 * j);
    }
    if (ok) {
      k.v4_octets = static_cast<std::uint8_t>(count);
      k.v4 = v4;
    }
  }
  if (count >= 1 && count <= 32) {
    bool ok = true;
    text::ip6_bytes v6{};
    for (std::size_t j = 0; j < count && ok; ++j) {
      const auto l = k.label(count - 1 - j);
      int nib = -1;
      if (l.size() == 1) {
        const auto c = l[0];
        if (c >= '0' && c <= '9') nib = c - '0';
        if (c >= 'a' && c <= 'f') nib = c - 'a' + 10;
      }
      if (nib < 0) {
        ok = false;
        break;
      }
      v6[j / 2] |= static_cast<std::uint8_t>(j % 2 == 0 ? nib << 4 : nib);
    }
    if (ok) {
      k.v6_nibbles = static_cast<std::uint8_t>(count);
      k.v6 = v6;
    }
  }
  return k;
}

std::optional<std::uint32_t> lookup_key::mapped_v4() const {
  if (!v6_full()) return std::nullopt;
  for (std::size_t i = 0; i < 10; ++i) {
    if (v6[i] != 0) return std::nullopt;
  }
  if (v6[10] != 0xFF || v6[11] != 0xFF) return std::nullopt;
  return (static_cast<std::uint32_t>(v6[12]) << 24) | (static_cast<std::uint32_t>(v6[13]) << 16) |
         (static_cast<std::uint32_t>(v6[14]) << 8) | v6[15];
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> lookup_key::mapped_v4_range() const {
  if (v6_nibbles == 0 || v6_full()) return std::nullopt;
  const text::ip6_bytes base = mapped(0);
  const std::size_t fixed = v6_nibbles < 24 ? v6_nibbles : 24;
  for (std::size_t i = 0; i < fixed; ++i) {
    if (nibble(v6, i) != nibble(base, i)) return std::nullopt;
  }
  if (v6_nibbles <= 24) return std::pair<std::uint32_t, std::uint32_t>{0u, 0xFFFFFFFFu};
  const int bits = (v6_nibbles - 24) * 4;
  const std::uint32_t lo = (static_cast<std::uint32_t>(v6[12]) << 24) |
                           (static_cast<std::uint32_t>(v6[13]) << 16) |
                           (static_cast<std::uint32_t>(v6[14]) << 8) | v6[15];
  return std::pair<std::uint32_t, std::uint32_t>{lo, lo | ~text::ip4_mask(bits)};
}

bool lookup_key::v6_covers(const text::ip6_bytes& addr) const {
  for (std::size_t i = 0; i < v6_nibbles; ++i) {
    if (nibble(v6, i) != nibble(addr, i)) return false;
  }
  return v6_nibbles > 0;
}

match leaf::lookup(const lookup_key& key) const {
  if (!test_points_) return find(key);
  switch (family_) {
    case key_family::ip4: {
      const auto point = key.v4_full() ? std::optional<std::uint32_t>(key.v4) : key.mapped_v4();
      if (point) {
        if (*point == test_unlisted_v4) return {};
        match m = find(key);
        if (*point == test_listed_v4 && m.what != found::listed) return listed_default();
        return m;
      }
      match m = find(key);
      if (m.what != found::nothing) return m;
      const bool covers =
          (key.v4_octets > 0 && (test_listed_v4 & text::ip4_mask(8 * key.v4_octets)) == key.v4) ||
          (key.v6_nibbles > 0 && key.v6_covers(mapped(test_listed_v4)));
      if (covers) m.what = found::exists;
      return m;
    }
    case key_family::ip6: {
      static const text::ip6_bytes listed = mapped(test_listed_v4);
      static const text::ip6_bytes unlisted = mapped(test_unlisted_v4);
      if (key.v6_full() && key.v6 == unlisted) return {};
      match m = find(key);
      if (key.v6_full()) {
        if (key.v6 == listed && m.what != found::listed) return listed_default();
        return m;
      }
      if (m.what == found::nothing && key.v6_covers(listed)) m.what = found::exists;
      return m;
    }
    case key_family::name: {
      if (key.labels == 1) {
        if (label_is(key.label(0), "invalid")) return {};
        if (label_is(key.label(0), "test")) {
          match m = find(key);
          return m.what == found::listed ? m : listed_default(1);
        }
      }
      return find(key);
    }
  }
  return {};
}

}  // namespace mx::dnsbl
