// dnsbl/zone: the zones a DNSBL server answers for, each built from one or more datasets
// (rbldnsd's "zone:type:file" arguments, or a [[dnsbld.zone]] section), as one immutable value.
//
// A zone_set is built once per (re)load and never changes; the server holds it through a
// std::shared_ptr<const zone_set> and swaps the pointer atomically (std::atomic_load/store) when
// a reload succeeds, so every query sees either the old or the new generation, whole.
//
// Stacking: the datasets of a zone are consulted in order and every listing answers, so an IP in
// two sets gets two A records (as Spamhaus ZEN). A combined dataset brings its own subzones; a
// query is matched to the most specific subzone (rbldnsd's rule). SOA and NS come from the first
// dataset, in order, that has them; an SOA serial of 0 becomes the newest file's mtime.
//
// SECURITY: immutable after build, so lookups from many threads need no locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "dns/name.hpp"
#include "dnsbl/dataset.hpp"

namespace mx::dnsbl {

struct zone_config {
  std::string name;  // "bl.example.test"
  std::vector<std::shared_ptr<const dataset>> datasets;
};

struct zone_binding {
  dns::name subzone;  // relative to the apex, lowercase; the root for the apex itself
  std::shared_ptr<const leaf> set;
  std::int64_t expires = 0;  // the dataset's $TIMESTAMP expiry; 0 for none
};

struct zone {
  dns::name apex;  // lowercase
  std::optional<soa_data> soa;
  std::optional<ns_data> ns;
  std::vector<zone_binding> bindings;  // most specific subzone first; dataset order kept
  std::vector<dns::name> subzones;     // distinct non-root subzones (empty non-terminals)
};

class zone_set {
 public:
  // Zones named twice are merged (their datasets stacked, as rbldnsd does for a repeated zone).
  static mx::expected<std::shared_ptr<const zone_set>, std::string> build(
      const std::vector<zone_config>& configs);

  // The zone whose apex is the longest suffix of qname (any case), or nullptr.
  const zone* find(const dns::name& qname, int* index = nullptr) const;
  std::span<const zone> zones() const { return zones_; }

 private:
  std::vector<zone> zones_;            // in configuration order
  std::vector<std::size_t> by_depth_;  // indices, most labels first
};

}  // namespace mx::dnsbl
