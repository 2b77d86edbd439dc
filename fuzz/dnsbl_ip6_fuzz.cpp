// Fuzz target for the IPv6 dataset loaders (ip6trie, ip6tset; dnsbl/dataset.hpp) on arbitrary
// text, followed by lookups. Invariants: loading never crashes; a listed address has values and
// its nibble prefixes are empty non-terminals; the RFC 5782 test points hold. Traps otherwise.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "dns/name.hpp"
#include "dnsbl/dataset.hpp"
#include "dnsbl/leaf.hpp"
#include "dnsbl/transfer.hpp"
#include "dnsbl/zone.hpp"
#include "require.hpp"

namespace {

using namespace mx;
using bytes16 = std::array<std::uint8_t, 16>;

using fuzz::require;

// The key of the first `nibbles` nibbles of addr, reversed as in an RFC 5782 2.4 name.
dnsbl::lookup_key key_of(const bytes16& addr, std::size_t nibbles) {
  static const char* hex = "0123456789abcdef";
  std::string text;
  for (std::size_t i = nibbles; i-- > 0;) {
    const std::uint8_t b = addr[i / 2];
    text += hex[i % 2 == 0 ? b >> 4 : b & 15];
    if (i > 0) text += '.';
  }
  const auto n = dns::name::from_text(text);
  require(n.has_value());
  return dnsbl::lookup_key::from_labels(n->wire().first(n->wire_length() - 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<bytes16> probes;
  bytes16 a{};
  a[0] = 0x20;
  a[1] = 0x01;
  a[2] = 0x0d;
  a[3] = 0xb8;
  probes.push_back(a);
  for (std::size_t i = 0; i + 16 <= size && probes.size() < 16; i += 16) {
    for (std::size_t k = 0; k < 16; ++k) a[k] = data[i + k];
    probes.push_back(a);
  }
  const bytes16 test_listed = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2};
  const bytes16 test_unlisted = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  const std::vector<dnsbl::source_text> sources = {{"six", text, 0}};
  for (const auto type : {dnsbl::dataset_type::ip6trie, dnsbl::dataset_type::ip6tset}) {
    dnsbl::load_options opts;
    opts.max_warnings = 8;
    const auto r = dnsbl::load_dataset(type, sources, opts);
    if (!r) continue;
    require(r->warnings.size() <= r->warning_count);
    const dnsbl::leaf& set = *r->data->bindings.at(0).set;
    for (const auto& p : probes) {
      const auto m = set.lookup(key_of(p, 32));
      if (m.what != dnsbl::found::listed) continue;
      require(!m.values.empty());
      for (const auto v : m.values) require(v < set.values().size());
      for (std::size_t n = 1; n < 32; n += 5) {
        require(set.lookup(key_of(p, n)).what != dnsbl::found::nothing);
      }
    }
    require(set.lookup(key_of(test_listed, 32)).what == dnsbl::found::listed);
    require(set.lookup(key_of(test_unlisted, 32)).what == dnsbl::found::nothing);
    // The zone transfer: it ends with the SOA, and every full nibble name it gives (no
    // wildcard) is listed by the set.
    auto zones = dnsbl::zone_set::build({dnsbl::zone_config{"bl.test", {r->data}}});
    require(zones.has_value());
    dnsbl::zone_walker walker(*zones, 0);
    dnsbl::xfr_record rec;
    std::size_t n = 0;
    std::uint16_t last = 0;
    while (walker.next(rec)) {
      const std::size_t rel = rec.owner.label_count() - 2;
      if (rec.type == dns::rr_type::a && rel == 32 && rec.owner.label(0)[0] != '*') {
        const auto w = rec.owner.wire();
        require(
            set.lookup(dnsbl::lookup_key::from_labels(w.first(rec.owner.label_offset(32)))).what ==
            dnsbl::found::listed);
      }
      last = rec.type;
      require(++n < 50000000);
    }
    require(n >= 2 && last == dns::rr_type::soa);
  }
  return 0;
}
