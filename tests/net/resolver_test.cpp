// Tests for net/resolver against a scripted UDP DNS server on 127.0.0.1 (port 0) inside the
// test: answers, NXDOMAIN (cached by the SOA), NODATA, SERVFAIL, a server that never answers, the
// cache and its TTL expiry, shared in-flight queries, and many queries from several threads.
#include "net/resolver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "dns/message.hpp"
#include "dns/name.hpp"
#include "dns/writer.hpp"

namespace mx::net {
namespace {

using namespace std::chrono_literals;

// What the scripted server does for one (name, type).
struct script {
  enum class kind { answer, nxdomain, nodata, servfail, drop } what = kind::answer;
  std::vector<std::array<std::uint8_t, 4>> a;
  std::vector<std::string> txt;
  std::uint32_t ttl = 300;
  std::optional<std::uint32_t> soa_minimum;  // negative answers: a SOA in authority
  std::chrono::milliseconds delay{0};
};

using record = std::array<std::uint8_t, 4>;

// Builders (designated initializers that skip members trip -Wmissing-field-initializers).
script answer_a(std::vector<record> a, std::uint32_t ttl = 300,
                std::chrono::milliseconds delay = 0ms) {
  script s;
  s.a = std::move(a);
  s.ttl = ttl;
  s.delay = delay;
  return s;
}
script answer_txt(std::vector<std::string> txt) {
  script s;
  s.txt = std::move(txt);
  return s;
}
script negative(script::kind k, std::optional<std::uint32_t> soa_minimum = std::nullopt,
                std::uint32_t ttl = 300) {
  script s;
  s.what = k;
  s.soa_minimum = soa_minimum;
  s.ttl = ttl;
  return s;
}

class scripted_server {
 public:
  scripted_server() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) ADD_FAILURE() << "bind";
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~scripted_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void set(const std::string& name, std::uint16_t type, script s) {
    std::lock_guard lock(mu_);
    scripts_[{name, type}] = std::move(s);
  }
  int count(const std::string& name, std::uint16_t type) {
    std::lock_guard lock(mu_);
    return counts_[{name, type}];
  }

