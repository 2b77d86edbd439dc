#include "dnsbl/builder.hpp"

#include "dnsbl/dataset.hpp"
#include "dnsbl/sets.hpp"

namespace mx::dnsbl {

void line_context::warn(std::string message) {
  ++count_;
  if (warnings_.size() < opts_.max_warnings) {
    warnings_.push_back({std::string(source), line, std::move(message)});
  }
}

void leaf_builder::start_file() {
  default_a_ = default_a_value;
  default_txt_.clear();
  default_index_ = no_index;
}

void leaf_builder::default_line(std::string_view s, line_context& ctx) {
  text::value_error err{};
  const auto v = text::parse_value(s, err);
  if (!v) {
    ctx.warn(err == text::value_error::bad_a ? "invalid A RR" : "unrecognized value for an entry");
    return;
  }
  if (v->truncated) ctx.warn("TXT RR truncated to 255 bytes");
  // A default line's own defaults are the global ones: 127.0.0.2 and no TXT.
  default_a_ = v->has_a ? v->a : default_a_value;
  default_txt_ = v->txt_from_default ? std::string() : std::string(v->txt);
  default_index_ = no_index;
  if (!default_seen_) {
    default_seen_ = true;
    first_default_a_ = default_a_;
    first_default_txt_ = default_txt_;
  }
}

std::uint32_t leaf_builder::default_entry_value() {
  if (speculative_) {
    if (!used_default_) {
      used_default_ = true;
      first_use_.push_back(fork_default);
    }
    return fork_default;  // a placeholder: absorb() puts the default value in scope there
  }
  return default_value_index();
}

std::optional<std::uint32_t> leaf_builder::entry_value(std::string_view rest, line_context& ctx) {
  if (rest.empty() || text::is_comment(rest.front())) return default_entry_value();
  text::value_error err{};
  const auto v = text::parse_value(rest, err);
  if (!v) {
    ctx.warn(err == text::value_error::bad_a ? "invalid A RR" : "unrecognized value for an entry");
    return std::nullopt;
  }
  if (speculative_ && (!v->has_a || v->txt_from_default)) {
    aborted_ = true;  // the value borrows from the default in scope, unknown to a fork
    return std::nullopt;
  }
  if (v->truncated) ctx.warn("TXT RR truncated to 255 bytes");
  const std::uint32_t a = v->has_a ? v->a : default_a_;
  if (speculative_) {
    const std::size_t before = values_.size();
    const std::uint32_t i = values_.intern(a, v->txt);
    if (values_.size() > before) first_use_.push_back(i);
    return i;
  }
  if (v->txt_from_default) return values_.intern(a, default_txt_);
  return values_.intern(a, v->txt);
}

leaf_builder::value_map leaf_builder::take_values(const leaf_builder& part) {
  value_map m;
  m.own.resize(part.values_.size(), no_index);
  for (const std::uint32_t i : part.first_use_) {
    if (i == fork_default) {
      m.def = default_value_index();
    } else {
      m.own[i] = values_.intern(part.values_.raw_a(i), part.values_.raw_txt(i));
    }
  }
  return m;
}

std::uint32_t leaf_builder::default_value_index() {
  if (default_index_ == no_index) default_index_ = values_.intern(default_a_, default_txt_);
  return default_index_;
}

std::uint32_t leaf_builder::first_default() {
  return values_.intern(first_default_a_, first_default_txt_);
}

std::unique_ptr<leaf_builder> make_builder(dataset_type type) {
  switch (type) {
    case dataset_type::ip4set:
    case dataset_type::ip4trie:
      return make_ip4_builder(type);
    case dataset_type::ip4tset:
      return make_ip4tset_builder();
    case dataset_type::ip6trie:
      return make_ip6trie_builder();
    case dataset_type::ip6tset:
      return make_ip6tset_builder();
    case dataset_type::dnset:
      return make_dnset_builder();
    case dataset_type::combined:
      break;
  }
  return nullptr;
}

}  // namespace mx::dnsbl
