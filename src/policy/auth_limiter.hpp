// policy/auth_limiter: slows down and then cuts off password guessing over SMTP AUTH. Counts
// failed AUTH attempts per client IP and per user name; the shell asks it after every 535 and
// before every password check. Pure: the caller passes the time in (steady_clock), no clock, no
// I/O, no logging (the shell logs each failure with IP and user, for fail2ban).
//
//   before verifying:  blocked(ip, now)             true -> 421 4.7.0 and close, no verification
//   after a failure:   on_failure(ip, user, now)    -> wait `delay`, then 535 5.7.8;
//                                                      `disconnect` -> 421 4.7.0 and close instead
//   after a success:   on_success(ip, user, now)
//
// Counting: a counter (per IP, per user) grows by one per failure and is forgotten `window` after
// its last failure, so a client that keeps guessing stays limited. The delay before the 535 is
// 0 for the first failure, then first_delay, doubling per failure, capped at max_delay
// (defaults: 0, 1 s, 2 s, 4 s, 8 s, 8 s...), taken from the larger of the IP's and the user's
// counts. When either count reaches max_failures the connection is closed with 421 4.7.0.
//
// SECURITY:
//  - Only the IP can be blocked outright (blocked()): blocking a user name would let anyone lock a
//    real user out by guessing against their name. A user under attack from many IPs gets every
//    attacker slowed and disconnected instead, while the real user's correct password still works.
//  - on_success forgets the user's count but not the IP's: an attacker who owns one account must
//    not be able to reset the IP's count between guesses at other accounts by logging in. A real
//    user behind the same NAT is limited until the window passes.
//  - IPv6 clients are counted per /64 (one end site usually holds a whole /64, so per-address
//    counting would be free to evade); IPv4-mapped IPv6 counts as the IPv4 address.
//  - Memory is bounded: at most max_tracked IPs and max_tracked users; when full, the entry whose
//    last failure is oldest is evicted (and expired ones go first). User names are counted by at
//    most their first 256 octets. An attacker cycling IPs or names can thus evict others' counts,
//    which costs it the delays it pays meanwhile, never unbounded memory.
//  - The delay is the shell's to impose without holding a thread (a timer), and before the 535, so
//    a client cannot learn the outcome sooner by pipelining.
// Thread-safety: internally locked (one mutex); one limiter is shared by all listeners.
// RFCs: 4954 6 (535 5.7.8), 3463 (4.7.0), 5321 3.8 (421 closes the connection).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/inet.hpp"
#include "smtp/reply.hpp"

namespace mx::policy {

struct auth_limiter_settings {
  std::size_t max_failures = 5;      // auth_max_failures: then 421 and close
  std::chrono::seconds window{300};  // a count is forgotten this long after its last failure
  std::chrono::milliseconds first_delay{1000};  // the delay after the second failure
  std::chrono::milliseconds max_delay{8000};
  std::size_t max_tracked = 16384;  // IPs, and separately users
};

struct auth_failure_verdict {
  std::chrono::milliseconds delay{0};  // wait this long before answering
  bool disconnect = false;             // answer too_many_failures() and close instead of 535
  std::size_t ip_failures = 0;         // counts after this failure (for the log line)
  std::size_t user_failures = 0;
};

class auth_limiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit auth_limiter(auth_limiter_settings settings = {});

  // True when this client's IP has reached max_failures within the window: refuse AUTH (and
  // close) without checking the password.
  bool blocked(const inet::ip_address& ip, time_point now) const;
  auth_failure_verdict on_failure(const inet::ip_address& ip, std::string_view user,
                                  time_point now);
  void on_success(const inet::ip_address& ip, std::string_view user, time_point now);

  std::size_t tracked_ips() const;
  std::size_t tracked_users() const;
  const auth_limiter_settings& settings() const { return settings_; }

  // 421 4.7.0: the reply that goes with blocked() or a verdict's disconnect.
  static smtp::reply too_many_failures();

 private:
  struct counter {
    std::string key;
    std::size_t count = 0;
    time_point last{};
  };
  // Counters in order of last failure, most recent first, with an index by key.
  class table {
   public:
    explicit table(std::size_t capacity) : capacity_(capacity) {}
    std::size_t current(const std::string& key, time_point now, std::chrono::seconds window) const;
    std::size_t add_failure(const std::string& key, time_point now, std::chrono::seconds window);
    void erase(const std::string& key);
    std::size_t size() const { return order_.size(); }

   private:
    void expire(time_point now, std::chrono::seconds window);
    std::size_t capacity_;
    std::list<counter> order_;
    std::unordered_map<std::string_view, std::list<counter>::iterator> index_;
  };

  static std::string ip_key(const inet::ip_address& ip);
  static std::string user_key(std::string_view user);
  std::chrono::milliseconds delay_for(std::size_t failures) const;

  auth_limiter_settings settings_;
  mutable std::mutex mutex_;
  table ips_;
  table users_;
};

}  // namespace mx::policy
