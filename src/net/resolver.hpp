// net/resolver: an asynchronous DNS stub resolver for the DNSBL checks (smtpd, `mxguard
// lookup`). c-ares does the protocol (ids, retries, server rotation, TCP after TC); this file
// drives its sockets and timeouts from an Asio io_context and answers C++20 coroutines:
//
//   dns_answer a = co_await res.query_a("2.0.0.127.bl.example.test");
//
// A query never throws: every outcome is a dns_answer status (ok, nxdomain, nodata, servfail,
// timeout, error).
//
// Threads: one resolver serves one io_context, however many threads run it. Everything it owns
// (the c-ares channel, its sockets and timer, the cache, the in-flight table) lives on one strand
// of its own; query_a/query_txt may be awaited from any coroutine on any thread, the work hops to
// the strand and the answer is posted back to the caller's executor. Create and destroy the
// resolver on one thread while no other thread uses it; destroy it only when its io_context is
// not running (queries still in flight then end with status error and their coroutines are
// abandoned with the io_context). create() calls ares_library_init, which is not thread-safe:
// create resolvers at start-up, not from several threads at once.
//
// Cache: answers are kept by (lower-cased name, type) for their TTL (the smallest TTL of the
// records used), capped at max_ttl. NXDOMAIN and NODATA are cached for min(SOA TTL, SOA MINIMUM)
// of the authority section's SOA (RFC 2308 5), capped at max_negative_ttl; a negative answer
// without a SOA is not cached (RFC 2308 5). SERVFAIL, timeouts and errors are never cached.
// At most max_cache_entries: expired entries go first, then arbitrary ones. Identical queries
// that arrive while one is in flight wait for it instead of asking again.
//
// SECURITY: answers come from the network. c-ares matches the id, the question and the source of
// a response; this file reads the records itself with bounds checks on every length (names via
// dns::read_name, which refuses pointer loops), keeps only records of the asked type and class
// IN, and bounds what it keeps (64 records, TXT strings of at most 1024 octets each) so a hostile
// server cannot grow memory. TTLs are capped, so a poisoned answer cannot stay for long. Names
// are passed to c-ares as given: callers build them (policy/dnsbl_sites does, from parsed
// addresses and checked domains).
// RFCs: 1035 4.1 (message format), 2308 5 (negative caching), 5782 2.3 (A and TXT for DNSBLs).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "core/result.hpp"

namespace mx::net {

struct resolver_settings {
  // "127.0.0.1:5353", "[::1]:53", "192.0.2.53" (port 53). Empty: the servers of
  // /etc/resolv.conf.
  std::vector<std::string> servers;
  std::chrono::milliseconds timeout{2000};  // c-ares's first-try timeout (it doubles per round)
  int tries = 2;                            // tries per server
  std::chrono::seconds max_ttl{3600};
  std::chrono::seconds max_negative_ttl{900};
  std::size_t max_cache_entries = 100000;  // 0 disables the cache
};

enum class dns_status : std::uint8_t {
  ok,        // at least one record of the asked type
  nxdomain,  // the name does not exist (DNSBL: not listed)
  nodata,    // the name exists, no record of this type
  servfail,  // SERVFAIL from a server (not retried elsewhere: DNSBL checks fail open)
  timeout,   // no answer within the tries
  error,     // anything else (refused, bad name, shut down...): see dns_answer::error
};
std::string_view name_of(dns_status s);

struct dns_answer {
  dns_status status = dns_status::error;
  std::vector<std::array<std::uint8_t, 4>> a;  // query_a: the addresses, in answer order
  std::vector<std::string> txt;  // query_txt: one string per record (its strings joined)
  std::uint32_t ttl = 0;         // seconds left to cache it (0: not cached)
  bool cached = false;           // answered from the cache
  std::string error;             // what went wrong, for status error (and servfail/timeout)
};

struct resolver_stats {
  std::uint64_t queries = 0;     // asked of the servers
  std::uint64_t cache_hits = 0;  // answered from the cache
  std::uint64_t shared = 0;      // joined a query already in flight
  std::uint64_t cache_entries = 0;
};

class resolver {
 public:
  // Sets up a c-ares channel for the executor's io_context. Errors: bad server text, c-ares
  // init failure (e.g. unreadable /etc/resolv.conf with no servers given).
  static mx::expected<std::unique_ptr<resolver>, std::string> create(asio::any_io_executor ex,
                                                                     resolver_settings settings);
  ~resolver();
  resolver(const resolver&) = delete;
  resolver& operator=(const resolver&) = delete;

  asio::awaitable<dns_answer> query_a(std::string name);
  asio::awaitable<dns_answer> query_txt(std::string name);
  // Any type (A and TXT records are decoded; for other types only status and ttl are set).
  asio::awaitable<dns_answer> query(std::string name, std::uint16_t type);

  resolver_stats stats() const;

  struct impl;

 private:
  explicit resolver(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace mx::net
