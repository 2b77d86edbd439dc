#include "dnsbl/values.hpp"

namespace mx::dnsbl {

namespace {

// Final-form encoding: every '$' starts a two-octet code, "$$" a literal dollar and "$s" the
// subject, so the query-time scan never has to guess.
constexpr char subject_code = 's';

void append_literal(std::string& out, std::string_view text) {
  for (const char c : text) {
    out.push_back(c);
    if (c == '$') out.push_back('$');
  }
}

}  // namespace

std::string finalize_template(std::string_view raw, const substitutions& subst) {
  const auto& base = subst.vars[substitutions::base];
  std::string_view body = raw;
  std::optional<std::string_view> entry_text = raw;  // what "$=" inserts; nullopt: the subject
  if (!raw.empty() && raw.front() == '=') {
    raw.remove_prefix(1);
    body = raw;
    entry_text = raw;
  } else if (base && !base->empty()) {
    body = *base;
    entry_text = raw.empty() ? std::nullopt : std::optional<std::string_view>(raw);
  }
  std::string out;
  out.reserve(body.size() + 8);
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '$') {
      out.push_back(c);
      continue;
    }
    const char next = i + 1 < body.size() ? body[i + 1] : '\0';
    if (next == '$') {
      out += "$$";
      ++i;
    } else if (next >= '0' && next <= '9') {
      const auto& var = subst.vars[static_cast<std::size_t>(next - '0')];
      if (var) {
        append_literal(out, *var);
      } else {
        out += "$$";  // an undefined variable stays as written
        out.push_back(next);
      }
      ++i;
    } else if (next == '=') {
      if (entry_text) {
        append_literal(out, *entry_text);
      } else {
        out.push_back('$');
        out.push_back(subject_code);
      }
      ++i;
    } else {
      out.push_back('$');  // a lone '$': the subject; the next octet is ordinary text
      out.push_back(subject_code);
    }
  }
  return out;
}

std::size_t expand_template(std::string_view final_template, std::string_view subject,
                            std::span<char, max_txt_octets> out) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < final_template.size() && n < out.size(); ++i) {
    const char c = final_template[i];
    if (c != '$') {
      out[n++] = c;
      continue;
    }
    ++i;
    if (i < final_template.size() && final_template[i] == '$') {
      out[n++] = '$';
      continue;
    }
    for (std::size_t k = 0; k < subject.size() && n < out.size(); ++k) out[n++] = subject[k];
  }
  return n;
}

std::uint32_t value_pool::intern(std::uint32_t a, std::string_view raw_txt) {
  // Most lines of a big list take the same (default) value: skip the hash for a repeat.
  if (has_last_ && a == raw_[last_].a && raw_txt == raw_[last_].txt) return last_;
  std::string key(4, '\0');
  for (int i = 0; i < 4; ++i)
    key[static_cast<std::size_t>(i)] = static_cast<char>(a >> (24 - 8 * i));
  key.append(raw_txt);
  const auto [it, inserted] =
      index_.try_emplace(std::move(key), static_cast<std::uint32_t>(raw_.size()));
  if (inserted) raw_.push_back({a, std::string(raw_txt)});
  last_ = it->second;
  has_last_ = true;
  return it->second;
}

void value_pool::finalize(const substitutions& subst) {
  values_.clear();
  pool_.clear();
  std::unordered_map<std::string, std::uint32_t> seen;  // identical final templates share storage
  for (const auto& r : raw_) {
    const std::string fin = finalize_template(r.txt, subst);
    value v;
    v.a = r.a;
    v.txt_length = static_cast<std::uint32_t>(fin.size());
    if (!fin.empty()) {
      const auto [it, inserted] = seen.try_emplace(fin, static_cast<std::uint32_t>(pool_.size()));
      if (inserted) pool_ += fin;
      v.txt_offset = it->second;
    }
    values_.push_back(v);
  }
  // The raw forms are only needed to build the final ones.
  raw_.clear();
  has_last_ = false;
  raw_.shrink_to_fit();
  index_.clear();
  pool_.shrink_to_fit();
  values_.shrink_to_fit();
}

std::size_t value_pool::memory_bytes() const {
  return values_.capacity() * sizeof(value) + pool_.capacity();
}

}  // namespace mx::dnsbl
