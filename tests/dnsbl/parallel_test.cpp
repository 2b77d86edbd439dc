// Parallel loading (load_options::threads) must give exactly what a sequential load gives: the
// same entries, values, value order, TTLs and warnings (with the right file:line), on generated
// data mixing every kind of line a fork has to give up on or merge.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "dnsbl/dataset.hpp"
#include "dnsbl/leaf.hpp"
#include "dnsbl/text.hpp"

namespace mx::dnsbl {
namespace {

// Everything observable about a loaded dataset, as text.
std::string dump(const mx::expected<load_result, load_error>& r) {
  if (!r) return "ERROR " + to_string(r.error()) + "\n";
  std::string out;
  for (const auto& w : r->warnings) out += "W " + to_string(w) + "\n";
  out += "warnings " + std::to_string(r->warning_count) + "\n";
  const dataset& d = *r->data;
  out += "soa " + std::to_string(d.soa.has_value()) + " ns " + std::to_string(d.ns.has_value()) +
         " entries " + std::to_string(d.entry_count()) + "\n";
  for (const auto& b : d.bindings) {
    const leaf& l = *b.set;
    out += "leaf ttl " + std::to_string(l.ttl()) + " default " +
           std::to_string(l.default_value()) + " values " + std::to_string(l.values().size()) +
           "\n";
    for (std::uint32_t i = 0; i < l.values().size(); ++i) {
      const auto& v = l.values().at(i);
      out += "V " + std::to_string(v.a) + " " + std::string(l.values().final_template(v)) + "\n";
    }
    walk_cursor c;
    ip_run run;
    while (l.next_run(c, run)) {
      out += "R " + std::to_string(run.lo.lo) + "-" + std::to_string(run.hi.lo);
      for (const auto v : run.values) out += " " + std::to_string(v);
      out += "\n";
    }
  }
  return out;
}

std::string ip(std::uint32_t n) {
  char buf[16];
  return std::string(buf, text::ip4_to_text(n, buf));
}

// Lines of the kinds a file holds; `mix` says which rarer kinds appear (bit 0: values on
// entries, 1: default lines, 2: $TTL, 3: $MAXRANGE4, 4: bad lines and host bits, 5: CRLF).
std::string generate(std::uint32_t seed, int lines, unsigned mix, bool tset) {
  std::mt19937 rnd(seed);
  std::string out = ":127.0.0.3:first $\n";
  for (int i = 0; i < lines; ++i) {
    const unsigned k = rnd() % 100;
    const std::uint32_t a = rnd() | 0x01000000u;
    std::string line;
    if (k < 3 && (mix & 1) && !tset) {
      line = ip(a) + " :" + std::to_string(rnd() % 9 + 2) + ":own " + std::to_string(rnd() % 4);
    } else if (k < 4 && (mix & 2)) {
      line = ":" + std::to_string(rnd() % 5 + 2) + ":default " + std::to_string(rnd() % 3);
    } else if (k < 5 && (mix & 4)) {
      line = "$TTL " + std::to_string(rnd() % 1000 + 1);
    } else if (k < 6 && (mix & 8) && i > lines / 2) {
      line = "$MAXRANGE4 /" + std::to_string(rnd() % 8 + 20);
    } else if (k < 9 && (mix & 16)) {
      line = (k % 2) ? "300.1.2.3" : ip(a) + "/8";  // invalid; host bits
    } else if (k < 12 && !tset) {
      line = "!" + ip(a & 0xFFFFFF00u) + "/" + std::to_string(24 + rnd() % 9);
      if (line.back() != '4') line = "!" + ip(a);
    } else if (k < 18 && !tset) {
      line = ip(a & 0xFFFF0000u) + "/16";
    } else if (k < 20) {
      line = (k % 2) ? "# comment" : "";
    } else {
      line = ip(a);
    }
    out += line + ((mix & 32) ? "\r\n" : "\n");
  }
  return out;
}

struct parallel_case {
  std::string what;
  dataset_type type;
  unsigned mix;
};

TEST(parallel_load, same_as_sequential) {
  const std::vector<parallel_case> cases = {
      {"ip4set plain", dataset_type::ip4set, 0},
      {"ip4set values", dataset_type::ip4set, 1},
      {"ip4set default lines", dataset_type::ip4set, 2},
      {"ip4set ttl", dataset_type::ip4set, 4},
      {"ip4set maxrange", dataset_type::ip4set, 8},
      {"ip4set bad lines", dataset_type::ip4set, 16},
      {"ip4set everything crlf", dataset_type::ip4set, 63},
      {"ip4trie everything", dataset_type::ip4trie, 31},
      {"ip4tset plain", dataset_type::ip4tset, 0},
      {"ip4tset bad lines", dataset_type::ip4tset, 16},
      {"ip4tset everything", dataset_type::ip4tset, 63},
  };
  for (const auto& c : cases) {
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      const bool tset = c.type == dataset_type::ip4tset;
      const std::vector<source_text> sources = {
          {"one.txt", generate(seed, 3000, c.mix, tset), 0},
          {"two.txt", generate(seed + 100, 2000, c.mix, tset), 0}};
      load_options seq;
      seq.threads = 1;
      seq.max_warnings = 40;
      const std::string want = dump(load_dataset(c.type, sources, seq));
      ASSERT_NE(want.find("\nR "), std::string::npos) << c.what << ": no entries loaded";
      for (const unsigned threads : {2u, 3u, 7u}) {
        load_options par = seq;
        par.threads = threads;
        par.parallel_min_bytes = 1;
        EXPECT_EQ(dump(load_dataset(c.type, sources, par)), want)
            << c.what << " seed " << seed << " threads " << threads;
        // The streaming form, fed in pieces cut mid-line.
        dataset_loader loader(c.type, par);
        for (const auto& s : sources) {
          loader.begin_source(s.name, s.mtime);
          const std::string_view t = s.text;
          const std::size_t cut1 = t.size() / 3 + seed;
          const std::size_t cut2 = 2 * t.size() / 3 + 7;
          loader.feed(t.substr(0, cut1));
          loader.feed(t.substr(cut1, cut2 - cut1));
          loader.feed(t.substr(cut2));
          loader.end_source();
        }
        EXPECT_EQ(dump(loader.finish()), want)
            << c.what << " seed " << seed << " threads " << threads << " (streamed)";
      }
    }
  }
}

// The test data must reach the paths it is meant to: warnings from late lines of a part.
TEST(parallel_load, warnings_keep_their_lines) {
  std::string text = ":2:x\n";
  for (int i = 0; i < 5000; ++i) text += ip(0x0A000000u + static_cast<std::uint32_t>(i)) + "\n";
  text += "bad line\n";
  const std::vector<source_text> sources = {{"f", text, 0}};
  load_options par;
  par.threads = 2;
  par.parallel_min_bytes = 1;
  const auto r = load_dataset(dataset_type::ip4set, sources, par);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(to_string(r->warnings[0]), "f:5002: invalid address");
}

}  // namespace
}  // namespace mx::dnsbl
