// Fuzz target for parallel loading (dnsbl/dataset.hpp: dataset_loader::fork_part and absorb,
// load_options::threads) on arbitrary text. The first four octets of the input choose the
// dataset type, the number of threads, where the text is split and where the pieces are cut;
// the rest is the data file. Two loads must give exactly what a sequential load gives (the same
// warnings with their lines, values in the same order, TTL, default and runs of addresses):
//   - the text split at a line start, the part after it parsed by a fork (fed in two pieces,
//     so lines cross feeds) before the loader reads the part before it, then absorbed, and the
//     rest parsed by the loader, as load_dataset_files does on threads;
//   - a load with several threads, whose IPv4 ranges are kept and resolved in shards of the
//     key space (cut at the shard edges, joined again after).
// And a sequential load of the text with a space before every line (which the lines' meaning
// ignores) must give it too: there no line is plain, so every line goes through line(), where
// the text's plain address lines went through leaf_builder::plain_lines.
// A difference traps.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "dnsbl/dataset.hpp"
#include "dnsbl/describe.hpp"
#include "require.hpp"

namespace {

using namespace mx;

using fuzz::require;

using dnsbl::describe;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  static constexpr dnsbl::dataset_type types[] = {
      dnsbl::dataset_type::ip4set, dnsbl::dataset_type::ip4tset, dnsbl::dataset_type::ip4trie};
  const dnsbl::dataset_type type = types[data[0] % 3];
  const unsigned threads = 2 + (data[0] >> 4) % 4;
  const std::string text(reinterpret_cast<const char*>(data) + 4, size - 4);

  dnsbl::load_options seq;
  seq.now = 1700000000;
  seq.max_warnings = 8;
  seq.threads = 1;
  const std::vector<dnsbl::source_text> sources = {{"f", text, 0}};
  const std::string want = describe(dnsbl::load_dataset(type, sources, seq));

  std::string spaced = " ";
  for (std::size_t i = 0; i < text.size(); ++i) {
    spaced += text[i];
    if (text[i] == '\n' && i + 1 < text.size()) spaced += ' ';
  }
  const std::vector<dnsbl::source_text> spaced_sources = {{"f", spaced, 0}};
  require(describe(dnsbl::load_dataset(type, spaced_sources, seq)) == want);

  dnsbl::load_options par = seq;
  par.threads = threads;
  require(describe(dnsbl::load_dataset(type, sources, par)) == want);

  // The part after a line start chosen by the input, parsed first, as another thread would.
  std::size_t split = ((std::size_t{data[1]} << 8) | data[2]) % (text.size() + 1);
  split = text.find('\n', split);
  if (split == std::string::npos) return 0;
  ++split;
  const std::string_view before = std::string_view(text).substr(0, split);
  const std::string_view after = std::string_view(text).substr(split);
  dnsbl::dataset_loader loader(type, par);
  loader.begin_source("f", 0);
  auto part = loader.fork_part();
  if (!part) return 0;  // this type is not split
  const std::size_t cut = after.empty() ? 0 : data[3] % (after.size() + 1);
  if (part->feed(after.substr(0, cut))) part->feed(after.substr(cut));
  part->end();
  require(part->stopped_at() <= after.size());
  require(part->stopped() == (part->stopped_at() < after.size()));
  const std::size_t cut2 = data[3] % (before.size() + 1);
  const bool fed = loader.feed(before.substr(0, cut2)) && loader.feed(before.substr(cut2));
  if (fed) {
    const bool absorbed = loader.absorb(*part);
    loader.feed(after.substr(absorbed ? part->stopped_at() : 0));
  }
  loader.end_source();
  require(describe(loader.finish()) == want);
  return 0;
}
