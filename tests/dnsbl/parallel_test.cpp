// Parallel loading (load_options::threads): load_dataset_files splits a large file at line
// boundaries and parses the parts after the first on other threads. The result must be exactly
// what a sequential load gives: the same entries, values and their order, TTLs, and warnings
// with the right file:line, whatever the number of threads and wherever the splits fall.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "dnsbl/dataset.hpp"
#include "dnsbl/describe.hpp"
#include "dnsbl/files.hpp"
#include "dnsbl/leaf.hpp"
#include "dnsbl/text.hpp"
#include "test_util.hpp"

namespace mx::dnsbl {
namespace {

using testing::temp_dir;

std::string ip(std::uint32_t n) {
  char buf[16];
  return std::string(buf, text::ip4_to_text(n, buf));
}

// Lines of the kinds a file holds; `mix` says which rarer kinds appear (bit 0: values on
// entries, 1: default lines, 2: $TTL, 3: $MAXRANGE4, 4: bad lines and host bits, 5: CRLF,
// 6: no default line at the top, 7: no newline at the end).
std::string generate(std::uint32_t seed, int lines, unsigned mix, bool tset) {
  std::mt19937 rnd(seed);
  std::string out = (mix & 64) ? "" : ":127.0.0.3:first $\n";
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
      line = (k % 2) ? "  # comment" : "";
    } else {
      line = ip(a);
    }
    out += line + ((mix & 32) ? "\r\n" : "\n");
  }
  if (mix & 128) out.pop_back();
  return out;
}

mx::expected<load_result, load_error> load(dataset_type type, const std::vector<std::string>& paths,
                                           unsigned threads) {
  load_options o;
  o.threads = threads;
  o.min_bytes_per_thread = 1;  // split even these small files
  o.max_warnings = 40;
  return load_dataset_files(type, paths, o);
}

struct parallel_case {
  std::string what;
  dataset_type type;
  unsigned mix;
};

TEST(parallel_load, same_as_sequential) {
  const std::vector<parallel_case> cases = {
      {"ip4set plain", dataset_type::ip4set, 0},
      {"ip4set plain, no default line", dataset_type::ip4set, 64},
      {"ip4set values", dataset_type::ip4set, 1},
      {"ip4set default lines", dataset_type::ip4set, 2},
      {"ip4set ttl", dataset_type::ip4set, 4},
      {"ip4set maxrange", dataset_type::ip4set, 8},
      {"ip4set bad lines", dataset_type::ip4set, 16},
      {"ip4set everything, crlf, no last newline", dataset_type::ip4set, 255 - 64},
      {"ip4trie everything (never split)", dataset_type::ip4trie, 31},
      {"ip4tset plain", dataset_type::ip4tset, 0},
      {"ip4tset bad lines", dataset_type::ip4tset, 16},
      {"ip4tset everything", dataset_type::ip4tset, 255},
      {"dnset (never split)", dataset_type::dnset, 0},
  };
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  for (const auto& c : cases) {
    for (std::uint32_t seed = 1; seed <= 3; ++seed) {
      const bool tset = c.type == dataset_type::ip4tset;
      const std::vector<std::string> paths = {
          dir.write("one.txt", generate(seed, 3000, c.mix, tset)),
          dir.write("two.txt", generate(seed + 100, 2000, c.mix, tset))};
      const std::string want = describe(load(c.type, paths, 1));
      if (c.type != dataset_type::dnset) {
        ASSERT_NE(want.find("\nR "), std::string::npos) << c.what << ": no entries loaded";
      }
      for (const unsigned threads : {2u, 3u, 7u, 64u}) {
        EXPECT_EQ(describe(load(c.type, paths, threads)), want)
            << c.what << " seed " << seed << " threads " << threads;
      }
    }
  }
}

// A warning from a line a thread parsed keeps its number in the file.
TEST(parallel_load, warnings_keep_their_lines) {
  temp_dir dir;
  std::string text = ":2:x\n";
  for (int i = 0; i < 5000; ++i) text += ip(0x0A000000u + static_cast<std::uint32_t>(i)) + "\n";
  text += "bad line\n";
  const auto path = dir.write("f", text);
  for (const unsigned threads : {1u, 2u, 5u}) {
    const auto r = load(dataset_type::ip4set, {path}, threads);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->warnings.size(), 1u) << threads;
    EXPECT_EQ(to_string(r->warnings[0]), path + ":5002: invalid address") << threads;
  }
}

