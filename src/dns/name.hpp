// dns/name: domain names in uncompressed wire form (RFC 1035 3.1), read from messages with
// compression pointers (RFC 1035 4.1.4) and converted from and to presentation text.
//
// A name is a fixed-capacity value (255 octets and its label offsets, no heap), so the query path
// can hold one on the stack without allocating.
//
// SECURITY: read_name takes any bytes. A compression pointer must point strictly before the start
// of the run of labels it sits in, which makes every chain of pointers strictly decreasing: loops,
// self-pointers and forward pointers are refused, and the number of hops is bounded by the message
// size. Label types 0x40 and 0x80 (RFC 6891 deprecates extended labels), labels over 63 octets and
// names over 255 octets (terminating zero included) are refused, as are pointers into the 12-octet
// header. The case of every octet is kept as sent (resolvers check the 0x20 bit echo); comparisons
// fold ASCII case only (RFC 4343).
// RFCs: 1035 2.3.4, 3.1, 4.1.4; 4343 (case insensitivity); 6891 (no extended label types).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mx::dns {

inline constexpr std::size_t max_name_octets = 255;  // wire length, terminating zero included
inline constexpr std::size_t max_label_octets = 63;
inline constexpr std::size_t max_labels = 127;  // 127 one-octet labels fill 255 octets
inline constexpr std::size_t header_octets = 12;

inline std::uint8_t ascii_lower(std::uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c | 0x20) : c;
}

class name {
 public:
  name() { bytes_[0] = 0; }  // the root

  // Presentation text: "bl.example.test", "bl.example.test." and "." (the root). Labels are
  // 1..63 octets of anything but '.', and "\DDD" / "\X" escapes are decoded (RFC 1035 5.1).
  // nullopt on an empty label, an overlong label or name, or a bad escape.
  static std::optional<name> from_text(std::string_view text);
  // A name from a sequence of wire labels (no terminating zero); nullopt when it is not one.
  static std::optional<name> from_labels(std::span<const std::uint8_t> labels);

  std::span<const std::uint8_t> wire() const { return {bytes_.data(), length_}; }
  std::size_t wire_length() const { return length_; }
  std::size_t label_count() const { return labels_; }
  bool is_root() const { return labels_ == 0; }
  // Label i, leftmost first, without its length octet.
  std::span<const std::uint8_t> label(std::size_t i) const {
    return {bytes_.data() + offsets_[i] + 1, bytes_[offsets_[i]]};
  }
  // Offset of label i's length octet in wire(); label_offset(label_count()) is the root octet.
  std::size_t label_offset(std::size_t i) const { return i < labels_ ? offsets_[i] : length_ - 1u; }
  // The name made of labels [first, label_count()).
  name suffix(std::size_t first) const;

  // "bl.example.test" (no trailing dot; "." for the root). Octets outside printable ASCII, and
  // '.', '\\', '"', are written as \DDD or \X, so the text reads back as the same name.
  std::string to_text() const;

  void to_lower();
  bool equals_ci(const name& other) const;
  // True when this name is `ancestor` or below it (case-insensitive).
  bool is_subdomain_of(const name& ancestor) const;

  // Appends one label; false (and unchanged) when it would not fit.
  bool push_label(std::span<const std::uint8_t> label);

  friend bool operator==(const name& a, const name& b) {
    return a.wire_length() == b.wire_length() &&
           std::equal(a.bytes_.begin(), a.bytes_.begin() + a.length_, b.bytes_.begin());
  }

 private:
  // Not zero-filled: only [0, length_) and [0, labels_) are ever read, and names live on the
  // query path, where clearing 400 octets per copy shows.
  std::array<std::uint8_t, max_name_octets> bytes_;
  std::array<std::uint8_t, max_labels + 1> offsets_;
  std::uint16_t length_ = 1;
  std::uint8_t labels_ = 0;
};

enum class name_error : std::uint8_t {
  truncated,    // the message ends inside the name
  label_type,   // 0x40 / 0x80 label type
  bad_pointer,  // forward, looping or into the header
  too_long,     // over 255 octets
};
std::string_view describe(name_error e);

// Reads the (possibly compressed) name at msg[pos]. On success pos is moved past the name as it
// appears at pos (a pointer counts two octets).
mx::expected<name, name_error> read_name(std::span<const std::uint8_t> msg, std::size_t& pos);

// Compares two label sequences case-insensitively.
bool labels_equal_ci(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace mx::dns
