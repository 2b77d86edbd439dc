#include "policy/dnsbl_check.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace mx::policy::dnsbl {

std::string_view name_of(subject_kind k) {
  switch (k) {
    case subject_kind::client:
      return "client";
    case subject_kind::helo:
      return "helo";
    case subject_kind::sender:
      return "sender";
  }
  return "?";
}

check_state::check_state(std::shared_ptr<const check_config> cfg) : cfg_(std::move(cfg)) {}

const std::vector<site>& check_state::sites(subject_kind k) const {
  switch (k) {
    case subject_kind::client:
      return cfg_->client;
    case subject_kind::helo:
      return cfg_->helo;
    case subject_kind::sender:
      break;
  }
  return cfg_->sender;
}

std::vector<query> check_state::start(subject_kind kind, std::string subject,
                                      std::vector<std::string> names, time_point deadline) {
  group& g = group_of(kind);
  ++g.generation;  // late answers for the previous subject are now stale
  g.subject = std::move(subject);
  g.slots.clear();
  std::vector<query> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    // A name that cannot be built (too long for this zone) is not asked: not listed.
    std::optional<list_result> done;
    if (names[i].empty()) done = classify_answer(sites(kind)[i], {});
    g.slots.push_back(slot{names[i], std::move(done), deadline});
    if (!names[i].empty()) out.push_back(query{kind, i, g.generation, names[i]});
  }
  return out;
}

std::vector<query> check_state::begin_client(const inet::ip_address& ip, time_point deadline) {
  const std::string subject = ip.unmapped().to_string();
  if (client_ip_ && group_of(subject_kind::client).subject == subject) return {};
  client_ip_ = ip;
  std::vector<std::string> names;
  for (const site& s : cfg_->client) names.push_back(ip_query_name(ip, s.domain).value_or(""));
  return start(subject_kind::client, subject, std::move(names), deadline);
}

std::vector<query> check_state::begin_domain(subject_kind kind, std::string_view domain,
                                             time_point deadline) {
  if (kind == subject_kind::client) return {};
  const auto canonical = canonical_zone(domain);
  if (!canonical) {
    clear(kind);
    return {};
  }
  if (group_of(kind).subject == *canonical) return {};
  std::vector<std::string> names;
  for (const site& s : sites(kind))
    names.push_back(domain_query_name(*canonical, s.domain).value_or(""));
  return start(kind, *canonical, std::move(names), deadline);
}

void check_state::clear(subject_kind kind) {
  group& g = group_of(kind);
  ++g.generation;
  g.subject.clear();
  g.slots.clear();
  if (kind == subject_kind::client) client_ip_.reset();
}

bool check_state::answer(const query& q, list_result r) {
  group& g = group_of(q.kind);
  if (q.generation != g.generation || q.index >= g.slots.size()) return false;
  slot& s = g.slots[q.index];
  if (s.result) return false;
  s.result = std::move(r);
  return true;
}

bool check_state::complete() const {
  for (const group& g : groups_) {
    for (const slot& s : g.slots) {
      if (!s.result) return false;
    }
  }
  return true;
}

std::optional<time_point> check_state::next_deadline() const {
  std::optional<time_point> out;
  for (const group& g : groups_) {
    for (const slot& s : g.slots) {
      if (!s.result && (!out || s.deadline < *out)) out = s.deadline;
    }
  }
  return out;
}

std::vector<list_result> check_state::expire(time_point now) {
  std::vector<list_result> out;
  for (std::size_t k = 0; k < 3; ++k) {
    const auto kind = static_cast<subject_kind>(k);
    group& g = groups_[k];
    for (std::size_t i = 0; i < g.slots.size(); ++i) {
      slot& s = g.slots[i];
      if (s.result || s.deadline > now) continue;
      s.result = failed_lookup(sites(kind)[i]);
      out.push_back(*s.result);
    }
  }
  return out;
}

