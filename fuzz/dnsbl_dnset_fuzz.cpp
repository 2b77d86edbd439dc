// Fuzz target for the dnset and combined loaders (dnsbl/dataset.hpp) on arbitrary text, then
// answers for names taken from the input (dnsbl/answer.hpp). Invariants: loading never crashes;
// a listed name's ancestors inside its subzone exist (empty non-terminals, or listed); TEST is
// listed and INVALID never; answer() keeps to its buffer. A broken invariant traps.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.hpp"
#include "dnsbl/answer.hpp"
#include "dnsbl/dataset.hpp"
#include "dnsbl/leaf.hpp"
#include "dnsbl/zone.hpp"
#include "require.hpp"

namespace {

using namespace mx;

using fuzz::require;

dnsbl::lookup_key key_of(const dns::name& n, std::size_t first_label) {
  const auto w = n.wire();
  const std::size_t from = n.label_offset(first_label);
  return dnsbl::lookup_key::from_labels(w.subspan(from, w.size() - 1 - from));
}

std::vector<std::uint8_t> query_for(const dns::name& n) {
  std::vector<std::uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  for (const auto b : n.wire()) q.push_back(b);
  q.insert(q.end(), {0, 255, 0, 1});  // ANY, IN
  return q;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Names to try: every whitespace-separated word of the input that is a name, plus a few.
  std::vector<dns::name> names;
  for (const char* fixed : {"test", "invalid", "example.com", "a.b.c", "x"}) {
    names.push_back(*dns::name::from_text(fixed));
  }
  std::size_t start = 0;
  while (start < text.size() && names.size() < 48) {
    std::size_t end = start;
    while (end < text.size() && text[end] != ' ' && text[end] != '\n' && text[end] != '\t') ++end;
    std::string_view word(text.data() + start, end - start);
    while (!word.empty() && (word.front() == '!' || word.front() == '*' || word.front() == '.')) {
      word.remove_prefix(1);
    }
    if (auto n = dns::name::from_text(word); n && !n->is_root()) {
      n->to_lower();
      names.push_back(*n);
    }
    start = end + 1;
  }
  const std::vector<dnsbl::source_text> sources = {{"names", text, 0}};
  static std::vector<std::uint8_t> out(4096);
  for (const auto type : {dnsbl::dataset_type::dnset, dnsbl::dataset_type::combined}) {
    dnsbl::load_options opts;
    opts.max_warnings = 8;
    const auto r = dnsbl::load_dataset(type, sources, opts);
    if (!r) {
      require(!r.error().message.empty());
      continue;
    }
    require(r->warnings.size() <= r->warning_count);
    for (const auto& b : r->data->bindings) {
      const dnsbl::leaf& set = *b.set;
      for (const auto& n : names) {
        const auto m = set.lookup(key_of(n, 0));
        if (set.family() != dnsbl::key_family::name || m.what != dnsbl::found::listed) continue;
        require(!m.values.empty() && m.subject_labels >= 1 && m.subject_labels <= n.label_count());
        // (INVALID is never listed nor made to exist, even with names below it.)
        for (std::size_t i = 1; i < n.label_count(); ++i) {
          if (i + 1 == n.label_count() && n.suffix(i).to_text() == "invalid") continue;
          require(set.lookup(key_of(n, i)).what != dnsbl::found::nothing);
        }
      }
      if (set.family() == dnsbl::key_family::name) {
        require(set.lookup(key_of(*dns::name::from_text("test"), 0)).what == dnsbl::found::listed);
        require(set.lookup(key_of(*dns::name::from_text("invalid"), 0)).what ==
                dnsbl::found::nothing);
      }
    }
    // End to end through answer(), when the data makes a zone.
    const auto zs = dnsbl::zone_set::build({dnsbl::zone_config{"bl.test", {r->data}}});
    if (!zs) continue;
    const auto apex = *dns::name::from_text("bl.test");
    for (const auto& n : names) {
      dns::name q = n;
      bool fits = true;
      for (std::size_t i = 0; i < apex.label_count() && fits; ++i)
        fits = q.push_label(apex.label(i));
      if (!fits) continue;
      const auto res = dnsbl::answer(**zs, query_for(q), out);
      require(res.size >= 12 && res.size <= 1232);
    }
  }
  return 0;
}
