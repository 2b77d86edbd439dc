// Fuzz target for the DNSBL server's whole query path: parse_query and answer() (dnsbl/answer.hpp)
// on arbitrary bytes, against a small built-in zone set, over UDP and TCP. Any response must be
// a well-formed DNS message inside the buffer and the size limit, with QR set, the query's ID,
// and every name readable (compression pointers valid). A broken invariant traps.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dns/message.hpp"
#include "dns/name.hpp"
#include "dnsbl/answer.hpp"
#include "dnsbl/dataset.hpp"
#include "dnsbl/zone.hpp"
#include "require.hpp"

namespace {

using namespace mx;

using fuzz::require;

std::shared_ptr<const dnsbl::zone_set> built_in_zones() {
  auto load = [](dnsbl::dataset_type t, const char* text) {
    const std::vector<dnsbl::source_text> src = {{"builtin", text, 1700000000}};
    auto r = dnsbl::load_dataset(t, src);
    require(r.has_value());
    return r->data;
  };
  const auto ip4 = load(dnsbl::dataset_type::ip4set,
                        "$SOA 1h ns1.bl.test hostmaster.bl.test 0 2h 1h 1w 5m\n"
                        "$NS 1d ns1.bl.test ns2.bl.test\n"
                        ":2:Listed $ see http://bl.test/$\n"
                        "1.2.3.4\n10.0.0.0/8 :3:Range\n!10.1.0.0/16\n192.0.2.0-192.0.2.77\n");
  const auto tset = load(dnsbl::dataset_type::ip4tset, ":5:trap $\n1.2.3.4\n5.6.7.8\n");
  const auto ip6 = load(dnsbl::dataset_type::ip6trie, "2001:db8::/32 :6:v6 $\n!2001:db8::1\n");
  const auto names = load(dnsbl::dataset_type::dnset,
                          "$SOA 0 ns.dbl.test hm.dbl.test 7 1h 1h 1w 1h\n"
                          "example.com\n*.wild.example :3:w $\n.both.example\n");
  const auto comb = load(dnsbl::dataset_type::combined,
                         "$DATASET ip4set proxies @\n127.0.0.10\n$DATASET dnset deep.sub\nx.y\n");
  auto zs = dnsbl::zone_set::build({dnsbl::zone_config{"bl.test", {ip4, tset, ip6}},
                                    dnsbl::zone_config{"dbl.test", {names}},
                                    dnsbl::zone_config{"c.test", {comb}}});
  require(zs.has_value());
  return *zs;
}

std::uint16_t get16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

// Walks a whole response; every name must read, every record stay inside the message.
void check_response(std::span<const std::uint8_t> resp, std::span<const std::uint8_t> query) {
  const auto h = dns::header::read(resp);
  require(h.has_value());
  require(h->has(dns::flag::qr));
  require(!h->has(dns::flag::ra));
  require(h->id == get16(query, 0));
  require(h->qdcount <= 1);
  std::size_t pos = dns::header_octets;
  if (h->qdcount == 1) {
    auto n = dns::read_name(resp, pos);
    require(n.has_value());
    require(pos + 4 <= resp.size());
    // The question is the query's, octet for octet (case included).
    const auto q = dns::parse_query(query);
    require(q.has_value());
    require(n->wire().size() == q->qname.wire().size());
    for (std::size_t i = 0; i < n->wire().size(); ++i) require(n->wire()[i] == q->qname.wire()[i]);
    pos += 4;
  }
  const std::size_t records = std::size_t{h->ancount} + h->nscount + h->arcount;
  for (std::size_t i = 0; i < records; ++i) {
    auto owner = dns::read_name(resp, pos);
    require(owner.has_value());
    require(pos + 10 <= resp.size());
    const std::uint16_t type = get16(resp, pos);
    const std::size_t rdlen = get16(resp, pos + 8);
    pos += 10;
    require(pos + rdlen <= resp.size());
    if (type == dns::rr_type::ns || type == dns::rr_type::soa) {
      std::size_t at = pos;
      require(dns::read_name(resp, at).has_value());
      if (type == dns::rr_type::soa) {
        require(dns::read_name(resp, at).has_value());
        require(at + 20 == pos + rdlen);
      } else {
        require(at == pos + rdlen);
      }
    }
    if (type == dns::rr_type::txt) require(rdlen >= 1 && resp[pos] + 1u == rdlen);
    if (type == dns::rr_type::a) require(rdlen == 4);
    pos += rdlen;
  }
  require(pos == resp.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto zones = built_in_zones();
  static std::vector<std::uint8_t> out(65535);
  const std::span<const std::uint8_t> query(data, size);

  for (const auto via : {dnsbl::transport::udp, dnsbl::transport::tcp}) {
    dnsbl::answer_options opts;
    opts.via = via;
    const auto r = dnsbl::answer(*zones, query, out, opts);
    require(r.size <= out.size());
    if (r.size == 0) {
      require(r.what == dnsbl::outcome::dropped);
      continue;
    }
    const std::span<const std::uint8_t> resp(out.data(), r.size);
    check_response(resp, query);
    const auto q = dns::parse_query(query);
    if (via == dnsbl::transport::udp) {
      const std::size_t limit = q && q->edns ? 1232 : 512;
      require(r.size <= limit);
    }
    if (r.what == dnsbl::outcome::refused) require(r.zone == -1);
  }
  // A buffer under 512 octets is refused without a write.
  std::array<std::uint8_t, 100> tiny{};
  require(dnsbl::answer(*zones, query, tiny).size == 0);
  return 0;
}
