// policy/dnsbl_check: the per-connection DNSBL state of smtpd. It decides which names to ask
// for a client (its IP address at connect, its HELO name, each MAIL FROM domain), takes the
// answers in whatever order they come, turns the ones that never came into fail-open timeouts at
// a deadline the shell gives, and scores them (policy/dnsbl_sites) into one verdict with the list
// to blame in the reply. Also a rate limiter for the log lines about broken lists. No I/O and no
// clock: the shell sends the queries, reads the time and passes it in.
//
// Scoring: the client's IP lists (`[smtpd] dnsbl`), the HELO domain lists (`rhsbl_helo`) and the
// sender domain lists (`rhsbl_sender`) add into ONE score against one threshold, postscreen
// style: an allowlist with a negative weight can cancel a domain listing as well as an IP one.
// The sender group is per transaction: a new MAIL FROM replaces it (answers for an earlier
// sender that arrive late are dropped by their generation number).
//
// SECURITY:
//  - Everything that counts goes through dnsbl_sites::classify_answer: list errors (answers
//    outside 127/8, 127.0.0.1, 127.255.255.0/24) and failed lookups never count (fail open).
//  - A query that has not answered by its deadline is a failure, never a listing and never a
//    wait beyond the deadline: the shell's session cannot be held by a slow or silent list.
//  - Domains come from the client (HELO, MAIL FROM); query names are built only through
//    dnsbl_sites (canonical labels, 255-octet limit). A domain that is not a plain DNS name
//    (address literal, UTF-8, over-long) is not queried at all.
//  - The log limiter keeps at most max_keys keys, so list names cannot grow it without bound.
// RFCs: 5782 2.1, 2.4, 3 (names), 5321 3.3 and 4.2 (where the replies go), 3463 (5.7.1, 4.7.1).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/inet.hpp"
#include "policy/dnsbl_sites.hpp"
#include "smtp/reply.hpp"

namespace mx::policy::dnsbl {

using time_point = std::chrono::steady_clock::time_point;

// What the client is checked as.
enum class subject_kind : std::uint8_t { client, helo, sender };
std::string_view name_of(subject_kind k);

// smtpd's lists, from the config.
struct check_config {
  std::vector<site> client;  // [smtpd] dnsbl: queried with the client's address
  std::vector<site> helo;    // rhsbl_helo: with the HELO/EHLO domain
  std::vector<site> sender;  // rhsbl_sender: with the MAIL FROM domain
  int threshold = 1;         // score >= threshold blocks

  bool empty() const { return client.empty() && helo.empty() && sender.empty(); }
  friend bool operator==(const check_config&, const check_config&) = default;
};

// One DNS question to send (type A); answer() takes it back with the result.
struct query {
  subject_kind kind = subject_kind::client;
  std::size_t index = 0;         // into the config's list of that kind
  std::uint32_t generation = 0;  // of that kind's subject when it was asked
  std::string name;              // "2.0.0.127.bl.example.test"
  friend bool operator==(const query&, const query&) = default;
};

// The list a refusal names.
struct blame {
  subject_kind kind = subject_kind::client;
  std::string subject;     // "192.0.2.1", "spam.example"
  std::string query_name;  // the name whose TXT record explains the listing
  list_result result;
};

struct outcome {
  verdict v;                              // over every answered query of the current subjects
  std::optional<blame> blamed;            // set when v.blame is
  bool blocked = false;                   // v.reached(threshold)
  std::vector<subject_kind> listed_kind;  // parallel to v.listed
  std::vector<subject_kind> error_kind;   // parallel to v.errors
};

class check_state {
 public:
  explicit check_state(std::shared_ptr<const check_config> cfg);

  // Starts the checks of a subject; returns the queries to send. Asking again for the subject
  // already current gives nothing (its queries are in flight or answered). A new subject of the
  // same kind replaces the old one. Domains that cannot be queried give no queries (and clear
  // the kind's earlier subject).
  std::vector<query> begin_client(const inet::ip_address& ip, time_point deadline);
  std::vector<query> begin_domain(subject_kind kind, std::string_view domain, time_point deadline);
  // Forgets the sender group (RSET, a new transaction without a sender domain).
  void clear(subject_kind kind);