// Errors found while the other parts are being parsed still end the load, as on one thread.
TEST(parallel_load, errors_end_the_load) {
  temp_dir dir;
  std::string lines;
  for (int i = 0; i < 2000; ++i) lines += ip(0x0A000000u + static_cast<std::uint32_t>(i)) + "\n";
  const auto gz = dir.write("gz", std::string("\x1f\x8b\x08\x00\n", 5) + lines);
  // In the second half: a thread stops at it, the loader meets it when it takes the part over.
  const auto future = dir.write("future", lines + "$TIMESTAMP 2030:01:01\n" + lines);
  for (const unsigned threads : {1u, 2u, 4u}) {
    load_options o;
    o.threads = threads;
    o.min_bytes_per_thread = 1;
    o.now = 1700000000;
    const auto a = load_dataset_files(dataset_type::ip4set, std::vector<std::string>{gz}, o);
    ASSERT_FALSE(a) << threads;
    EXPECT_EQ(to_string(a.error()), gz + ": gzip-compressed data files are not supported");
    const auto b = load_dataset_files(dataset_type::ip4set, std::vector<std::string>{future}, o);
    ASSERT_FALSE(b) << threads;
    EXPECT_NE(to_string(b.error()).find(future + ":2001: data timestamp is"), std::string::npos)
        << to_string(b.error());
  }
}

// The steps load_dataset_files takes, one by one: a part parsed without the state before it,
// then absorbed, must take the default value in scope where it is absorbed.
struct part_case {
  std::string what;
  dataset_type type;
  std::string before;  // fed to the loader first
  std::string part;    // fed to the part
  std::uint64_t want_stopped_at;
  bool want_absorbed;
  std::string want;  // listed ranges with their values, "lo-hi=A/TXT ..."
};

std::string runs(const load_result& r, bool indices = false) {
  std::string out;
  const leaf& l = *r.data->bindings.at(0).set;
  walk_cursor c;
  ip_run run;
  while (l.next_run(c, run)) {
    out += ip(static_cast<std::uint32_t>(run.lo.lo)) + "-" +
           ip(static_cast<std::uint32_t>(run.hi.lo)) + "=";
    for (const auto v : run.values) {
      const auto& val = l.values().at(v);
      if (indices) out += std::to_string(v) + ":";
      out += ip(val.a) + "/" + std::string(l.values().final_template(val));
    }
    out += " ";
  }
  return out;
}