 private:
  void loop() {
    std::array<std::uint8_t, 1500> in{};
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, in.data(), in.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n <= 0) continue;
      auto q = dns::parse_query(std::span<const std::uint8_t>(in.data(), std::size_t(n)));
      if (!q) continue;
      dns::name lower = q->qname;
      lower.to_lower();
      script s;
      s.what = script::kind::nxdomain;
      {
        std::lock_guard lock(mu_);
        const auto key = std::make_pair(lower.to_text(), q->qtype);
        ++counts_[key];
        if (auto it = scripts_.find(key); it != scripts_.end()) s = it->second;
      }
      if (s.delay.count() > 0) std::this_thread::sleep_for(s.delay);
      if (s.what == script::kind::drop) continue;
      std::array<std::uint8_t, 1500> out{};
      dns::writer w(out, 512);
      dns::header h;
      h.id = q->hdr.id;
      h.qdcount = 1;
      w.write_header(h);
      w.write_question(q->qname, q->qtype, q->qclass);
      std::uint16_t rcode = dns::rcode::noerror;
      if (s.what == script::kind::answer) {
        for (const auto& a : s.a) {
          w.begin_rr(dns::section::answer, q->qname, dns::rr_type::a, dns::rr_class::in, s.ttl);
          w.write_bytes(a);
          w.end_rr();
        }
        for (const auto& t : s.txt) {
          w.begin_rr(dns::section::answer, q->qname, dns::rr_type::txt, dns::rr_class::in, s.ttl);
          w.write_u8(static_cast<std::uint8_t>(t.size()));
          w.write_bytes(std::span(reinterpret_cast<const std::uint8_t*>(t.data()), t.size()));
          w.end_rr();
        }
      } else if (s.what == script::kind::servfail) {
        rcode = dns::rcode::servfail;
      } else if (s.what == script::kind::nxdomain) {
        rcode = dns::rcode::nxdomain;
      }
      if ((s.what == script::kind::nxdomain || s.what == script::kind::nodata) && s.soa_minimum) {
        auto zone = dns::name::from_text("test");
        w.begin_rr(dns::section::authority, *zone, dns::rr_type::soa, dns::rr_class::in, s.ttl);
        w.write_name(*dns::name::from_text("ns.test"));
        w.write_name(*dns::name::from_text("hostmaster.test"));
        for (std::uint32_t v : {1u, 600u, 300u, 86400u}) w.write_u32(v);
        w.write_u32(*s.soa_minimum);
        w.end_rr();
      }
      const std::size_t size = w.finish(static_cast<std::uint16_t>(
          dns::flag::qr | dns::flag::aa | (q->hdr.flags & dns::flag::rd) | rcode));
      ::sendto(fd_, out.data(), size, 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::uint16_t>, script> scripts_;
  std::map<std::pair<std::string, std::uint16_t>, int> counts_;
};

resolver_settings settings_for(const scripted_server& server) {
  resolver_settings s;
  s.servers = {server.address()};
  s.timeout = 300ms;
  s.tries = 1;
  return s;
}

std::string a_text(const dns_answer& a) {
  std::string out = std::string(name_of(a.status));
  for (const auto& r : a.a) out += fmt::format(" {}.{}.{}.{}", r[0], r[1], r[2], r[3]);
  for (const auto& t : a.txt) out += " \"" + t + "\"";
  return out;
}

// Runs a coroutine to completion on a fresh io_context.
template <class F>
void run(F&& body, int threads = 1) {
  asio::io_context ctx;
  bool done = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        co_await body(ctx.get_executor());
        done = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ctx.run(); });
  ctx.run();
  for (auto& t : pool) t.join();
  EXPECT_TRUE(done) << "the test coroutine did not finish";
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

TEST(Resolver, Answers) {
  scripted_server server;
  server.set("2.0.0.127.bl.test", dns::rr_type::a, answer_a({{127, 0, 0, 2}, {127, 0, 0, 4}}));
  server.set("2.0.0.127.bl.test", dns::rr_type::txt, answer_txt({"Listed: see http://bl.test/"}));
  server.set("gone.test", dns::rr_type::a, negative(script::kind::nxdomain, 60));
  server.set("empty.test", dns::rr_type::a, negative(script::kind::nodata, 60));
  server.set("broken.test", dns::rr_type::a, negative(script::kind::servfail));
  server.set("silent.test", dns::rr_type::a, negative(script::kind::drop));
  struct tc {
    std::string name;
    std::uint16_t type;
    std::string want;
  };
  const std::vector<tc> cases = {
      {"2.0.0.127.bl.test", dns::rr_type::a, "ok 127.0.0.2 127.0.0.4"},
      {"2.0.0.127.BL.test.", dns::rr_type::txt, "ok \"Listed: see http://bl.test/\""},
      {"gone.test", dns::rr_type::a, "nxdomain"},
      {"empty.test", dns::rr_type::a, "nodata"},
      {"broken.test", dns::rr_type::a, "servfail"},
      {"silent.test", dns::rr_type::a, "timeout"},
      {"unscripted.test", dns::rr_type::a, "nxdomain"},
  };
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto res = resolver::create(ex, settings_for(server));
    if (!res) {
      ADD_FAILURE() << res.error();
      co_return;
    }
    for (const auto& c : cases) {
      const dns_answer got = co_await (*res)->query(c.name, c.type);
      EXPECT_EQ(a_text(got), c.want) << "name: " << c.name << " error: " << got.error;
      EXPECT_FALSE(got.cached) << "name: " << c.name;
    }
  });
}

TEST(Resolver, CachesByTtl) {
  scripted_server server;
  server.set("listed.test", dns::rr_type::a, answer_a({{127, 0, 0, 2}}, 300));
  server.set("short.test", dns::rr_type::a, answer_a({{127, 0, 0, 3}}, 1));
  server.set("zero.test", dns::rr_type::a, answer_a({{127, 0, 0, 3}}, 0));
  server.set("gone.test", dns::rr_type::a, negative(script::kind::nxdomain, 60, 300));
  server.set("nosoa.test", dns::rr_type::a, negative(script::kind::nxdomain));
  server.set("broken.test", dns::rr_type::a, negative(script::kind::servfail));
  struct tc {
    std::string name;
    int want_server_queries;  // after asking three times in a row
    std::uint32_t want_first_ttl;
  };
  const std::vector<tc> cases = {
      {"listed.test", 1, 300},
      {"LISTED.test.", 1, 0},  // same key: already cached (ttl checked on the first only)
      {"zero.test", 3, 0},
      {"gone.test", 1, 60},  // min(SOA TTL 300, MINIMUM 60)
      {"nosoa.test", 3, 0},  // RFC 2308 5: not cached without a SOA
      {"broken.test", 3, 0},
  };
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto res = resolver::create(ex, settings_for(server));
    if (!res) {
      ADD_FAILURE() << res.error();
      co_return;
    }
    for (const auto& c : cases) {
      std::string first_status;
      for (int i = 0; i < 3; ++i) {
        const dns_answer got = co_await (*res)->query_a(c.name);
        if (i == 0 && c.want_first_ttl != 0) {
          EXPECT_EQ(got.ttl, c.want_first_ttl) << "name: " << c.name;
        }
        if (i == 0) first_status = a_text(got);
        EXPECT_EQ(a_text(got), first_status) << "name: " << c.name << " try " << i;
      }
      std::string lower = c.name;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(ch));
      if (lower.back() == '.') lower.pop_back();
      EXPECT_EQ(server.count(lower, dns::rr_type::a), c.want_server_queries) << "name: " << c.name;
    }
    const auto st = (*res)->stats();
    EXPECT_EQ(st.cache_hits, 7u) << "listed 2 + 3 (same key), gone 2";

    // TTL expiry: 1 s, then asked again.
    EXPECT_EQ(a_text(co_await (*res)->query_a("short.test")), "ok 127.0.0.3");
    const dns_answer hit = co_await (*res)->query_a("short.test");
    EXPECT_TRUE(hit.cached);
    EXPECT_EQ(server.count("short.test", dns::rr_type::a), 1);
    co_await sleep_for(1100ms);
    const dns_answer again = co_await (*res)->query_a("short.test");
    EXPECT_FALSE(again.cached);
    EXPECT_EQ(a_text(again), "ok 127.0.0.3");
    EXPECT_EQ(server.count("short.test", dns::rr_type::a), 2);
  });
}

