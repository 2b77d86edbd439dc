#include "policy/auth_limiter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mx::policy {
namespace {

using namespace std::chrono_literals;
using time_point = auth_limiter::time_point;

inet::ip_address ip(std::string_view text) {
  const auto a = inet::ip_address::parse(text);
  EXPECT_TRUE(a) << "bad test address " << text;
  return a.value_or(inet::ip_address{});
}

const time_point t0 = time_point() + 1000h;  // any fixed origin: the limiter reads no clock

struct event {
  std::chrono::milliseconds at;  // since t0
  std::string ip, user;
  bool success = false;
  // For a failure: the verdict wanted.
  std::chrono::milliseconds want_delay{0};
  bool want_disconnect = false;
  // After the event: whether this ip is blocked.
  bool want_blocked = false;
};

void run(const char* name, const auth_limiter_settings& settings,
         const std::vector<event>& events) {
  auth_limiter limiter(settings);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const event& e = events[i];
    const time_point now = t0 + e.at;
    const std::string where = std::string(name) + " event " + std::to_string(i) + " (" + e.ip +
                              " " + e.user + (e.success ? " ok" : " fail") + ")";
    if (e.success) {
      limiter.on_success(ip(e.ip), e.user, now);
    } else {
      const auto v = limiter.on_failure(ip(e.ip), e.user, now);
      EXPECT_EQ(v.delay.count(), e.want_delay.count()) << where;
      EXPECT_EQ(v.disconnect, e.want_disconnect) << where;
    }
    EXPECT_EQ(limiter.blocked(ip(e.ip), now), e.want_blocked) << where;
  }
}

TEST(auth_limiter, growing_delays_then_disconnect) {
  run("one ip one user", {},
      {
          {0ms, "192.0.2.1", "alice", false, 0ms, false, false},
          {1s, "192.0.2.1", "alice", false, 1s, false, false},
          {2s, "192.0.2.1", "alice", false, 2s, false, false},
          {3s, "192.0.2.1", "alice", false, 4s, false, false},
          {4s, "192.0.2.1", "alice", false, 8s, true, true},   // the 5th: 421 and close
          {5s, "192.0.2.1", "alice", false, 8s, true, true},   // capped at max_delay
          {6s, "192.0.2.2", "bob", false, 0ms, false, false},  // others are not affected
      });
}

TEST(auth_limiter, per_ip_across_user_names) {
  run("name cycling", {},
      {
          {0ms, "192.0.2.1", "a", false, 0ms, false, false},
          {1ms, "192.0.2.1", "b", false, 1s, false, false},
          {2ms, "192.0.2.1", "c", false, 2s, false, false},
          {3ms, "192.0.2.1", "d", false, 4s, false, false},
          {4ms, "192.0.2.1", "e", false, 8s, true, true},
      });
}

TEST(auth_limiter, per_user_across_ips_slows_but_never_blocks_an_ip) {
  run("ip cycling", {},
      {
          {0ms, "192.0.2.1", "alice", false, 0ms, false, false},
          {1ms, "192.0.2.2", "alice", false, 1s, false, false},
          {2ms, "192.0.2.3", "alice", false, 2s, false, false},
          {3ms, "192.0.2.4", "alice", false, 4s, false, false},
          {4ms, "192.0.2.5", "alice", false, 8s, true, false},  // disconnected, IP not blocked
          {5ms, "192.0.2.6", "bob", false, 0ms, false, false},
          // The real alice logs in: her count is forgotten, the next typo costs nothing extra.
          {6ms, "198.51.100.7", "alice", true, 0ms, false, false},
          {7ms, "198.51.100.7", "alice", false, 0ms, false, false},
      });
}

TEST(auth_limiter, success_keeps_the_ip_count) {
  run("one account to reset", {},
      {
          {0ms, "192.0.2.1", "victim1", false, 0ms, false, false},
          {1ms, "192.0.2.1", "victim2", false, 1s, false, false},
          {2ms, "192.0.2.1", "mine", true, 0ms, false, false},
          {3ms, "192.0.2.1", "victim3", false, 2s, false, false},
          {4ms, "192.0.2.1", "mine", true, 0ms, false, false},
          {5ms, "192.0.2.1", "victim4", false, 4s, false, false},
          {6ms, "192.0.2.1", "victim5", false, 8s, true, true},
      });
}

