// config/option_table: the ONE table of configuration options (internal to src/config/).
//
// Each row is (section, name, type, default, bounds, help) plus two functions: `apply` validates a
// TOML value and stores it into the config struct, `show` prints the stored value back as TOML.
// Sections are plain tables ([smtpd], [dnsbld]) or arrays of tables ([[dnsbld.zone]]), whose rows
// apply to one table of the array at a time.
// The loader, the defaults, `check-config --show` and docs/config.md all walk this table, so an
// option cannot be parsed one way and documented another. Defaults are TOML text run through the
// same `apply` as a user's value: a default that would not validate is a broken invariant.
//
// SECURITY: `apply` is strict (see config.hpp): it reports the first bad item with its own
// source position and never substitutes a default for a bad value. Displayed values are escaped
// (display_text) so a config file cannot inject control characters into the terminal or a log.
// RFCs: none of its own; the item parsers (core/inet, smtp::canonical_domain) cite theirs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/config.hpp"

namespace mx::config::detail {

// A validation error before the file name is known: where in the TOML text, and what.
struct problem {
  int line = 0;
  int column = 0;
  std::string message;  // "smtpd.max_recipients: 0 is out of bounds (1 .. 100000)"
};

struct option {
  std::string section;       // "smtpd", "dnsbld", or an array of tables such as "dnsbld.zone"
  std::string name;
  std::string type;          // for docs and messages: "integer", "list of CIDR networks"
  std::string default_toml;  // the default, as TOML value text: `["127.0.0.0/8", "::1/128"]`
  std::string bounds;        // for docs: "1 .. 100000", "1 or more entries"
  std::string help;
  // A key of an array of tables that has no default: every table must set it.
  bool required = false;
  // Validates `value` (its source positions locate errors) and stores it into `out`; `element`
  // is the index of the table in an array of tables (0 for plain sections).
  std::function<std::optional<problem>(const toml::node& value, config& out, std::size_t element)>
      apply;
  // The stored value as TOML value text (round-trips through apply).
  std::function<std::string(const config& cfg, std::size_t element)> show;

  std::string key() const { return section + "." + name; }
};

// The key as messages name it: "smtpd.listen", or "dnsbld.zone[1].name" in an array of tables.
std::string key_text(std::string_view section, std::string_view name, bool in_array,
                     std::size_t element);

struct section_doc {
  std::string name;  // "smtpd"; "dnsbld.zone" for the array of tables [[dnsbld.zone]]
  std::string help;
  // Plain sections: set when the file has the section (serve runs the declared services).
  bool config::*declared = nullptr;
  // Arrays of tables: how many tables the config has, and adding one (with no key set yet).
  std::function<std::size_t(const config&)> count;
  std::function<void(config&)> add;

  bool is_array() const { return static_cast<bool>(count); }
  // For "dnsbld.zone": "dnsbld" and "zone"; for a plain section, itself and "".
  std::string_view parent() const { return std::string_view(name).substr(0, name.find('.')); }
  std::string_view child() const {
    const auto dot = name.find('.');
    return dot == std::string::npos ? std::string_view() : std::string_view(name).substr(dot + 1);
  }
};

const std::vector<option>& option_table();
const std::vector<section_doc>& section_table();

// The config every option's default gives (computed once, from default_toml through apply).
const config& default_config();

// Text from a config file, safe to print: quoted, with control and non-ASCII-printable octets as
// \xNN escapes and long values cut short.
std::string display_text(std::string_view text);
// A TOML basic string literal for `text`.
std::string toml_string(std::string_view text);
// "string", "integer", "array"... for "expected X, got Y" messages.
std::string_view type_name(toml::node_type t);

}  // namespace mx::config::detail
