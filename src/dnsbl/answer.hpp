// dnsbl/answer: the DNSBL server's whole DNS behaviour as one pure function. The network shell
// receives a message, calls answer() with a buffer, and sends the bytes it returns (or nothing).
//
//   RFC 5782: reversed IPv4 names (2.1), IPv6 nibble names (2.4, IPv4-mapped looked up as IPv4),
//     domain names (3). A and TXT; ANY gets both; SOA and NS at the apex. Test points (5): see
//     leaf.hpp.
//   Not listed: NXDOMAIN, with the SOA in the authority section, its TTL the smaller of the SOA's
//     TTL and MINIMUM (RFC 2308 3, 5). An empty non-terminal (a name with listed names below it,
//     e.g. 0.0.127.bl for 2.0.0.127.bl, or a combined dataset's subzone) or a listed name asked
//     for another type: NOERROR with no answer and the SOA (NODATA, RFC 2308 2.2; RFC 8020).
//   Outside every zone: REFUSED. Class IN sets AA; class ANY is answered without AA; other
//     classes are REFUSED. No recursion (RA clear); RD and CD are echoed (RFC 1035 4.1.1).
//   Query name case is echoed as sent (0x20); answers point at the question's name.
//   Malformed query: FORMERR when a header was read, dropped otherwise; responses are dropped
//     (no reflection loops). Opcode other than QUERY: NOTIMP. QTYPE OPT: FORMERR; TSIG, MAILA,
//     MAILB: NOTIMP; AXFR over UDP: FORMERR (RFC 5936 4.2); AXFR over TCP and IXFR: REFUSED
//     (the shell serves AXFR to the peers it allows, see transfer.hpp).
//   EDNS0 (RFC 6891): a query with OPT gets OPT back with our payload size and the DO bit echoed
//     (RFC 3225 3); version > 0 gets BADVERS. The UDP limit is the client's payload size, at
//     least 512 and at most ours; 512 without EDNS0. When the answer does not fit, the response
//     is the question (and OPT) with TC set, so the client retries over TCP (RFC 2181 9); over
//     TCP the limit is 65535 (RFC 7766).
//   Stacked datasets: every listing answers; duplicate records are sent once and an RRset gets
//     the smallest TTL of its records (RFC 2181 5.2).
//
// SECURITY: the query is untrusted. answer() never throws, never allocates per query (parsing,
// lookups and TXT expansion use the stack and the caller's buffer), and writes only inside
// `out`. Its cost is bounded by the name length and O(log n) per dataset.
// RFCs: 1035; 2181 5.2, 9; 2308; 3225; 5782; 6891; 7766 8; 8020.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dnsbl/zone.hpp"

namespace mx::dnsbl {

enum class transport : std::uint8_t { udp, tcp };

struct answer_options {
  transport via = transport::udp;
  // Our EDNS0 payload size: the cap on UDP answers, and what we advertise. 1232 avoids IP
  // fragmentation on common paths (DNS Flag Day 2020); at least 512 is used.
  std::uint16_t udp_payload = 1232;
  std::int64_t now = 0;  // unix seconds; datasets past their $TIMESTAMP expiry are skipped
};

enum class outcome : std::uint8_t {
  dropped,  // nothing to send
  formerr,
  notimp,
  refused,  // outside every zone, or a class or transfer we do not serve
  badvers,
  listed,      // NOERROR: the name is listed (answers, or NODATA for a type it lacks)
  not_listed,  // NXDOMAIN
  nodata,      // NOERROR, no answer: empty non-terminal, or apex types we lack
  apex,        // SOA / NS at the apex
};
std::string_view name_of(outcome o);

struct answer_result {
  std::size_t size = 0;  // octets of the response at the start of out; 0: send nothing
  outcome what = outcome::dropped;
  int zone = -1;  // index in zone_set::zones(), -1 outside every zone
  bool truncated = false;
};

// out must hold at least 512 octets (else the query is dropped); 65535 for full TCP answers.
// Over TCP, query and out are the messages without their two-octet length prefix (RFC 1035
// 4.2.2): the shell strips it and adds it back.
answer_result answer(const zone_set& zones, std::span<const std::uint8_t> query,
                     std::span<std::uint8_t> out, const answer_options& opts = {});

}  // namespace mx::dnsbl
