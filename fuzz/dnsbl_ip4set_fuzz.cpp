// Fuzz target for the IPv4 dataset loaders (ip4set, ip4trie, ip4tset; dnsbl/dataset.hpp) on
// arbitrary text, followed by lookups. Invariants: loading never crashes and either fails with a
// message or yields a set; warnings carry a line number; a listed address has values and its
// prefixes are empty non-terminals; the RFC 5782 test points hold. And text::plain_ip4_lines
// (and its SSE2-only form), from every line start: it takes whole lines, each a plain address line
// that parse_ip4_prefix reads as the same /32, and stops only at a line that is not one, at its
// limit, or with fewer than 16 octets left. A broken invariant traps.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.hpp"
#include "dnsbl/dataset.hpp"
#include "dnsbl/leaf.hpp"
#include "dnsbl/text.hpp"
#include "dnsbl/transfer.hpp"
#include "dnsbl/zone.hpp"
#include "require.hpp"

namespace {

using namespace mx;

using fuzz::require;

// The lookup key of the first `octets` octets of addr, reversed as in a DNSBL query name.
dnsbl::lookup_key key_of(std::uint32_t addr, int octets) {
  std::string text;
  for (int i = octets - 1; i >= 0; --i) {
    text += std::to_string((addr >> (24 - 8 * i)) & 255u);
    if (i > 0) text += '.';
  }
  const auto n = dns::name::from_text(text);
  require(n.has_value());
  return dnsbl::lookup_key::from_labels(n->wire().first(n->wire_length() - 1));
}

void check_set(const dnsbl::leaf& set, const std::vector<std::uint32_t>& probes) {
  for (const std::uint32_t addr : probes) {
    const auto m = set.lookup(key_of(addr, 4));
    if (m.what != dnsbl::found::listed) continue;
    require(!m.values.empty());
    for (const auto v : m.values) require(v < set.values().size());
    for (int octets = 1; octets < 4; ++octets) {
      require(set.lookup(key_of(addr, octets)).what != dnsbl::found::nothing);
    }
  }
  require(set.lookup(key_of(0x7F000001u, 4)).what == dnsbl::found::nothing);
  require(set.lookup(key_of(0x7F000002u, 4)).what == dnsbl::found::listed);
}

// The zone transfer of the set: it ends, opens and closes with the SOA, every owner is below the
// zone, and every full address it names (no wildcard) is listed by the set.
void check_transfer(const std::shared_ptr<const dnsbl::dataset>& data) {
  auto zones = dnsbl::zone_set::build({dnsbl::zone_config{"bl.test", {data}}});
  require(zones.has_value());
  const auto apex = dns::name::from_text("bl.test");
  dnsbl::zone_walker walker(*zones, 0);
  dnsbl::xfr_record r;
  std::size_t n = 0;
  std::uint16_t last = 0;
  const dnsbl::leaf& set = *data->bindings[0].set;
  while (walker.next(r)) {
    require(n > 0 || r.type == dns::rr_type::soa);
    require(r.owner.is_subdomain_of(*apex));
    const std::size_t rel = r.owner.label_count() - apex->label_count();
    if (r.type == dns::rr_type::a && rel == 4 && r.owner.label(0)[0] != '*') {
      const auto w = r.owner.wire();
      const auto key = dnsbl::lookup_key::from_labels(w.first(r.owner.label_offset(4)));
      require(set.lookup(key).what == dnsbl::found::listed);
    }
    last = r.type;
    ++n;
    // Each line of input gives at most a few thousand names; the inputs are small.
    require(n < 50000000);
  }
  require(n >= 2 && last == dns::rr_type::soa);
}

// "a.b.c.d": 1 to 3 digits an octet, each at most 255, nothing else.
std::optional<std::uint32_t> plain_line(std::string_view line) {
  std::uint32_t addr = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (line.empty() || line.front() != '.') return std::nullopt;
      line.remove_prefix(1);
    }
    std::size_t digits = 0;
    std::uint32_t v = 0;
    while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') {
      v = v * 10 + static_cast<std::uint32_t>(line[digits] - '0');
      if (++digits > 3) return std::nullopt;
    }
    if (digits == 0 || v > 255) return std::nullopt;
    line.remove_prefix(digits);
    addr = (addr << 8) | v;
  }
  if (!line.empty()) return std::nullopt;
  return addr;
}

void check_plain_lines(std::string_view text, decltype(&dnsbl::text::plain_ip4_lines) read) {
  for (std::size_t at = 0;;) {
    std::uint32_t out[8];
    std::size_t n = 0;
    const std::size_t max = 1 + at % 8;
    const std::size_t took = read(text.substr(at), out, max, n);
    require(n <= max);
    std::size_t pos = at;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t nl = text.find('\n', pos);
      require(nl != std::string_view::npos);
      std::string_view line = text.substr(pos, nl - pos);
      const auto want = plain_line(line);
      require(want.has_value() && *want == out[i]);
      const auto p = dnsbl::text::parse_ip4_prefix(line);
      require(p.has_value() && p->bits == 32 && p->addr == out[i] && line.empty());
      pos = nl + 1;
    }
    require(pos == at + took);
    if (n < max && text.size() - pos >= 16) {
      const std::size_t nl = text.find('\n', pos);
      require(nl == std::string_view::npos || !plain_line(text.substr(pos, nl - pos)));
    }
    const std::size_t next = text.find('\n', at);
    if (next == std::string_view::npos) break;
    at = next + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check_plain_lines(text, &dnsbl::text::plain_ip4_lines);
  check_plain_lines(text, &dnsbl::text::plain_ip4_lines_sse2);
  std::vector<std::uint32_t> probes = {0x01020304u, 0x0A000001u, 0x0A010203u, 0x7F00000Au,
                                       0xC0000201u, 0xFFFFFFFFu, 0u};
  for (std::size_t i = 0; i + 4 <= size && probes.size() < 64; i += 4) {
    probes.push_back((std::uint32_t{data[i]} << 24) | (std::uint32_t{data[i + 1]} << 16) |
                     (std::uint32_t{data[i + 2]} << 8) | data[i + 3]);
  }
  // As one file, and split in two (the default value is per file).
  const std::vector<dnsbl::source_text> one = {{"one", text, 0}};
  const std::vector<dnsbl::source_text> two = {{"a", text.substr(0, size / 2), 0},
                                               {"b", text.substr(size / 2), 0}};
  for (const auto type :
       {dnsbl::dataset_type::ip4set, dnsbl::dataset_type::ip4trie, dnsbl::dataset_type::ip4tset}) {
    for (const auto* sources : {&one, &two}) {
      dnsbl::load_options opts;
      opts.now = 1700000000;
      opts.max_warnings = 8;
      const auto r = dnsbl::load_dataset(type, *sources, opts);
      if (!r) {
        require(!r.error().message.empty());
        continue;
      }
      require(r->warnings.size() <= r->warning_count);
      require(r->warnings.size() <= opts.max_warnings);
      for (const auto& w : r->warnings) require(w.line >= 1 && !w.message.empty());
      require(r->data->bindings.size() == 1);
      require(r->data->bindings[0].subzone.is_root());
      check_set(*r->data->bindings[0].set, probes);
      if (sources == &one) check_transfer(r->data);
    }
  }
  return 0;
}
