// dnsbl/transfer: a zone's contents as standard DNS records, and the AXFR messages that carry
// them (RFC 5936), so BIND, NSD or Knot can serve a DNSBL as secondaries. Pure: the shell
// (net/dns_server) decides who may transfer and writes the messages to the TCP connection.
//
// What a transfer holds (the same shape as rbldnsd -d's BIND dump, rbldnsd(8) "-d"):
//   SOA, the NS records, then every subzone's data, then the SOA again (RFC 5936 2.2).
//   IP sets: the listed addresses after every rule was applied (ranges resolved, exclusions cut
//     out, stacked datasets of one subzone merged so an address listed twice gets both values).
//     Each run of addresses is cut into blocks aligned on the name's label boundaries -- octets
//     for IPv4 (/32, /24, /16, /8), nibbles for IPv6 -- and a block is one name: "4.3.2.1" for a
//     /32, "*.10" for 10.0.0.0/8 (RFC 4592 wildcards). A range that is not aligned becomes a few
//     names per boundary (at most 255 per level on each side). Exclusions are simply names that
//     are not there: no wildcard ever covers an address outside its block, so they need no record
//     (rbldnsd dumps a CNAME to "excluded" instead).
//   dnset: "name" and "*.name" as written; an exclusion is a CNAME to "excluded.<zone>", as
//     rbldnsd dumps it (a resolver sees NXDOMAIN for it).
//   RFC 5782 test points: 127.0.0.2 (::ffff:7f00:2, TEST) listed with the set's first default
//     value when the data does not list it; 127.0.0.1 (::ffff:7f00:1, INVALID) left out.
//   A record's TTL is its set's; an RRset of several sets gets the smallest (RFC 2181 5.2).
//   TXT: "$" in a template is the block's first address for a wildcard block (there is no
//     queried address in a zone file; rbldnsd does the same), the address for a /32, the entry's
//     name for dnset.
// What a secondary then answers differently from dnsbld (documented in docs/dnsbl.md): names
// shorter than a full address below a wildcard block match the wildcard (dnsbld: NODATA);
// IPv4-mapped IPv6 names are not looked up in IPv4 sets; a dnset name below an exact entry that
// lies under a wildcard is NXDOMAIN (the wildcard stops at the existing name, RFC 4592 2.2.1).
//
// Memory: a transfer walks the immutable sets with small cursors and keeps at most one block's or
// one entry's records at a time, whatever the zone's size; each message is at most the buffer the
// caller gives (the shell uses 16 KiB, within the 16-bit compression range).
//
// SECURITY: only the shell decides whether a peer may transfer (axfr_allow); here the query is
// already parsed. Owner names that would exceed 255 octets are skipped, never truncated.
// RFCs: 5936 (AXFR: 2.2 response, 2.2.1 question only in the first message), 4592 (wildcards),
// 2181 5.2, 5782 2.1, 2.4, 5.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "dns/message.hpp"
#include "dns/name.hpp"
#include "dnsbl/zone.hpp"

namespace mx::dnsbl {

struct xfr_record {
  dns::name owner;
  std::uint16_t type = 0;  // SOA, NS, A, TXT or CNAME
  std::uint32_t ttl = 0;
  std::uint32_t a = 0;                     // A
  std::array<char, max_txt_octets> txt{};  // TXT
  std::size_t txt_length = 0;              // TXT
  const dns::name* target = nullptr;       // NS, CNAME
};

// The records of one zone in transfer order. Keeps the zone set alive, so a reload during a
// transfer does not change what it sends.
class zone_walker {
 public:
  // zone: an index into zones->zones() of a zone that has an SOA. now: unix seconds, datasets
  // past their $TIMESTAMP expiry are left out (as answer() skips them); 0: no check.
  zone_walker(std::shared_ptr<const zone_set> zones, std::size_t zone, std::int64_t now = 0);
  zone_walker(const zone_walker&) = delete;
  zone_walker& operator=(const zone_walker&) = delete;

  bool next(xfr_record& out);  // false after the final SOA
  const zone& current_zone() const { return *z_; }

 private:
  using hit = std::pair<const leaf*, std::uint32_t>;  // a set and a value index
  struct ip_source {
    const leaf* set = nullptr;
    walk_cursor cursor;
    ip_run run;
    bool has = false;
  };
  enum class stage : std::uint8_t { soa_first, ns, data, soa_last, done };
  enum class phase : std::uint8_t { start_group, v4, v6, names, next_group };

  bool fill_data();
  void start_ip(key_family f);
  bool ip_step();
  bool merge_next();
  void emit_block(const u128& base, int wildcard_bits);
  bool name_step();
  bool usable(const zone_binding& b, key_family f) const;
  void push_values(const dns::name& owner, std::span<const hit> hits, std::string_view subject);
  bool make_owner(std::span<const std::uint8_t> labels, dns::name& out) const;
  xfr_record& add(const dns::name& owner, std::uint16_t type, std::uint32_t ttl);

  std::shared_ptr<const zone_set> zones_;
  const zone* z_;
  std::int64_t now_;
  stage stage_ = stage::soa_first;
  std::size_t ns_i_ = 0;
  dns::name excluded_;  // "excluded.<zone>"

  phase phase_ = phase::start_group;
  std::size_t group_begin_ = 0;
  std::size_t group_end_ = 0;
  std::array<std::uint8_t, dns::max_name_octets> suffix_{};  // subzone then apex labels, no root
  std::size_t suffix_length_ = 0;
  key_family family_ = key_family::ip4;
  std::vector<ip_source> sources_;
  std::vector<hit> hits_;
  std::vector<u128> specials_;  // test points: 127.0.0.1 and .2 (or IPv6-mapped), sorted
  u128 pos_{};
  bool pos_valid_ = false;
  bool sweep_done_ = false;
  bool in_run_ = false;
  u128 run_cur_{};
  u128 run_hi_{};
  std::size_t name_leaf_ = 0;
  walk_cursor name_cursor_;
  bool test_done_ = false;

  std::vector<xfr_record> batch_;
  std::size_t batch_used_ = 0;  // records of batch_ in use
  std::size_t batch_pos_ = 0;
};

// The zone index to transfer for an AXFR query, or REFUSED: the name must be a zone's apex (any
// case), class IN, and the zone must have an SOA.
struct axfr_target {
  int zone = -1;
  std::uint8_t rcode = dns::rcode::refused;
};
axfr_target find_axfr_zone(const zone_set& zones, const dns::query& q);

// One AXFR response as a sequence of messages.
class axfr_stream {
 public:
  axfr_stream(std::shared_ptr<const zone_set> zones, std::size_t zone, const dns::query& q,
              std::int64_t now = 0);
  // Writes the next message into out (at most out.size() octets, 512 at least, 65535 at most);
  // returns its size, 0 once the transfer is complete.
  std::size_t next_message(std::span<std::uint8_t> out);
  std::uint64_t records() const { return records_; }
  std::uint64_t messages() const { return messages_; }

 private:
  zone_walker walker_;
  std::uint16_t id_;
  std::uint16_t flags_;  // opcode and RD of the query
  dns::name qname_;
  std::uint16_t qclass_;
  bool edns_;
  bool first_ = true;
  bool done_ = false;
  bool pending_ = false;
  xfr_record record_;
  std::uint64_t records_ = 0;
  std::uint64_t messages_ = 0;
};

}  // namespace mx::dnsbl
