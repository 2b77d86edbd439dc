// dnsbl/builder: the per-type line parsers behind load_dataset (dataset.hpp). Internal to the
// module; one builder collects one set (a whole dataset, or one $DATASET section of a combined
// one) and turns it into an immutable leaf.
//
// Line grammar per type, as rbldnsd(8) documents it and its sources implement it:
//   ip4set   [!]range [value]     range: "127.0.0.2", "127.0.0", "127/8", "10.0.0.0/8",
//                                 "127.0.0.1-255", "10.0.0.0-10.0.3.255"
//   ip4trie  [!]cidr [value]      longest prefix wins; a repeated prefix is a warning
//   ip4tset  address              one value for all: the first default line
//   ip6trie  [!]cidr6 [value]
//   ip6tset  /64 as 4 groups, or !/128 exclusion; one value for all
//   dnset    [!]name | [!].name | [!]*.name [value]
//   ":A:TXT" lines set the default value (to the end of the file; tsets: the first one only).
//
// SECURITY: builders see operator data; a bad line is a warning and is skipped, never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dnsbl/leaf.hpp"
#include "dnsbl/values.hpp"

namespace mx::dnsbl {

struct load_warning;
struct load_options;

// Where a line came from, and where its warnings go.
class line_context {
 public:
  line_context(const load_options& opts, std::vector<load_warning>& warnings, std::size_t& count)
      : opts_(opts), warnings_(warnings), count_(count) {}
  void warn(std::string message);
  const load_options& options() const { return opts_; }

  std::string_view source;
  std::size_t line = 0;
  std::uint32_t maxrange4 = 0;  // 0: no limit ($MAXRANGE4)

 private:
  const load_options& opts_;
  std::vector<load_warning>& warnings_;
  std::size_t& count_;
};

class leaf_builder {
 public:
  explicit leaf_builder(dataset_type type) : type_(type) {}
  virtual ~leaf_builder() = default;

  // A new file of the dataset begins: the default value goes back to 127.0.0.2, no TXT (except
  // for the tsets, whose one default is fixed by the first default line anywhere).
  virtual void start_file();
  virtual void line(std::string_view s, line_context& ctx) = 0;
  virtual std::shared_ptr<const leaf> finish(line_context& ctx) = 0;
  // Plain address lines at the start of text (text::plain_ip4_lines), taken as line() takes
  // them but many at a time: returns the octets of the lines read and counts the lines in
  // ctx.line. 0: none there, or a type that reads every line through line().
  virtual std::size_t plain_lines(std::string_view text, line_context& ctx) {
    (void)text;
    (void)ctx;
    return 0;
  }

  dataset_type type() const { return type_; }
  static constexpr std::uint32_t no_index = 0xFFFFFFFFu;
  std::uint32_t ttl = 0;
  substitutions subst;

  // Parallel loading (files.cpp splits a large file at line boundaries and parses the parts on
  // other threads). A fork parses one part without the state the lines before it set: entries
  // taking the default value get a placeholder, entries with a value of their own (A and TXT
  // both given) are interned in the fork's own pool, and it gives up (aborted()) at an entry
  // whose value borrows the default's A or TXT. absorb() then appends a fork's entries as if this
  // builder had parsed those lines: the fork's values are interned here in the order its lines
  // first used them (the default in scope here in the placeholder's place), so the value indices
  // and the result are those of a sequential load. nullptr: this type cannot fork (e.g. ip4trie,
  // whose duplicate check spans the whole dataset).
  virtual std::unique_ptr<leaf_builder> fork() const { return nullptr; }
  virtual void absorb(leaf_builder& part) { (void)part; }
  bool aborted() const { return aborted_; }

 protected:
  // A ":A:TXT" default line.
  void default_line(std::string_view s, line_context& ctx);
  // The value following an entry's key (leading separators skipped): an index into values_, or
  // nullopt after a warning.
  std::optional<std::uint32_t> entry_value(std::string_view rest, line_context& ctx);
  // What entry_value() gives an entry with no value of its own.
  std::uint32_t default_entry_value();
  // The value test points get: the first default line of the dataset, else 127.0.0.2.
  std::uint32_t first_default();
  // The default value in scope, interned once per default line (not once per entry).
  std::uint32_t default_value_index();

  // A fork's placeholder for the default value in scope where it is absorbed.
  static constexpr std::uint32_t fork_default = 0xFFFFFFFEu;
  // How a fork's value indices become this builder's (see absorb()).
  struct value_map {
    std::vector<std::uint32_t> own;  // the fork's pool index -> index here
    std::uint32_t def = no_index;    // fork_default -> index here
    std::uint32_t operator()(std::uint32_t v) const { return v == fork_default ? def : own[v]; }
  };
  value_map take_values(const leaf_builder& part);

  value_pool values_;
  std::uint32_t default_a_ = default_a_value;
  std::string default_txt_;
  std::uint32_t default_index_ = no_index;  // default_value_index(), once interned
  bool default_seen_ = false;
  std::uint32_t first_default_a_ = default_a_value;
  std::string first_default_txt_;
  bool speculative_ = false;  // a fork (see fork())
  bool aborted_ = false;      // a fork met a line it cannot parse without the state
  // A fork: its pool's indices in the order its lines first used them, fork_default included.
  std::vector<std::uint32_t> first_use_;
  bool used_default_ = false;  // a fork: first_use_ holds fork_default

 private:
  dataset_type type_;
};

std::unique_ptr<leaf_builder> make_builder(dataset_type type);

}  // namespace mx::dnsbl