  // Takes an answer in. False when it is stale (an older subject) or the query was already
  // answered or expired.
  bool answer(const query& q, list_result r);

  // Every query of the current subjects is answered (or expired).
  bool complete() const;
  // The earliest deadline among unanswered queries; nullopt when complete.
  std::optional<time_point> next_deadline() const;
  // Unanswered queries whose deadline is <= now become failed lookups; returns them.
  std::vector<list_result> expire(time_point now);

  outcome evaluate() const;

  const std::optional<inet::ip_address>& client() const { return client_ip_; }
  // The current subject of a kind ("" when none): the address text or the canonical domain.
  const std::string& subject(subject_kind k) const { return group_of(k).subject; }
  const check_config& config() const { return *cfg_; }

 private:
  struct slot {
    std::string name;  // the query name
    std::optional<list_result> result;
    time_point deadline{};
  };
  struct group {
    std::string subject;  // "" when none
    std::uint32_t generation = 0;
    std::vector<slot> slots;  // one per site of the kind, in config order
  };
  const std::vector<site>& sites(subject_kind k) const;
  group& group_of(subject_kind k) { return groups_[static_cast<std::size_t>(k)]; }
  const group& group_of(subject_kind k) const { return groups_[static_cast<std::size_t>(k)]; }
  std::vector<query> start(subject_kind kind, std::string subject, std::vector<std::string> names,
                           time_point deadline);

  std::shared_ptr<const check_config> cfg_;
  std::optional<inet::ip_address> client_ip_;
  group groups_[3];
};

// The refusal for a blocked verdict: "554 5.7.1 Service unavailable; client [ip] blocked using
// <list>[; <TXT>]" (dnsbl_sites::blocked_reply) for IP lists; for domain lists "... sender
// domain [d] blocked using ..." or "... helo name [d] blocked using ...". defer: 450 4.7.1.
smtp::reply refusal(const check_state& state, const blame& b, std::string_view txt, bool defer);

// "score 3 (threshold 2): bl.example.test*2=127.0.0.2 (client 192.0.2.1), dbl.example.test*1=
// 127.0.1.2 (sender spam.example)"; then any list errors and failures: "; not counted:
// refuse.example.test list error 127.255.255.254 (client 192.0.2.1)".
std::string describe(const check_state& state, const outcome& o);

// Answers by query name, for the shell to look at before it asks the resolver: a session whose
// answers are all here needs no DNS round trip and no hop to the resolver's thread. Entries live
// until the expiry the shell gives (the answer's TTL, as capped by the resolver); at most
// max_entries (expired ones go first, then all). Only answers are kept (A records, or none for
// NXDOMAIN/NODATA), never failures.
class answer_memo {
 public:
  explicit answer_memo(std::size_t max_entries = 100000) : max_entries_(max_entries) {}
  // The records of a live entry (empty: not listed); nullopt when absent or expired.
  std::optional<std::vector<a_record>> find(const std::string& name, time_point now) const;
  void store(const std::string& name, std::vector<a_record> records, time_point expires,
             time_point now);
  void clear() { entries_.clear(); }
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    std::vector<a_record> records;
    time_point expires{};
  };
  std::size_t max_entries_;
  std::unordered_map<std::string, entry> entries_;
};

// Which of the log lines about a broken list to write: the first for a key, then at most one per
// interval, telling how many were held back in between.
class log_limiter {
 public:
  explicit log_limiter(std::chrono::seconds interval, std::size_t max_keys = 4096)
      : interval_(interval), max_keys_(max_keys) {}
  // nullopt: hold this one back. Otherwise: log it, with the count held back since the last.
  std::optional<std::uint64_t> allow(std::string_view key, time_point now);

 private:
  struct entry {
    time_point last{};
    std::uint64_t held = 0;
  };
  std::chrono::seconds interval_;
  std::size_t max_keys_;
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace mx::policy::dnsbl