TEST(Resolver, CapsTtl) {
  scripted_server server;
  server.set("long.test", dns::rr_type::a, answer_a({{127, 0, 0, 2}}, 86400));
  server.set("gone.test", dns::rr_type::a, negative(script::kind::nxdomain, 86400, 86400));
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto s = settings_for(server);
    s.max_ttl = 10s;
    s.max_negative_ttl = 5s;
    auto res = resolver::create(ex, s);
    if (!res) {
      ADD_FAILURE() << res.error();
      co_return;
    }
    EXPECT_EQ((co_await (*res)->query_a("long.test")).ttl, 10u);
    EXPECT_EQ((co_await (*res)->query_a("gone.test")).ttl, 5u);
  });
}

TEST(Resolver, SharesInflightQueries) {
  scripted_server server;
  server.set("slow.test", dns::rr_type::a, answer_a({{127, 0, 0, 2}}, 300, 150ms));
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto res = resolver::create(ex, settings_for(server));
    if (!res) {
      ADD_FAILURE() << res.error();
      co_return;
    }
    int finished = 0;
    for (int i = 0; i < 5; ++i) {
      asio::co_spawn(
          ex,
          [&]() -> asio::awaitable<void> {
            EXPECT_EQ(a_text(co_await (*res)->query_a("slow.test")), "ok 127.0.0.2");
            ++finished;
          },
          asio::detached);
    }
    for (int i = 0; i < 100 && finished < 5; ++i) co_await sleep_for(10ms);
    EXPECT_EQ(finished, 5);
    EXPECT_EQ(server.count("slow.test", dns::rr_type::a), 1);
    EXPECT_EQ((*res)->stats().shared, 4u);
  });
}

TEST(Resolver, ManyThreads) {
  scripted_server server;
  constexpr int names = 40;
  for (int i = 0; i < names; ++i) {
    server.set(fmt::format("n{}.test", i), dns::rr_type::a,
               answer_a({{127, 0, 0, static_cast<std::uint8_t>(i)}}));
  }
  std::atomic<int> right{0};
  std::atomic<int> finished{0};
  run(
      [&](asio::any_io_executor ex) -> asio::awaitable<void> {
        auto res = resolver::create(ex, settings_for(server));
        if (!res) {
          ADD_FAILURE() << res.error();
          co_return;
        }
        for (int round = 0; round < 3; ++round) {
          for (int i = 0; i < names; ++i) {
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                  const dns_answer got = co_await (*res)->query_a(fmt::format("n{}.test", i));
                  if (a_text(got) == fmt::format("ok 127.0.0.{}", i)) ++right;
                  ++finished;
                },
                asio::detached);
          }
        }
        for (int i = 0; i < 300 && finished < 3 * names; ++i) co_await sleep_for(10ms);
      },
      2);
  EXPECT_EQ(finished.load(), 3 * names);
  EXPECT_EQ(right.load(), 3 * names);
}

TEST(Resolver, RefusesBadServers) {
  const std::vector<std::string> bad = {"localhost", "127.0.0.1:", "127.0.0.1:0",
                                        "1.2.3",     "[::1]",      "127.0.0.1:99999"};
  asio::io_context ctx;
  for (const auto& s : bad) {
    resolver_settings settings;
    settings.servers = {s};
    auto got = resolver::create(ctx.get_executor(), settings);
    EXPECT_FALSE(got.has_value()) << "server: " << s;
  }
  resolver_settings ok;
  ok.servers = {"127.0.0.1:5353", "::1", "[::1]:53", "127.0.0.2"};
  auto got = resolver::create(ctx.get_executor(), ok);
  EXPECT_TRUE(got.has_value()) << (got ? "" : got.error());
}

}  // namespace
}  // namespace mx::net