TEST(auth_limiter, window_after_the_last_failure) {
  auth_limiter_settings s;
  s.max_failures = 3;
  s.window = 60s;
  run("window", s,
      {
          {0s, "192.0.2.1", "a", false, 0ms, false, false},
          {50s, "192.0.2.1", "b", false, 1s, false, false},
          {100s, "192.0.2.1", "c", false, 2s, true, true},  // within 60 s of the previous one
          {159s, "192.0.2.1", "d", false, 4s, true, true},  // still counting
          {218s, "192.0.2.9", "x", false, 0ms, false, false},
          // 60 s after the last failure both the IP and the user names are forgotten.
          {219s, "192.0.2.1", "d", false, 0ms, false, false},
      });
  auth_limiter limiter(s);
  for (int i = 0; i < 3; ++i) limiter.on_failure(ip("192.0.2.1"), "a", t0);
  const std::pair<std::chrono::seconds, bool> cases[] = {
      {0s, true}, {59s, true}, {60s, false}, {600s, false}};
  for (const auto& [at, want] : cases) {
    EXPECT_EQ(limiter.blocked(ip("192.0.2.1"), t0 + at), want) << "at +" << at.count() << " s";
  }
}

TEST(auth_limiter, ipv6_counts_per_64_and_mapped_as_ipv4) {
  run("v6", {},
      {
          {0ms, "2001:db8:1:2::1", "a", false, 0ms, false, false},
          {1ms, "2001:db8:1:2:ffff::9", "b", false, 1s, false, false},  // same /64
          {2ms, "2001:db8:1:3::1", "c", false, 0ms, false, false},      // another /64
          {3ms, "::ffff:192.0.2.1", "d", false, 0ms, false, false},
          {4ms, "192.0.2.1", "e", false, 1s, false, false},  // same client as above
      });
}

TEST(auth_limiter, delay_settings) {
  struct test_case {
    std::chrono::milliseconds first, max;
    std::vector<std::chrono::milliseconds> want;
  };
  const test_case cases[] = {
      {1000ms, 8000ms, {0ms, 1000ms, 2000ms, 4000ms, 8000ms, 8000ms, 8000ms}},
      {500ms, 3000ms, {0ms, 500ms, 1000ms, 2000ms, 3000ms, 3000ms, 3000ms}},
      {0ms, 8000ms, {0ms, 0ms, 0ms, 0ms, 0ms, 0ms, 0ms}},
  };
  for (const auto& c : cases) {
    auth_limiter_settings s;
    s.first_delay = c.first;
    s.max_delay = c.max;
    s.max_failures = 100;
    auth_limiter limiter(s);
    for (std::size_t i = 0; i < c.want.size(); ++i) {
      const auto got = limiter.on_failure(ip("192.0.2.1"), "a", t0 + std::chrono::seconds(i));
      EXPECT_EQ(got.delay.count(), c.want[i].count())
          << "failure " << i + 1 << " first " << c.first.count() << " max " << c.max.count();
      EXPECT_EQ(got.ip_failures, i + 1);
      EXPECT_EQ(got.user_failures, i + 1);
    }
  }
}

TEST(auth_limiter, memory_is_bounded) {
  auth_limiter_settings s;
  s.max_tracked = 100;
  auth_limiter limiter(s);
  // An attacker cycling through 10,000 addresses and names.
  for (int i = 0; i < 10000; ++i) {
    const std::string a = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) +
                          "." + std::to_string(i % 256);
    limiter.on_failure(ip(a), "user" + std::to_string(i) + std::string(1000, 'x'),
                       t0 + std::chrono::milliseconds(i));
  }
  EXPECT_EQ(limiter.tracked_ips(), 100u);
  EXPECT_EQ(limiter.tracked_users(), 100u);
  // The most recent ones are kept, the oldest evicted.
  const auto recent = limiter.on_failure(ip("10.0.39.15"), "z", t0 + 10s);  // i = 9999
  EXPECT_EQ(recent.ip_failures, 2u);
  const auto old = limiter.on_failure(ip("10.0.0.1"), "z", t0 + 10s);
  EXPECT_EQ(old.ip_failures, 1u);
  // Expired counters are dropped when new failures come in.
  limiter.on_failure(ip("192.0.2.1"), "y", t0 + 1h);
  EXPECT_EQ(limiter.tracked_ips(), 1u);
  EXPECT_EQ(limiter.tracked_users(), 1u);
}

TEST(auth_limiter, too_many_failures_reply) {
  EXPECT_EQ(auth_limiter::too_many_failures().wire(),
            "421 4.7.0 Too many failed authentication attempts, closing\r\n");
}

}  // namespace
}  // namespace mx::policy
