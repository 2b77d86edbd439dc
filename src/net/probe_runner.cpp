#include "net/probe_runner.hpp"

#include <fmt/format.h>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <set>

#include "probe/output.hpp"

namespace mx::net {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;
constexpr auto as_tuple = asio::experimental::as_tuple(use_awaitable);

inet::ip_address to_inet(const asio::ip::address& a) {
  inet::ip_address out;
  if (a.is_v4()) {
    out.fam = inet::ip_address::family::v4;
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
  } else {
    out.fam = inet::ip_address::family::v6;
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
  }
  return out;
}

tcp::endpoint to_asio(const inet::ip_address& ip, std::uint16_t port) {
  const inet::ip_address u = ip.unmapped();
  if (u.is_v4()) {
    asio::ip::address_v4::bytes_type b{};
    std::copy_n(u.bytes.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), port};
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy_n(u.bytes.begin(), 16, b.begin());
  return {asio::ip::address_v6(b), port};
}

std::string seconds_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{} s", d.count() / 1000)
                               : fmt::format("{} ms", d.count());
}

// Splits a byte stream into trace lines, keeping a partial line until its end arrives.
class trace_lines {
 public:
  template <class F>
  void feed(std::string_view bytes, F&& emit) {
    partial_.append(bytes);
    std::size_t pos = 0;
    for (;;) {
      const std::size_t nl = partial_.find('\n', pos);
      if (nl == std::string::npos) break;
      std::string_view line(partial_.data() + pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      emit(line);
      pos = nl + 1;
    }
    partial_.erase(0, pos);
    if (partial_.size() > 4096) {  // a line that never ends: show what we have
      emit(partial_);
      partial_.clear();
    }
  }
  template <class F>
  void flush(F&& emit) {
    if (!partial_.empty()) emit(partial_);
    partial_.clear();
  }

 private:
  std::string partial_;
};

class target_run {
 public:
  target_run(asio::any_io_executor ex, probe::target_config cfg, const probe_run_options& opts)
      : socket_(ex), timer_(ex), opts_(opts), probe_(std::move(cfg)) {}

  awaitable<probe::target_report> run() {
    endpoint_ = probe_.endpoint();
    probe::probe_action a = probe_.start();
    for (;;) {
      if (!a.send.empty()) {
        if (!co_await write(a.send) && !a.close) {
          a = probe_.closed_by_peer();  // the write failed: the server is gone
          continue;
        }
      }
      if (a.close) close();
      switch (a.next) {
        case probe::probe_action::type::connect:
          a = co_await connect();
          break;
        case probe::probe_action::type::read:
        case probe::probe_action::type::settle:
          a = co_await read(a.next == probe::probe_action::type::settle);
          break;
        case probe::probe_action::type::done:
          close();
          co_return probe_.report();
      }
    }
  }

 private:
  awaitable<probe::probe_action> connect() {
    close();
    const tcp::endpoint ep = to_asio(*target_address(), port());
    std::error_code ec;
    socket_.open(ep.protocol(), ec);
    if (ec) co_return probe_.connect_failed(ec.message());
    timer_.expires_after(opts_.timeout);
    auto result = co_await (socket_.async_connect(ep, as_tuple) || timer_.async_wait(as_tuple));
    if (result.index() == 1) {
      close();
      co_return probe_.connect_failed(
          fmt::format("timed out after {}", seconds_text(opts_.timeout)));
    }
    if (auto [cec] = std::get<0>(result); cec) {
      close();
      co_return probe_.connect_failed(cec.message());
    }
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
    connected_at_ = clock_type::now();
    first_bytes_ = true;
    last_write_ = {};
    if (opts_.trace) opts_.trace(endpoint_, '-', "connected");
    co_return probe_.connected();
  }

  awaitable<bool> write(const std::string& bytes) {
    if (!socket_.is_open()) co_return false;
    if (opts_.delay.count() > 0 && last_write_ != clock_type::time_point{}) {
      const auto next = last_write_ + opts_.delay;
      if (next > clock_type::now()) {
        timer_.expires_at(next);
        co_await timer_.async_wait(as_tuple);
      }
    }
    if (opts_.trace) {
      out_lines_.feed(bytes, [&](std::string_view l) {
        opts_.trace(endpoint_, '>', probe::printable(l, 1000));
      });
    }
    timer_.expires_after(opts_.timeout);
    auto result = co_await (asio::async_write(socket_, asio::buffer(bytes), as_tuple) ||
                            timer_.async_wait(as_tuple));
    last_write_ = clock_type::now();
    if (result.index() == 1) co_return false;
    auto [ec, n] = std::get<0>(result);
    co_return !ec;
  }

