// dns/message: the DNS message header and the parser for incoming queries (RFC 1035 4.1), with
// the EDNS0 OPT pseudo-record (RFC 6891 6).
//
// parse_query accepts a standard query with exactly one question. Anything in the answer and
// authority sections is walked (it must be well formed) and ignored; the additional section may
// hold one OPT record (its UDP payload size, version and DO bit are kept) and other records,
// which are ignored (no TSIG support). Octets after the last counted record are ignored, as most
// servers do.
//
// SECURITY: the input is an untrusted datagram. Every length and count is checked against the
// message before use and nothing is allocated. The failure says what the server should do:
// `drop` when no header can be read or the message is itself a response (answering responses
// makes reflection loops), otherwise a header-only FORMERR or NOTIMP reply (RFC 1035 4.1.1,
// RFC 6891 6.1.1: more than one OPT, or an OPT not owned by the root, is FORMERR).
// RFCs: 1035 4.1.1-4.1.3; 6891 6.1.1-6.1.3; 3225 3 (DO bit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/result.hpp"
#include "dns/name.hpp"

namespace mx::dns {

namespace rr_type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t soa = 6;
inline constexpr std::uint16_t mx = 15;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t tsig = 250;
inline constexpr std::uint16_t ixfr = 251;
inline constexpr std::uint16_t axfr = 252;
inline constexpr std::uint16_t mailb = 253;
inline constexpr std::uint16_t maila = 254;
inline constexpr std::uint16_t any = 255;
}  // namespace rr_type

namespace rr_class {
inline constexpr std::uint16_t in = 1;
inline constexpr std::uint16_t ch = 3;
inline constexpr std::uint16_t hs = 4;
inline constexpr std::uint16_t any = 255;
}  // namespace rr_class

namespace rcode {
inline constexpr std::uint8_t noerror = 0;
inline constexpr std::uint8_t formerr = 1;
inline constexpr std::uint8_t servfail = 2;
inline constexpr std::uint8_t nxdomain = 3;
inline constexpr std::uint8_t notimp = 4;
inline constexpr std::uint8_t refused = 5;
inline constexpr std::uint16_t badvers = 16;  // extended: upper 8 bits travel in the OPT TTL
}  // namespace rcode

namespace flag {
inline constexpr std::uint16_t qr = 0x8000;
inline constexpr std::uint16_t aa = 0x0400;
inline constexpr std::uint16_t tc = 0x0200;
inline constexpr std::uint16_t rd = 0x0100;
inline constexpr std::uint16_t ra = 0x0080;
inline constexpr std::uint16_t ad = 0x0020;
inline constexpr std::uint16_t cd = 0x0010;
inline constexpr std::uint16_t opcode_mask = 0x7800;
inline constexpr std::uint16_t rcode_mask = 0x000F;
}  // namespace flag

inline constexpr std::uint16_t opcode_query = 0;
inline constexpr std::size_t classic_udp_size = 512;  // RFC 1035 4.2.1
inline constexpr std::size_t max_message_size = 65535;

struct header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  std::uint16_t opcode() const {
    return static_cast<std::uint16_t>((flags & flag::opcode_mask) >> 11);
  }
  bool has(std::uint16_t f) const { return (flags & f) != 0; }

  static std::optional<header> read(std::span<const std::uint8_t> msg);
};

struct edns_info {
  std::uint16_t udp_payload = 512;  // as sent (may be below 512; RFC 6891 6.2.5 says treat as 512)
  std::uint8_t version = 0;
  bool dnssec_ok = false;
};

struct query {
  header hdr;
  name qname;  // as sent, case kept
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::optional<edns_info> edns;
  std::size_t question_end = 0;  // offset just past the question in the query
};

enum class query_fault : std::uint8_t {
  drop,     // no header, or not a query: send nothing
  formerr,  // reply FORMERR with the header's id
  notimp,   // opcode other than QUERY: reply NOTIMP
};

struct query_failure {
  query_fault fault = query_fault::drop;
  header hdr;               // valid unless fault == drop
  std::string_view reason;  // for logs and tests
};

mx::expected<query, query_failure> parse_query(std::span<const std::uint8_t> msg);

}  // namespace mx::dns
