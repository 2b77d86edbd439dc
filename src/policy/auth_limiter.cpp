#include "policy/auth_limiter.hpp"

#include <algorithm>

namespace mx::policy {

namespace {

constexpr std::size_t max_user_key = 256;

// Time since `last`; never negative (threads may hand in their `now`s slightly out of order).
std::chrono::steady_clock::duration since(auth_limiter::time_point last,
                                          auth_limiter::time_point now) {
  return now > last ? now - last : std::chrono::steady_clock::duration::zero();
}

}  // namespace

// ---- table ----

std::size_t auth_limiter::table::current(const std::string& key, time_point now,
                                         std::chrono::seconds window) const {
  const auto it = index_.find(key);
  if (it == index_.end() || since(it->second->last, now) >= window) return 0;
  return it->second->count;
}

void auth_limiter::table::expire(time_point now, std::chrono::seconds window) {
  while (!order_.empty() && since(order_.back().last, now) >= window) {
    index_.erase(order_.back().key);
    order_.pop_back();
  }
}

std::size_t auth_limiter::table::add_failure(const std::string& key, time_point now,
                                             std::chrono::seconds window) {
  if (capacity_ == 0) return 1;
  expire(now, window);
  if (const auto it = index_.find(key); it != index_.end()) {
    counter& c = *it->second;
    if (since(c.last, now) >= window) c.count = 0;
    ++c.count;
    c.last = std::max(c.last, now);
    order_.splice(order_.begin(), order_, it->second);
    return c.count;
  }
  if (order_.size() >= capacity_) {
    index_.erase(order_.back().key);
    order_.pop_back();
  }
  order_.push_front(counter{key, 1, now});
  index_.emplace(order_.front().key, order_.begin());
  return 1;
}

void auth_limiter::table::erase(const std::string& key) {
  const auto it = index_.find(key);
  if (it == index_.end()) return;
  const auto node = it->second;
  index_.erase(it);
  order_.erase(node);
}

// ---- auth_limiter ----

auth_limiter::auth_limiter(auth_limiter_settings settings)
    : settings_(settings), ips_(settings.max_tracked), users_(settings.max_tracked) {}

std::string auth_limiter::ip_key(const inet::ip_address& ip) {
  const inet::ip_address a = ip.unmapped();
  std::string key(1, a.is_v4() ? '4' : '6');
  // IPv6: the /64 only.
  const std::size_t octets = a.is_v4() ? 4 : 8;
  key.append(reinterpret_cast<const char*>(a.bytes.data()), octets);
  return key;
}

std::string auth_limiter::user_key(std::string_view user) {
  return std::string(user.substr(0, max_user_key));
}

std::chrono::milliseconds auth_limiter::delay_for(std::size_t failures) const {
  if (failures <= 1) return std::chrono::milliseconds(0);
  auto delay = settings_.first_delay;
  for (std::size_t i = 2; i < failures && delay < settings_.max_delay; ++i) delay *= 2;
  return std::min(delay, settings_.max_delay);
}

bool auth_limiter::blocked(const inet::ip_address& ip, time_point now) const {
  const std::lock_guard lock(mutex_);
  return ips_.current(ip_key(ip), now, settings_.window) >=
         std::max<std::size_t>(settings_.max_failures, 1);
}

auth_failure_verdict auth_limiter::on_failure(const inet::ip_address& ip, std::string_view user,
                                              time_point now) {
  const std::lock_guard lock(mutex_);
  auth_failure_verdict v;
  v.ip_failures = ips_.add_failure(ip_key(ip), now, settings_.window);
  v.user_failures = users_.add_failure(user_key(user), now, settings_.window);
  const std::size_t worst = std::max(v.ip_failures, v.user_failures);
  v.delay = delay_for(worst);
  v.disconnect = worst >= settings_.max_failures;
  return v;
}

void auth_limiter::on_success(const inet::ip_address& /*ip*/, std::string_view user,
                              time_point /*now*/) {
  const std::lock_guard lock(mutex_);
  users_.erase(user_key(user));
}

std::size_t auth_limiter::tracked_ips() const {
  const std::lock_guard lock(mutex_);
  return ips_.size();
}

std::size_t auth_limiter::tracked_users() const {
  const std::lock_guard lock(mutex_);
  return users_.size();
}

smtp::reply auth_limiter::too_many_failures() {
  return smtp::reply::make(421, "4.7.0", "Too many failed authentication attempts, closing");
}

}  // namespace mx::policy
