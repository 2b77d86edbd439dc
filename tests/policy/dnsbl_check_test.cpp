// Tests for policy/dnsbl_check: smtpd's per-connection DNS list state (which names are asked
// when, answers in any order, stale answers dropped, deadlines turned into fail-open timeouts,
// one score over IP, HELO and sender lists, the list blamed), the refusal text, and the log
// limiter.
#include "policy/dnsbl_check.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dnsbl_test_util.hpp"

namespace mx::policy::dnsbl {
namespace {

using namespace std::chrono_literals;

const time_point t0{};  // a fixed origin: the tests never read a clock

using testing::ip;
using testing::rec;

std::vector<site> sites(std::vector<std::string_view> entries) {
  std::vector<site> out;
  for (auto e : entries) {
    auto s = parse_site(e);
    if (!s) ADD_FAILURE() << "test bug: bad site " << e << ": " << s.error();
    if (s) out.push_back(*s);
  }
  return out;
}

std::shared_ptr<const check_config> config(std::vector<std::string_view> client,
                                           std::vector<std::string_view> helo,
                                           std::vector<std::string_view> sender, int threshold) {
  auto c = std::make_shared<check_config>();
  c->client = sites(client);
  c->helo = sites(helo);
  c->sender = sites(sender);
  c->threshold = threshold;
  return c;
}

std::vector<std::string> names(const std::vector<query>& qs) {
  std::vector<std::string> out;
  for (const auto& q : qs) out.push_back(q.name);
  return out;
}

// The site a query was made for.
const site& site_of(const check_state& st, const query& q) {
  const auto& c = st.config();
  const auto& list = q.kind == subject_kind::client ? c.client
                     : q.kind == subject_kind::helo ? c.helo
                                                    : c.sender;
  return list.at(q.index);
}

TEST(DnsblCheck, QueryNamesPerSubject) {
  struct tc {
    std::string name;
    subject_kind kind;
    std::string subject;
    std::vector<std::string> want;
  };
  auto cfg = config({"bl.test", "wl.test*-5"}, {"hbl.test"}, {"dbl.test", "d2.test=127.0.1.2"}, 1);
  const std::vector<tc> cases = {
      {"IPv4 client",
       subject_kind::client,
       "192.0.2.1",
       {"1.2.0.192.bl.test", "1.2.0.192.wl.test"}},
      {"IPv4-mapped client is asked as IPv4",
       subject_kind::client,
       "::ffff:192.0.2.1",
       {"1.2.0.192.bl.test", "1.2.0.192.wl.test"}},
      {"IPv6 client in nibbles",
       subject_kind::client,
       "2001:db8::1",
       {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.wl.test"}},
      {"HELO name lower-cased", subject_kind::helo, "Spam.Example.", {"spam.example.hbl.test"}},
      {"sender domain",
       subject_kind::sender,
       "spam.example",
       {"spam.example.dbl.test", "spam.example.d2.test"}},
      {"HELO address literal is not asked", subject_kind::helo, "[192.0.2.1]", {}},
      {"UTF-8 domain is not asked",
       subject_kind::sender,
       "b\xc3\xa4"
       "d.example",
       {}},
      {"empty HELO is not asked", subject_kind::helo, "", {}},
  };
  for (const auto& c : cases) {
    check_state st(cfg);
    const auto got = c.kind == subject_kind::client ? st.begin_client(ip(c.subject), t0 + 1s)
                                                    : st.begin_domain(c.kind, c.subject, t0 + 1s);
    EXPECT_EQ(names(got), c.want) << c.name;
    EXPECT_EQ(st.complete(), c.want.empty()) << c.name << ": complete before any answer";
  }
}

TEST(DnsblCheck, AskingAgainForTheSameSubjectSendsNothing) {
  check_state st(config({"bl.test"}, {"hbl.test"}, {"dbl.test"}, 1));
  EXPECT_EQ(st.begin_client(ip("192.0.2.1"), t0).size(), 1u);
  EXPECT_EQ(st.begin_client(ip("192.0.2.1"), t0).size(), 0u) << "client asked twice";
  EXPECT_EQ(st.begin_domain(subject_kind::helo, "a.example", t0).size(), 1u);
  EXPECT_EQ(st.begin_domain(subject_kind::helo, "A.EXAMPLE.", t0).size(), 0u)
      << "same HELO name in another case";
  EXPECT_EQ(st.begin_domain(subject_kind::helo, "b.example", t0).size(), 1u) << "a new HELO name";
  EXPECT_EQ(st.begin_domain(subject_kind::client, "a.example", t0).size(), 0u)
      << "begin_domain never asks IP lists";
}

// A scenario: lists and their answers; the verdict.
struct answer_spec {
  subject_kind kind;
  std::string list;
  std::vector<std::string_view> records;  // empty: NXDOMAIN
  bool fail = false;                      // a timeout/SERVFAIL
};

struct verdict_case {
  std::string name;
  std::vector<std::string_view> client, helo, sender;
  int threshold;
  std::vector<answer_spec> answers;  // lists not named here never answer
  int want_score;
  bool want_blocked;
  std::string want_blame;  // list domain, "" for none
  subject_kind want_blame_kind = subject_kind::client;
  std::size_t want_errors = 0;
};

TEST(DnsblCheck, Verdicts) {
  using k = subject_kind;
  const std::vector<verdict_case> cases = {
      {"listed once",
       {"bl.test"},
       {},
       {},
       1,
       {{k::client, "bl.test", {"127.0.0.2"}}},
       1,
       true,
       "bl.test"},
      {"not listed", {"bl.test"}, {}, {}, 1, {{k::client, "bl.test", {}}}, 0, false, ""},
      {"weights add to the threshold",
       {"a.test", "b.test"},
       {},
       {},
       2,
       {{k::client, "a.test", {"127.0.0.2"}}, {k::client, "b.test", {"127.0.0.3"}}},
       2,
       true,
       "a.test"},
      {"one of two below the threshold",
       {"a.test", "b.test"},
       {},
       {},
       2,
       {{k::client, "a.test", {"127.0.0.2"}}, {k::client, "b.test", {}}},
       1,
       false,
       "a.test"},
      {"many records count once",
       {"bl.test*2"},
       {},
       {},
       3,
       {{k::client, "bl.test", {"127.0.0.2", "127.0.0.3", "127.0.0.4"}}},
       2,
       false,
       "bl.test"},
      {"allowlist cancels",
       {"bl.test*2", "wl.test*-5"},
       {},
       {},
       1,
       {{k::client, "bl.test", {"127.0.0.2"}}, {k::client, "wl.test", {"127.0.10.2"}}},
       -3,
       false,
       "bl.test"},
      {"highest weight is blamed",
       {"low.test", "high.test*3"},
       {},
       {},
       1,
       {{k::client, "low.test", {"127.0.0.2"}}, {k::client, "high.test", {"127.0.0.2"}}},
       4,
       true,
       "high.test"},
      {"list error never counts",
       {"bl.test"},
       {},
       {},
       1,
       {{k::client, "bl.test", {"127.255.255.254"}}},
       0,
       false,
       "",
       k::client,
       1},
      {"answer outside 127/8 never counts",
       {"bl.test"},
       {},
       {},
       1,
       {{k::client, "bl.test", {"192.0.2.80"}}},
       0,
       false,
       "",
       k::client,
       1},
      {"127.0.0.1 never counts",
       {"bl.test"},
       {},
       {},
       1,
       {{k::client, "bl.test", {"127.0.0.1"}}},
       0,
       false,
       "",
       k::client,
       1},
      {"pattern not matched",
       {"zen.test=127.0.0.[2..11]"},
       {},
       {},
       1,
       {{k::client, "zen.test", {"127.0.0.20"}}},
       0,
       false,
       ""},
      {"failure fails open",
       {"bl.test"},
       {},
       {},
       1,
       {{k::client, "bl.test", {}, true}},
       0,
       false,
       "",
       k::client,
       1},
      {"sender list blocks",
       {"bl.test"},
       {},
       {"dbl.test"},
       1,
       {{k::client, "bl.test", {}}, {k::sender, "dbl.test", {"127.0.1.2"}}},
       1,
       true,
       "dbl.test",
       k::sender},
      {"helo list adds to the IP list",
       {"bl.test"},
       {"hbl.test"},
       {},
       2,
       {{k::client, "bl.test", {"127.0.0.2"}}, {k::helo, "hbl.test", {"127.0.0.2"}}},
       2,
       true,
       "bl.test",
       k::client},
      {"IP allowlist cancels a sender listing",
       {"wl.test*-5"},
       {},
       {"dbl.test"},
       1,
       {{k::client, "wl.test", {"127.0.10.2"}}, {k::sender, "dbl.test", {"127.0.1.2"}}},
       -4,
       false,
       "dbl.test",
       k::sender},
  };
  for (const auto& c : cases) {
    check_state st(config(c.client, c.helo, c.sender, c.threshold));
    std::vector<query> qs = st.begin_client(ip("192.0.2.9"), t0 + 2s);
    for (auto& q : st.begin_domain(subject_kind::helo, "helo.example", t0 + 2s)) qs.push_back(q);
    for (auto& q : st.begin_domain(subject_kind::sender, "sender.example", t0 + 2s))
      qs.push_back(q);
    // Answer in reverse order: the state must not care.
    for (auto it = qs.rbegin(); it != qs.rend(); ++it) {
      const site& s = site_of(st, *it);
      for (const auto& a : c.answers) {
        if (a.kind != it->kind || a.list != s.domain) continue;
        std::vector<a_record> records;
        for (auto r : a.records) records.push_back(rec(r));
        EXPECT_TRUE(st.answer(*it, a.fail ? failed_lookup(s) : classify_answer(s, records)))
            << c.name << ": answer for " << it->name;
      }
    }
    const outcome o = st.evaluate();
    EXPECT_EQ(o.v.score, c.want_score) << c.name;
    EXPECT_EQ(o.blocked, c.want_blocked) << c.name;
    EXPECT_EQ(o.blamed ? o.blamed->result.list : "", c.want_blame) << c.name;
    if (o.blamed) {
      EXPECT_EQ(o.blamed->kind, c.want_blame_kind) << c.name;
    }
    EXPECT_EQ(o.v.errors.size(), c.want_errors) << c.name;
    EXPECT_EQ(o.listed_kind.size(), o.v.listed.size()) << c.name;
    EXPECT_EQ(o.error_kind.size(), o.v.errors.size()) << c.name;
  }
}

TEST(DnsblCheck, StaleAndRepeatedAnswersAreDropped) {
  check_state st(config({}, {}, {"dbl.test"}, 1));
  const auto first = st.begin_domain(subject_kind::sender, "one.example", t0 + 1s);
  ASSERT_EQ(first.size(), 1u);
  const auto second = st.begin_domain(subject_kind::sender, "two.example", t0 + 1s);
  ASSERT_EQ(second.size(), 1u);
  const site& s = st.config().sender[0];
  const auto listed = classify_answer(s, std::vector<a_record>{rec("127.0.1.2")});
  EXPECT_FALSE(st.answer(first[0], listed)) << "an answer for the previous sender was taken";
  EXPECT_FALSE(st.complete());
  EXPECT_TRUE(st.answer(second[0], classify_answer(s, {})));
  EXPECT_FALSE(st.answer(second[0], listed)) << "a second answer for one query was taken";
  const outcome o = st.evaluate();
  EXPECT_FALSE(o.blocked) << describe(st, o);
  EXPECT_EQ(st.subject(subject_kind::sender), "two.example");
  st.clear(subject_kind::sender);
  EXPECT_TRUE(st.complete());
  EXPECT_EQ(st.subject(subject_kind::sender), "");
}

TEST(DnsblCheck, DeadlinesExpireIntoFailures) {
  check_state st(config({"fast.test", "slow.test"}, {}, {"dbl.test"}, 1));
  const auto client = st.begin_client(ip("192.0.2.1"), t0 + 1s);
  const auto sender = st.begin_domain(subject_kind::sender, "x.example", t0 + 3s);
  ASSERT_EQ(client.size(), 2u);
  ASSERT_EQ(sender.size(), 1u);
  EXPECT_EQ(st.next_deadline(), t0 + 1s);
  EXPECT_TRUE(st.answer(
      client[0], classify_answer(st.config().client[0], std::vector<a_record>{rec("127.0.0.2")})));
  struct step {
    time_point now;
    std::vector<std::string> want_expired;
    bool want_complete;
  };
  const std::vector<step> steps = {
      {t0 + 999ms, {}, false},
      {t0 + 1s, {"slow.test"}, false},
      {t0 + 2s, {}, false},
      {t0 + 3s, {"dbl.test"}, true},
  };
  for (const auto& s : steps) {
    std::vector<std::string> got;
    for (const auto& r : st.expire(s.now)) {
      got.push_back(r.list);
      EXPECT_EQ(r.status, list_status::failed) << r.list;
    }
    EXPECT_EQ(got, s.want_expired) << "at +" << (s.now - t0).count() << "ns";
    EXPECT_EQ(st.complete(), s.want_complete) << "at +" << (s.now - t0).count() << "ns";
  }
  EXPECT_FALSE(st.next_deadline().has_value());
  EXPECT_FALSE(st.answer(client[1], classify_answer(st.config().client[1], {})))
      << "an answer after its deadline was taken";
  const outcome o = st.evaluate();
  EXPECT_TRUE(o.blocked) << describe(st, o);
  EXPECT_EQ(o.v.errors.size(), 2u) << describe(st, o);
}

TEST(DnsblCheck, RefusalAndDescription) {
  struct tc {
    std::string name;
    subject_kind kind;
    std::string txt;
    bool defer;
    std::string want_wire;
  };
  const std::vector<tc> cases = {
      {"client", subject_kind::client, "Listed: see http://x/?192.0.2.1", false,
       "554 5.7.1 Service unavailable; client [192.0.2.1] blocked using bl.test; Listed: see "
       "http://x/?192.0.2.1\r\n"},
      {"client deferred, no TXT", subject_kind::client, "", true,
       "450 4.7.1 Service unavailable; client [192.0.2.1] blocked using bl.test\r\n"},
      {"sender", subject_kind::sender, "bad\r\nstuff", false,
       "554 5.7.1 Service unavailable; sender domain [spam.example] blocked using bl.test; "
       "bad??stuff\r\n"},
      {"helo", subject_kind::helo, "", false,
       "554 5.7.1 Service unavailable; helo name [spam.example] blocked using bl.test\r\n"},
  };
  for (const auto& c : cases) {
    check_state st(config({"bl.test*2"}, {"bl.test*2"}, {"bl.test*2"}, 1));
    std::vector<query> qs = c.kind == subject_kind::client
                                ? st.begin_client(ip("::ffff:192.0.2.1"), t0)
                                : st.begin_domain(c.kind, "spam.example", t0);
    ASSERT_EQ(qs.size(), 1u) << c.name;
    st.answer(qs[0], classify_answer(site_of(st, qs[0]), std::vector<a_record>{rec("127.0.0.2")}));
    const outcome o = st.evaluate();
    ASSERT_TRUE(o.blamed) << c.name;
    EXPECT_EQ(o.blamed->query_name, qs[0].name) << c.name;
    EXPECT_EQ(refusal(st, *o.blamed, c.txt, c.defer).wire(), c.want_wire) << c.name;
    const std::string d = describe(st, o);
    EXPECT_NE(d.find("score 2 (threshold 1): bl.test*2=127.0.0.2 (" + std::string(name_of(c.kind)) +
                     " " + o.blamed->subject + ")"),
              std::string::npos)
        << c.name << ": got " << d;
  }
}

TEST(DnsblCheck, LogLimiterOncePerInterval) {
  log_limiter lim(60s, 2);
  struct step {
    std::string key;
    time_point now;
    std::optional<std::uint64_t> want;
  };
  const std::vector<step> steps = {
      {"a", t0, 0},
      {"a", t0 + 1s, std::nullopt},
      {"a", t0 + 59s, std::nullopt},
      {"b", t0 + 59s, 0},
      {"a", t0 + 60s, 2},  // two held back since the first
      {"a", t0 + 61s, std::nullopt},
      {"c", t0 + 200s, 0},  // full: stale keys go
      {"b", t0 + 200s, 0},  // "b" was stale and dropped: new again
  };
  for (const auto& s : steps) {
    EXPECT_EQ(lim.allow(s.key, s.now), s.want) << s.key << " at +" << (s.now - t0).count();
  }
}

}  // namespace
}  // namespace mx::policy::dnsbl

namespace mx::policy::dnsbl {
namespace {

TEST(DnsblCheck, AnswerMemoExpiresAndStaysBounded) {
  answer_memo memo(2);
  const std::vector<a_record> listed{rec("127.0.0.2")};
  memo.store("a", listed, t0 + 10s, t0);
  memo.store("b", {}, t0 + 5s, t0);
  memo.store("gone", listed, t0, t0);  // already expired: not kept (and nothing evicted)
  struct probe {
    std::string name;
    time_point now;
    std::optional<std::vector<a_record>> want;
  };
  const std::vector<probe> probes = {
      {"a", t0 + 9s, listed},
      {"b", t0 + 4s, std::vector<a_record>{}},  // NXDOMAIN is an answer too
      {"b", t0 + 5s, std::nullopt},             // expired
      {"gone", t0, std::nullopt},
      {"c", t0, std::nullopt},
  };
  for (const auto& p : probes) {
    EXPECT_EQ(memo.find(p.name, p.now), p.want) << p.name << " at +" << (p.now - t0).count();
  }
  EXPECT_EQ(memo.size(), 2u);
  // Full: a new name first drops the expired entries ("b" at +6s), keeping live ones.
  memo.store("c", listed, t0 + 20s, t0 + 6s);
  EXPECT_EQ(memo.size(), 2u);
  EXPECT_EQ(memo.find("a", t0 + 6s), listed);
  EXPECT_EQ(memo.find("c", t0 + 6s), listed);
  // Full of live entries: it starts over rather than grow.
  memo.store("d", listed, t0 + 20s, t0 + 7s);
  EXPECT_EQ(memo.size(), 1u);
  EXPECT_EQ(memo.find("d", t0 + 7s), listed);
}

}  // namespace
}  // namespace mx::policy::dnsbl
