// dnsbl/values: the (A, TXT template) values of a dataset, and TXT template expansion.
//
// rbldnsd semantics (rbldnsd(8) "Resulting A values and TXT templates", txtsubst()):
//   "$"   the listed subject: the queried IP address, or the matching dnset entry's name
//   "$$"  a literal '$'
//   "$N"  substitution variable N (0..9) of the dataset, inserted as is; "$N" when undefined
//   "$="  (base template) the entry's own text, or the subject when the entry has none
//   A base template ("$= text") applies to every entry whose text does not start with '='.
// Variables are fixed once a dataset is loaded (the first definition wins), so each template is
// expanded once at load time into a "final" form in which the only directive left is the subject:
// "$" stands for the subject and "$$" for a literal dollar. The query path then substitutes the
// subject into a stack buffer, truncating at 255 octets (one DNS character-string).
//
// SECURITY: expansion is bounded by the 255-octet output; templates are operator data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mx::dnsbl {

inline constexpr std::uint32_t default_a_value = 0x7F000002u;  // 127.0.0.2
inline constexpr std::size_t max_txt_octets = 255;

// Substitution variables: [0..9] for $0..$9, [10] for the base template $=.
struct substitutions {
  std::array<std::optional<std::string>, 11> vars;
  static constexpr std::size_t base = 10;
};

struct value {
  std::uint32_t a = default_a_value;
  std::uint32_t txt_offset = 0;  // final template in the pool
  std::uint32_t txt_length = 0;  // 0: no TXT record
};

class value_pool {
 public:
  // Interns a raw (A, TXT template) pair; identical pairs share one index.
  std::uint32_t intern(std::uint32_t a, std::string_view raw_txt);
  std::size_t size() const { return raw_.empty() ? values_.size() : raw_.size(); }

  // What was interned at i, before finalize().
  std::uint32_t raw_a(std::uint32_t i) const { return raw_[i].a; }
  std::string_view raw_txt(std::uint32_t i) const { return raw_[i].txt; }

  // Expands every raw template with the dataset's variables (once, at the end of loading).
  void finalize(const substitutions& subst);

  const value& at(std::uint32_t i) const { return values_[i]; }
  std::string_view final_template(const value& v) const {
    return std::string_view(pool_).substr(v.txt_offset, v.txt_length);
  }
  std::size_t memory_bytes() const;

 private:
  struct raw {
    std::uint32_t a;
    std::string txt;
  };
  std::vector<raw> raw_;
  std::unordered_map<std::string, std::uint32_t> index_;  // key: 4 octets of A + raw text
  std::uint32_t last_ = 0;  // the value interned last (raw_ index), when has_last_
  bool has_last_ = false;
  std::vector<value> values_;
  std::string pool_;
};

// rbldnsd's txtsubst() up to the subject: the final form of one raw template.
std::string finalize_template(std::string_view raw, const substitutions& subst);

// Substitutes the subject into a final template; returns the length written to out (<= 255).
std::size_t expand_template(std::string_view final_template, std::string_view subject,
                            std::span<char, max_txt_octets> out);

}  // namespace mx::dnsbl