TEST(parallel_load, part_takes_the_default_in_scope) {
  const std::vector<part_case> cases = {
      {"default set before, not yet used", dataset_type::ip4set, ":127.0.0.5:five\n",
       "2.2.2.2\n3.3.3.3\n", 16, true,
       "2.2.2.2-2.2.2.2=127.0.0.5/five 3.3.3.3-3.3.3.3=127.0.0.5/five "},
      {"default used before", dataset_type::ip4set, ":127.0.0.5:five\n1.1.1.1\n", "2.2.2.2\n", 8,
       true, "1.1.1.1-1.1.1.1=127.0.0.5/five 2.2.2.2-2.2.2.2=127.0.0.5/five "},
      {"own value before, then the default", dataset_type::ip4set,
       "1.1.1.1 :127.0.0.9:own\n:127.0.0.5:five\n", "2.2.2.2\n", 8, true,
       "1.1.1.1-1.1.1.1=127.0.0.9/own 2.2.2.2-2.2.2.2=127.0.0.5/five "},
      {"no default line: 127.0.0.2", dataset_type::ip4set, "", "2.2.2.2\n!2.2.2.2\n4.4.4.4\n", 25,
       true, "4.4.4.4-4.4.4.4=127.0.0.2/ "},
      {"stops at a default line", dataset_type::ip4set, ":127.0.0.5:five\n",
       "2.2.2.2\n:127.0.0.6:six\n3.3.3.3\n", 8, true,
       "2.2.2.2-2.2.2.2=127.0.0.5/five 3.3.3.3-3.3.3.3=127.0.0.6/six "},
      {"own values, the default between them", dataset_type::ip4set,
       ":127.0.0.5:five\n1.1.1.1 :127.0.0.9:b\n",
       "2.2.2.2 :127.0.0.8:a\n3.3.3.3\n4.4.4.4 :127.0.0.9:b\n5.5.5.5 :8:a\n6.6.6.6 :127.0.0.7:\n",
       83, true,
       "1.1.1.1-1.1.1.1=127.0.0.9/b 2.2.2.2-2.2.2.2=127.0.0.8/a 3.3.3.3-3.3.3.3=127.0.0.5/five "
       "4.4.4.4-4.4.4.4=127.0.0.9/b 5.5.5.5-5.5.5.5=127.0.0.8/a 6.6.6.6-6.6.6.6=127.0.0.7/ "},
      {"the default first, then a new value of its own", dataset_type::ip4set, ":127.0.0.5:five\n",
       "3.3.3.3\n2.2.2.2 :127.0.0.8:a\n", 29, true,
       "2.2.2.2-2.2.2.2=127.0.0.8/a 3.3.3.3-3.3.3.3=127.0.0.5/five "},
      {"stops at a value without A", dataset_type::ip4set, ":127.0.0.5:five\n",
       "2.2.2.2\n3.3.3.3 own text\n4.4.4.4\n", 8, true,
       "2.2.2.2-2.2.2.2=127.0.0.5/five 3.3.3.3-3.3.3.3=127.0.0.5/own text "
       "4.4.4.4-4.4.4.4=127.0.0.5/five "},
      {"stops at a value with the default TXT", dataset_type::ip4set, ":127.0.0.5:five\n",
       "2.2.2.2 :127.0.0.8:a\n3.3.3.3 :127.0.0.6\n", 21, true,
       "2.2.2.2-2.2.2.2=127.0.0.8/a 3.3.3.3-3.3.3.3=127.0.0.6/five "},
      {"an invalid value is a warning, not a stop", dataset_type::ip4set, "",
       "2.2.2.2 :300.1.1.1:x\n3.3.3.3\n", 29, true, "3.3.3.3-3.3.3.3=127.0.0.2/ "},
      {"stops at a $ line", dataset_type::ip4set, "", "2.2.2.2\n# c\n$TTL 60\n3.3.3.3\n", 12, true,
       "2.2.2.2-2.2.2.2=127.0.0.2/ 3.3.3.3-3.3.3.3=127.0.0.2/ "},
      {"$MAXRANGE4 before: parsed again", dataset_type::ip4set, "$MAXRANGE4 256\n",
       "10.0.0.0/16\n1.2.3.0/24\n", 23, false, "1.2.3.0-1.2.3.255=127.0.0.2/ "},
      {"ip4tset", dataset_type::ip4tset, ":127.0.0.4:t\n1.1.1.1\n", "2.2.2.2\n", 8, true,
       "1.1.1.1-1.1.1.1=127.0.0.4/t 2.2.2.2-2.2.2.2=127.0.0.4/t "},
  };
  for (const auto& c : cases) {
    dataset_loader loader(c.type);
    loader.begin_source("f", 0);
    auto part = loader.fork_part();
    ASSERT_NE(part, nullptr) << c.what;
    part->feed(c.part);
    part->end();
    EXPECT_EQ(part->stopped_at(), c.want_stopped_at) << c.what;
    EXPECT_EQ(part->stopped(), c.want_stopped_at < c.part.size()) << c.what;
    ASSERT_TRUE(loader.feed(c.before)) << c.what;
    const bool absorbed = loader.absorb(*part);
    EXPECT_EQ(absorbed, c.want_absorbed) << c.what;
    ASSERT_TRUE(loader.feed(std::string_view(c.part).substr(absorbed ? part->stopped_at() : 0)));
    ASSERT_TRUE(loader.end_source());
    auto r = loader.finish();
    ASSERT_TRUE(r) << c.what;
    EXPECT_EQ(runs(*r), c.want) << c.what;
    // And the value indices (the order values were first used) are a sequential load's.
    const std::vector<source_text> whole = {{"f", c.before + c.part, 0}};
    const auto seq = load_dataset(c.type, whole);
    ASSERT_TRUE(seq) << c.what;
    EXPECT_EQ(runs(*r, true), runs(*seq, true)) << c.what;
  }
}

TEST(parallel_load, types_that_cannot_split) {
  for (const auto t : {dataset_type::ip4trie, dataset_type::ip6trie, dataset_type::ip6tset,
                       dataset_type::dnset, dataset_type::combined}) {
    dataset_loader loader(t);
    loader.begin_source("f", 0);
    EXPECT_EQ(loader.fork_part(), nullptr) << name_of(t);
  }
}

}  // namespace
}  // namespace mx::dnsbl
