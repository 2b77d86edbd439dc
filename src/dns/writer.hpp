// dns/writer: builds a DNS response in a caller-provided buffer, with name compression
// (RFC 1035 4.1.4). No heap: the compression table is a fixed array inside the writer.
//
// Usage: write_header, write_question, then for each record begin_rr / rdata writes / end_rr.
// A write that does not fit the limit fails (returns false) and leaves the writer marked as
// overflowed; the caller rolls back to a saved mark and sets TC (RFC 2181 9). reserve() keeps room
// at the end for a record that must always fit, such as the EDNS0 OPT (RFC 6891 7).
//
// SECURITY: every write is bounds-checked against the limit, which is never above the buffer size
// or 65535. Compression pointers only ever point at names this writer wrote itself, at offsets
// below 0x4000 (the 14-bit pointer range).
// RFCs: 1035 4.1.1, 4.1.3, 4.1.4; 2181 9 (TC); 6891 6.1.2, 7.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dns/message.hpp"
#include "dns/name.hpp"

namespace mx::dns {

enum class section : std::uint8_t { answer = 0, authority = 1, additional = 2 };

class writer {
 public:
  // Writes into buf[0, limit); limit is clamped to buf.size() and 65535.
  writer(std::span<std::uint8_t> buf, std::size_t limit);

  struct mark {
    std::size_t pos = 0;
    std::size_t names = 0;
    std::array<std::uint16_t, 3> counts{};
  };
  mark save() const { return {pos_, names_, counts_}; }
  void restore(const mark& m);

  // The 12-octet header with qdcount from h; the other counts come from finish().
  bool write_header(const header& h);
  // The question section (qdcount must have been 1 in write_header): name written as given.
  bool write_question(const name& qname, std::uint16_t qtype, std::uint16_t qclass);

  bool write_name(const name& n);  // compressed against the names already written
  bool write_u8(std::uint8_t v);
  bool write_u16(std::uint16_t v);
  bool write_u32(std::uint32_t v);
  bool write_bytes(std::span<const std::uint8_t> bytes);

  // Starts a record: owner, type, class, TTL and a placeholder RDLENGTH.
  bool begin_rr(section s, const name& owner, std::uint16_t type, std::uint16_t klass,
                std::uint32_t ttl);
  // Patches RDLENGTH and counts the record in its section.
  bool end_rr();

  // Keeps n octets at the end of the buffer out of reach of later writes, until release(n).
  bool reserve(std::size_t n);
  void release(std::size_t n) { limit_ += n; }

  // Sets the header's flags and section counts; returns the message size.
  std::size_t finish(std::uint16_t flags);

  std::size_t size() const { return pos_; }
  std::size_t limit() const { return limit_; }
  bool overflowed() const { return overflow_; }
  std::uint16_t count(section s) const { return counts_[static_cast<std::size_t>(s)]; }
  std::span<const std::uint8_t> written() const { return {buf_.data(), pos_}; }

 private:
  bool room(std::size_t n);
  // Does the name written at `at` equal labels [first, n.label_count()) of n?
  bool matches_at(std::size_t at, const name& n, std::size_t first) const;

  static constexpr std::size_t max_names = 64;
  std::span<std::uint8_t> buf_;
  std::size_t limit_;
  std::size_t pos_ = 0;
  bool overflow_ = false;
  std::array<std::uint16_t, 3> counts_{};
  std::size_t rr_section_ = 0;
  std::size_t rdlength_at_ = 0;
  std::array<std::uint16_t, max_names>
      name_at_;  // offsets of label runs written literally ([0, names_))
  std::size_t names_ = 0;
};

}  // namespace mx::dns