  awaitable<probe::probe_action> read(bool settle) {
    thread_local std::array<char, 65536> buffer;
    auto wait = opts_.timeout;
    if (settle) {
      wait = std::max<std::chrono::milliseconds>(opts_.settle, 2 * greet_delay_);
      wait = std::min(wait, opts_.timeout);
    }
    const auto deadline = clock_type::now() + wait;
    for (;;) {
      if (!socket_.is_open()) co_return probe_.closed_by_peer();
      timer_.expires_at(deadline);
      auto result = co_await (socket_.async_wait(tcp::socket::wait_read, as_tuple) ||
                              timer_.async_wait(as_tuple));
      if (result.index() == 1) {
        if (opts_.trace) {
          opts_.trace(endpoint_, '-',
                      settle ? "quiet: settled" : "timeout: no reply in " + seconds_text(wait));
        }
        co_return settle ? probe_.settled() : probe_.timed_out();
      }
      if (auto [ec] = std::get<0>(result); ec) co_return probe_.closed_by_peer();
      std::error_code rec;
      const std::size_t n = socket_.read_some(asio::buffer(buffer), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) continue;
      if (rec || n == 0) {
        if (opts_.trace) {
          in_lines_.flush(
              [&](std::string_view l) { opts_.trace(endpoint_, '<', probe::printable(l, 1000)); });
          opts_.trace(endpoint_, '-', rec ? "closed: " + rec.message() : "closed by the server");
        }
        co_return probe_.closed_by_peer();
      }
      const std::string_view bytes(buffer.data(), n);
      if (first_bytes_) {
        first_bytes_ = false;
        if (greet_delay_.count() == 0) {
          greet_delay_ = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() -
                                                                               connected_at_);
        }
      }
      if (opts_.trace) {
        in_lines_.feed(bytes, [&](std::string_view l) {
          opts_.trace(endpoint_, '<', probe::printable(l, 1000));
        });
      }
      co_return probe_.received(bytes);
    }
  }

  void close() {
    std::error_code ec;
    if (socket_.is_open()) {
      socket_.shutdown(tcp::socket::shutdown_both, ec);
      socket_.close(ec);
    }
  }

  const std::optional<inet::ip_address>& target_address() const { return address_; }
  std::uint16_t port() const { return port_; }

 public:
  void set_address(inet::ip_address ip, std::uint16_t port) {
    address_ = ip;
    port_ = port;
  }

 private:
  tcp::socket socket_;
  asio::steady_timer timer_;
  const probe_run_options& opts_;
  probe::target_probe probe_;
  std::optional<inet::ip_address> address_;
  std::uint16_t port_ = 25;
  std::string endpoint_;
  clock_type::time_point connected_at_{};
  clock_type::time_point last_write_{};
  std::chrono::milliseconds greet_delay_{0};
  bool first_bytes_ = true;
  trace_lines in_lines_;
  trace_lines out_lines_;
};

// One address to probe, or a report already decided (a name that did not resolve).
struct work_item {
  probe::target_config cfg;
  std::optional<probe::target_report> decided;
};

awaitable<void> resolve_job(probe_job job, std::vector<work_item>& out) {
  auto ex = co_await asio::this_coro::executor;
  if (job.cfg.identity.address) {
    out.push_back({std::move(job.cfg), std::nullopt});
    co_return;
  }
  if (job.mx) {
    out.push_back({job.cfg, probe::unreachable_report(
                                job.cfg.target, "",
                                "mx: targets need MX resolution (c-ares), not built in")});
    co_return;
  }
  tcp::resolver resolver(ex);
  auto [ec, results] = co_await resolver.async_resolve(
      job.host, std::to_string(job.cfg.identity.port), tcp::resolver::address_configured, as_tuple);
  if (ec) {
    out.push_back({job.cfg, probe::unreachable_report(
                                job.cfg.target, "",
                                fmt::format("resolving {}: {}", job.host, ec.message()))});
    co_return;
  }
  std::set<inet::ip_address> seen;
  for (const auto& entry : results) {
    const inet::ip_address ip = to_inet(entry.endpoint().address()).unmapped();
    if (!seen.insert(ip).second) continue;
    probe::target_config cfg = job.cfg;
    cfg.identity.address = ip;
    out.push_back({std::move(cfg), std::nullopt});
  }
  if (seen.empty()) {
    out.push_back({job.cfg, probe::unreachable_report(job.cfg.target, "",
                                                      "resolving " + job.host + ": no address")});
  }
}

}  // namespace

std::vector<probe::target_report> run_probes(std::vector<probe_job> jobs,
                                             const probe_run_options& opts) {
  asio::io_context ioc(1);

  // 1. Names to addresses, every job at once; the order of the jobs is kept.
  std::vector<std::vector<work_item>> resolved(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    asio::co_spawn(ioc, resolve_job(std::move(jobs[i]), resolved[i]), asio::detached);
  }
  ioc.run();
  ioc.restart();
  std::vector<work_item> items;
  for (auto& r : resolved) {
    for (auto& w : r) items.push_back(std::move(w));
  }

  // 2. Probe, `concurrency` targets at once.
  std::vector<probe::target_report> reports(items.size());
  std::size_t next = 0;
  auto worker = [&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    while (next < items.size()) {
      const std::size_t i = next++;
      if (items[i].decided) {
        reports[i] = std::move(*items[i].decided);
        continue;
      }
      const inet::ip_address ip = *items[i].cfg.identity.address;
      const std::uint16_t port = items[i].cfg.identity.port;
      auto run = std::make_unique<target_run>(ex, std::move(items[i].cfg), opts);
      run->set_address(ip, port);
      reports[i] = co_await run->run();
    }
  };
  const std::size_t workers = std::max<std::size_t>(1, std::min(opts.concurrency, items.size()));
  for (std::size_t w = 0; w < workers; ++w) asio::co_spawn(ioc, worker(), asio::detached);
  ioc.run();
  return reports;
}

}  // namespace mx::net
