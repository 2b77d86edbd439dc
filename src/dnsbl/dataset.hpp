// dnsbl/dataset: rbldnsd-compatible datasets loaded from the TEXT of their files (pure: the
// caller reads the files, see files.hpp), and the rbldnsd command-line forms that name them.
//
// A dataset is one or more files read as one ("type:file,file"), of type ip4set, ip4tset,
// ip4trie, ip6tset, ip6trie, dnset or combined (rbldnsd(8) "DATASET TYPES AND FORMATS"). Common
// to all types:
//   blank lines and lines starting with '#' or ';' are comments;
//   "$SOA ttl origin person serial refresh retry expire minimum" (first one wins; serial 0 means
//     the newest file's mtime), "$NS ttl name..." (first line wins; "-name" is skipped),
//   "$TTL ttl", "$MAXRANGE4 n|/bits" (may only shrink), "$TIMESTAMP stamp [expires|+time]",
//   "$0".."$9 text" and "$= text" (substitution variables, first definition wins) -- also written
//     "#$..." ":$..." ";$..." so a file can serve rbldns too;
//   "$DATASET type[:name] subzone..." starts a section of a combined dataset ("@" is the base).
//   Times take an s, m, h, d or w suffix.
// Bad lines produce a warning with source:line and are skipped; the rest loads (as rbldnsd). A
// load fails only when rbldnsd's would: a $TIMESTAMP in the future, or a combined section of an
// unknown or nested type.
//
// SECURITY: data files are operator input; parsing is total (no throw, no crash on any text) and
// the fuzz targets feed it arbitrary bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "dns/name.hpp"
#include "dnsbl/leaf.hpp"

namespace mx::dnsbl {

// One file's text and where it came from.
struct source_text {
  std::string name;  // for messages, usually the path
  std::string text;
  std::int64_t mtime = 0;  // unix seconds; SOA serial when $SOA says 0
};

struct load_warning {
  std::string source;
  std::size_t line = 0;
  std::string message;
};
std::string to_string(const load_warning& w);  // "source:line: message"

struct load_error {
  std::string source;  // empty when not tied to a file
  std::size_t line = 0;
  std::string message;
};
std::string to_string(const load_error& e);

struct load_options {
  std::uint32_t default_ttl = 2100;  // rbldnsd -t default: 35m
  std::uint32_t min_ttl = 0;         // 0: no bound
  std::uint32_t max_ttl = 0;         // 0: no bound
  std::int64_t now = 0;              // unix seconds for $TIMESTAMP; 0: not checked
  bool rfc5782_test_points = true;   // see leaf.hpp
  bool accept_host_bits = false;     // rbldnsd -e: "10.1.2.3/8" means 10.0.0.0/8
  std::size_t max_warnings = 100;    // kept; all are counted
  // load_dataset_files: threads parsing one large file (0: one per hardware thread), and the
  // least text per thread worth one. The data loaded is the same whatever the number.
  unsigned threads = 1;
  std::size_t min_bytes_per_thread = std::size_t{1} << 20;
};
unsigned thread_count(const load_options& opts);  // threads, 0 read as the hardware's

struct soa_data {
  std::uint32_t ttl = 0;
  dns::name mname;
  dns::name rname;
  std::uint32_t serial = 0;
  std::uint32_t refresh = 0;
  std::uint32_t retry = 0;
  std::uint32_t expire = 0;
  std::uint32_t minimum = 0;
};

struct ns_data {
  std::uint32_t ttl = 0;
  std::vector<dns::name> names;  // at most 32, distinct
};

// A set attached below the zone: subzone is relative to the zone (lowercase), the root for "@".
struct binding {
  dns::name subzone;
  std::shared_ptr<const leaf> set;
};

struct dataset {
  dataset_type type = dataset_type::ip4set;
  std::optional<soa_data> soa;
  std::optional<ns_data> ns;
  std::vector<binding> bindings;  // one at the root, or a combined dataset's sections in order
  std::int64_t timestamp = 0;     // $TIMESTAMP data time, 0 if none
  std::int64_t expires = 0;       // $TIMESTAMP expiry, 0 if none
  std::int64_t newest_mtime = 0;

  std::size_t entry_count() const;
  std::size_t memory_bytes() const;
};

struct load_result {
  std::shared_ptr<const dataset> data;
  std::vector<load_warning> warnings;  // the first load_options::max_warnings
  std::size_t warning_count = 0;       // all of them
};

// Parses the sources as one dataset of the given type.
mx::expected<load_result, load_error> load_dataset(dataset_type type,
                                                   std::span<const source_text> sources,
                                                   const load_options& opts = {});

class dataset_part;

// The same, fed piece by piece (files.cpp reads large files in chunks, so a load never holds a
// whole file): begin_source, feed the text split anywhere, end_source; then finish. feed and
// end_source return false once the load has failed; finish says why.
//
// Parallel loading: between begin_source and end_source, fork_part() gives a parser for a later
// part of the source (starting at a line start) that another thread may feed, while this loader
// is fed the text before it. Once fed up to the part's start, absorb(part) takes the part's
// entries as if this loader had parsed them; the caller then feeds the rest of the part from
// part.stopped_at() (all of it when absorb returns false). The result is that of a sequential
// load, warnings and line numbers included.
class dataset_loader {
 public:
  explicit dataset_loader(dataset_type type, const load_options& opts = {});
  ~dataset_loader();
  dataset_loader(const dataset_loader&) = delete;
  dataset_loader& operator=(const dataset_loader&) = delete;

  void begin_source(std::string name, std::int64_t mtime);
  bool feed(std::string_view text);
  bool end_source();
  mx::expected<load_result, load_error> finish();

  std::unique_ptr<dataset_part> fork_part() const;  // nullptr: this dataset cannot be split
  bool absorb(dataset_part& part);

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

// A part of a source parsed without the state the lines before it set (default values, `$`
// lines, $MAXRANGE4). It stops at the first line whose meaning depends on that state: a `$`
// line, a default line, an entry with its own value. Fed and ended on one thread at a time.
class dataset_part {
 public:
  class impl;
  explicit dataset_part(std::unique_ptr<impl> p);
  ~dataset_part();
  dataset_part(const dataset_part&) = delete;
  dataset_part& operator=(const dataset_part&) = delete;

  bool feed(std::string_view text);  // false once stopped
  void end();                        // the part's last line, when it has no newline
  // Octets of the part parsed: its whole length, or where the line it stopped at starts.
  std::uint64_t stopped_at() const;
  bool stopped() const;

 private:
  friend class dataset_loader;
  std::unique_ptr<impl> impl_;
};

// "ip4set:a.txt,b.txt" (the dataset part of rbldnsd's zone argument; ':' also separates files).
struct dataset_spec {
  dataset_type type = dataset_type::ip4set;
  std::vector<std::string> files;
};
mx::expected<dataset_spec, std::string> parse_dataset_spec(std::string_view text);

// "bl.example.test:ip4set:a.txt,b.txt" (rbldnsd's zone argument).
struct zone_arg {
  std::string zone;
  dataset_spec spec;
};
mx::expected<zone_arg, std::string> parse_zone_arg(std::string_view text);

}  // namespace mx::dnsbl