outcome check_state::evaluate() const {
  std::vector<list_result> results;
  // Parallel to `results`: which group and slot each came from, to find the blamed one.
  std::vector<std::pair<subject_kind, std::size_t>> origin;
  for (std::size_t k = 0; k < 3; ++k) {
    const group& g = groups_[k];
    for (std::size_t i = 0; i < g.slots.size(); ++i) {
      if (!g.slots[i].result) continue;
      results.push_back(*g.slots[i].result);
      origin.emplace_back(static_cast<subject_kind>(k), i);
    }
  }
  outcome o;
  o.v = score(results);
  for (std::size_t j = 0; j < results.size(); ++j) {
    if (results[j].status == list_status::listed) o.listed_kind.push_back(origin[j].first);
    if (results[j].status == list_status::list_error || results[j].status == list_status::failed) {
      o.error_kind.push_back(origin[j].first);
    }
  }
  o.blocked = o.v.reached(cfg_->threshold);
  if (o.v.blame) {
    // v.listed keeps the listed results in input order: the blame-th listed one.
    std::size_t seen = 0;
    for (std::size_t j = 0; j < results.size(); ++j) {
      if (results[j].status != list_status::listed) continue;
      if (seen++ != *o.v.blame) continue;
      const auto [kind, slot_index] = origin[j];
      const group& g = group_of(kind);
      o.blamed = blame{kind, g.subject, g.slots[slot_index].name, results[j]};
      break;
    }
  }
  return o;
}

smtp::reply refusal(const check_state& state, const blame& b, std::string_view txt, bool defer) {
  if (b.kind == subject_kind::client && state.client()) {
    return blocked_reply(*state.client(), b.result.list, txt, defer);
  }
  // The same wording as the client reply, naming what was listed (the subject is a canonical
  // domain: letters, digits, '-', '_' and dots only).
  std::string text = fmt::format("Service unavailable; {} [{}] blocked using {}",
                                 b.kind == subject_kind::helo ? "helo name" : "sender domain",
                                 b.subject, sanitize_txt(b.result.list, 255));
  const std::string clean = sanitize_txt(txt);
  if (!clean.empty()) text += "; " + clean;
  return defer ? smtp::reply::make(450, "4.7.1", text) : smtp::reply::make(554, "5.7.1", text);
}

namespace {

std::string codes_text(const list_result& r) {
  std::string out;
  for (const auto& c : r.codes) out += (out.empty() ? "" : ",") + to_string(c);
  return out;
}

}  // namespace

std::string describe(const check_state& state, const outcome& o) {
  std::string out = fmt::format("score {} (threshold {})", o.v.score, state.config().threshold);
  for (std::size_t i = 0; i < o.v.listed.size(); ++i) {
    const auto& r = o.v.listed[i];
    const subject_kind k = i < o.listed_kind.size() ? o.listed_kind[i] : subject_kind::client;
    out += fmt::format("{} {}*{}={} ({} {})", i == 0 ? ":" : ",", r.list, r.weight, codes_text(r),
                       name_of(k), state.subject(k));
  }
  for (std::size_t i = 0; i < o.v.errors.size(); ++i) {
    const auto& r = o.v.errors[i];
    const subject_kind k = i < o.error_kind.size() ? o.error_kind[i] : subject_kind::client;
    out += fmt::format("{} {} {}", i == 0 ? "; not counted:" : ",", r.list, name_of(r.status));
    if (!r.codes.empty()) out += " " + codes_text(r);
    out += fmt::format(" ({} {})", name_of(k), state.subject(k));
  }
  return out;
}

std::optional<std::vector<a_record>> answer_memo::find(const std::string& name,
                                                       time_point now) const {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.expires <= now) return std::nullopt;
  return it->second.records;
}

void answer_memo::store(const std::string& name, std::vector<a_record> records, time_point expires,
                        time_point now) {
  if (max_entries_ == 0 || expires <= now) return;
  if (entries_.size() >= max_entries_ && entries_.find(name) == entries_.end()) {
    std::erase_if(entries_, [&](const auto& kv) { return kv.second.expires <= now; });
    if (entries_.size() >= max_entries_) entries_.clear();
  }
  entries_[name] = entry{std::move(records), expires};
}

std::optional<std::uint64_t> log_limiter::allow(std::string_view key, time_point now) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) {
      std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.last >= interval_; });
      if (entries_.size() >= max_keys_) entries_.clear();
    }
    entries_.emplace(std::string(key), entry{now, 0});
    return 0;
  }
  entry& e = it->second;
  if (now - e.last < interval_) {
    ++e.held;
    return std::nullopt;
  }
  const std::uint64_t held = e.held;
  e = entry{now, 0};
  return held;
}

}  // namespace mx::policy::dnsbl
