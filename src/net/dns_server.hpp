// net/dns_server: dnsbld's network shell. It moves datagrams and TCP messages in and out of the
// pure dnsbl::answer() and does nothing else to them.
//
// UDP: for each listen address, one socket per core bound with SO_REUSEPORT (the kernel spreads
// clients over them), each served by its own thread in a loop of recvmmsg -> answer() ->
// sendmmsg over batches of up to 64 datagrams. All buffers are allocated when the thread starts:
// no allocation and no lock per query. Sockets bound to a wildcard address answer from the
// address the query was sent to (IP_PKTINFO / IPV6_RECVPKTINFO).
// TCP (RFC 7766): Asio coroutines on the caller's io_context, one strand per connection; 2-octet
// length framing (RFC 1035 4.2.2); several queries per connection, pipelined queries answered in
// order; an idle timeout (6.2.3) and a connection limit; the connection closes on a zero length.
//
// Data: the zone data is one immutable generation (dnsbl::zone_set) behind an atomic
// shared_ptr. A UDP thread loads it once per batch, a TCP connection once per read; publish()
// swaps in a new generation, so every query is answered whole from the old or the new data and a
// reload never drops a query or answers SERVFAIL. Counters per zone (queries, hits, misses,
// refusals) are kept by zone name, so they survive reloads; UDP threads add them up per batch.
//
// SECURITY:
//  - Every octet from the network goes through dnsbl::answer(), which is total and bounded.
//    Datagrams longer than 4096 octets are dropped unread (no real query is that long).
//  - No answer is ever larger than the query's UDP limit (answer() sets TC), so the server is
//    not an amplifier beyond what RFC 6891 allows; responses (QR set) are never answered.
//  - TCP connections are limited in number and time; a slow client holds one socket and one
//    timer, and each connection's buffers are bounded (64 KiB in, one round of answers out).
//  - Zone transfers (AXFR, RFC 5936) only over TCP and only to clients in axfr_allow (anyone
//    else: REFUSED; over UDP: FORMERR). A transfer streams 16 KiB messages from a cursor over
//    the immutable data (dnsbl/transfer.hpp), so its memory is bounded whatever the zone size,
//    and it sends the generation it started with even if a reload happens meanwhile.
// RFCs: 1035 4.2; 5782; 5936 (AXFR); 6891; 7766 (TCP: 6.2.1 pipelining, 6.2.3 idle timeouts,
// 8 framing).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/inet.hpp"
#include "dnsbl/zone.hpp"

namespace asio {
class io_context;
}

namespace mx::net {

struct dns_settings {
  std::vector<inet::endpoint> listen;      // UDP and TCP on each; port 0: any free port
  std::uint16_t udp_payload = 1232;        // our EDNS0 size: the cap on UDP answers
  unsigned udp_sockets = 0;                // per listen address; 0: one per core
  std::chrono::seconds tcp_idle{10};       // RFC 7766 6.2.3: seconds, not minutes
  std::size_t max_tcp_connections = 1000;  // beyond: accepted and closed at once

  friend bool operator==(const dns_settings&, const dns_settings&) = default;
};

// One generation of what the server answers from.
struct dns_data {
  std::shared_ptr<const dnsbl::zone_set> zones;
  std::vector<inet::cidr> axfr_allow;
};

struct dns_zone_counts {
  std::string zone;
  std::uint64_t queries = 0;
  std::uint64_t hits = 0;      // listed
  std::uint64_t misses = 0;    // NXDOMAIN or NODATA
  std::uint64_t refusals = 0;  // REFUSED inside the zone (class, transfer not allowed)
};

struct dns_counts {
  std::vector<dns_zone_counts> zones;  // every zone ever served, by name
  std::uint64_t udp_queries = 0;       // datagrams received
  std::uint64_t tcp_queries = 0;       // messages received over TCP
  std::uint64_t refused_outside = 0;   // names outside every zone
  std::uint64_t errors = 0;            // FORMERR, NOTIMP, BADVERS
  std::uint64_t dropped = 0;           // nothing sent
  std::uint64_t truncated = 0;         // UDP answers sent with TC
  std::uint64_t axfr = 0;              // transfers served
};

class dns_server {
 public:
  // Binds every listener now: UDP and TCP on the same port (for port 0, the port the UDP socket
  // got). Throws std::system_error naming the address on failure.
  dns_server(asio::io_context& ioc, dns_settings settings, dns_data data);
  ~dns_server();  // stop()s
  dns_server(const dns_server&) = delete;
  dns_server& operator=(const dns_server&) = delete;

  void start();                 // UDP threads and TCP accept loops
  void publish(dns_data data);  // the next generation; in use by the next batch or read
  void stop();                  // joins the UDP threads, closes listeners and connections
  std::shared_ptr<const dns_data> current() const;

  std::vector<inet::endpoint> bound() const;  // actual addresses (port 0 resolved)
  dns_counts counts() const;
  std::size_t tcp_connections() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace mx::net
