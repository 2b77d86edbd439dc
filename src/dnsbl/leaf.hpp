// dnsbl/leaf: one loaded set of listed entries (an ip4set, ip4tset, ip4trie, ip6tset, ip6trie or
// dnset, possibly one section of a combined dataset) and its lookup by query name.
//
// A query name below a zone is first turned into a lookup_key: the lowercased labels, plus the
// RFC 5782 readings: 1..4 decimal labels are an IPv4 address or prefix (octets reversed, 2.1),
// 1..32 hex-digit labels an IPv6 address or prefix (nibbles reversed, 2.4). A full name looks
// one address up; a shorter one is an empty non-terminal when something below it is listed.
// An IPv4-mapped IPv6 name (::ffff:a.b.c.d) is looked up as IPv4 in IPv4 sets, as rbldnsd does.
//
// RFC 5782 5 test points are answered by every set when enabled: IPv4 sets always list
// 127.0.0.2 and never 127.0.0.1; IPv6 sets ::ffff:7f00:2 and never ::ffff:7f00:1; domain sets
// TEST and never INVALID. A test point listed in the data keeps its data value; otherwise it gets
// the set's default value.
//
// SECURITY: lookups run on untrusted query names: they are bounded (at most 127 labels, binary
// searches), allocate nothing, and take the key by reference from the caller's stack.
// RFCs: 5782 2.1, 2.4, 3, 5.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "dnsbl/intervals.hpp"
#include "dnsbl/text.hpp"
#include "dnsbl/values.hpp"

namespace mx::dnsbl {

enum class dataset_type : std::uint8_t {
  ip4set,
  ip4tset,
  ip4trie,
  ip6tset,
  ip6trie,
  dnset,
  combined
};
std::string_view name_of(dataset_type t);
std::optional<dataset_type> parse_dataset_type(std::string_view text);

enum class key_family : std::uint8_t { ip4, ip6, name };

struct lookup_key {
  // wire and offsets are not zero-filled (only their first wire_length / labels entries are read).
  std::array<std::uint8_t, 255> wire;  // labels, leftmost first, lowercase, no root octet
  std::size_t wire_length = 0;
  std::array<std::uint8_t, 128> offsets;  // label i's length octet is wire[offsets[i]]
  std::size_t labels = 0;

  std::uint8_t v4_octets = 0;   // 1..4 when every label is a decimal octet; 0 otherwise
  std::uint32_t v4 = 0;         // the address or prefix (missing octets zero)
  std::uint8_t v6_nibbles = 0;  // 1..32 when every label is one hex digit; 0 otherwise
  text::ip6_bytes v6{};

  // From lowercase wire labels (no root octet). Labels over 63 octets or more than 127 labels
  // give an empty key with no IP reading.
  static lookup_key from_labels(std::span<const std::uint8_t> labels);

  std::span<const std::uint8_t> label(std::size_t i) const {
    return {wire.data() + offsets[i] + 1, wire[offsets[i]]};
  }
  bool v4_full() const { return v4_octets == 4; }
  bool v6_full() const { return v6_nibbles == 32; }
  // A full IPv6 name of an IPv4-mapped address: its IPv4 address.
  std::optional<std::uint32_t> mapped_v4() const;
  // A partial IPv6 name (1..31 nibbles): the IPv4 addresses whose mapped form lies below it.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> mapped_v4_range() const;
  // Does the IPv6 prefix of this name (v6_nibbles nibbles) cover addr?
  bool v6_covers(const text::ip6_bytes& addr) const;
};

enum class found : std::uint8_t { nothing, exists, listed };

// Walking a set's entries in order, for zone transfers (transfer.hpp). The cursor is opaque to
// the caller: start from walk_cursor{} and hand it back unchanged.
struct walk_cursor {
  std::size_t a = 0;
  std::size_t b = 0;
  u128 pos{};
  bool mid = false;
};

// A run of listed addresses [lo, hi] sharing one value group; IPv4 addresses are in lo.lo and
// hi.lo. Runs come in increasing order and never overlap; exclusions are gaps between them.
struct ip_run {
  u128 lo{};
  u128 hi{};
  std::span<const std::uint32_t> values;
};

// A dnset entry: its name as stored (labels reversed, each with its length octet), whether it
// is "*.name", and its values, or excluded ("!").
struct name_entry {
  std::string_view reversed;
  bool wildcard = false;
  bool excluded = false;
  std::span<const std::uint32_t> values;
};

struct match {
  found what = found::nothing;
  std::span<const std::uint32_t> values;  // value indices, when listed
  // dnset: the matching entry is the last subject_labels labels of the key (its "$" subject).
  std::uint8_t subject_labels = 0;
};

class leaf {
 public:
  leaf(dataset_type type, key_family family, value_pool values, std::uint32_t default_value,
       std::uint32_t ttl, bool test_points)
      : type_(type),
        family_(family),
        values_(std::move(values)),
        default_value_(default_value),
        ttl_(ttl),
        test_points_(test_points) {}
  virtual ~leaf() = default;
  leaf(const leaf&) = delete;
  leaf& operator=(const leaf&) = delete;

  // The data's answer for key, with the RFC 5782 test points applied.
  match lookup(const lookup_key& key) const;

  dataset_type type() const { return type_; }
  key_family family() const { return family_; }
  std::uint32_t ttl() const { return ttl_; }
  const value_pool& values() const { return values_; }
  std::uint32_t default_value() const { return default_value_; }
  bool test_points() const { return test_points_; }

  // The data as loaded (test points not applied): IP sets give runs (key_family ip4 or ip6),
  // dnset gives entries; false at the end, or for the other kind.
  virtual bool next_run(walk_cursor& /*cursor*/, ip_run& /*out*/) const { return false; }
  virtual bool next_name(walk_cursor& /*cursor*/, name_entry& /*out*/) const { return false; }

  virtual std::size_t entry_count() const = 0;
  virtual std::size_t memory_bytes() const = 0;

 protected:
  virtual match find(const lookup_key& key) const = 0;
  match listed_default(std::uint8_t subject_labels = 0) const {
    return {found::listed, {&default_value_, 1}, subject_labels};
  }

 private:
  dataset_type type_;
  key_family family_;
  value_pool values_;
  std::uint32_t default_value_;
  std::uint32_t ttl_;
  bool test_points_;
};

}  // namespace mx::dnsbl
