#include "dns/message.hpp"

namespace mx::dns {

namespace {

std::uint16_t get16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

mx::unexpected<query_failure> fail(query_fault f, const header& h, std::string_view why) {
  return mx::unexpected(query_failure{f, h, why});
}

// Walks one resource record at pos; fills type/class/ttl and the rdata span.
struct raw_rr {
  bool root_owner = false;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::span<const std::uint8_t> rdata;
};

bool read_rr(std::span<const std::uint8_t> msg, std::size_t& pos, raw_rr& rr) {
  auto owner = read_name(msg, pos);
  if (!owner) return false;
  if (pos + 10 > msg.size()) return false;
  rr.root_owner = owner->is_root();
  rr.type = get16(msg, pos);
  rr.klass = get16(msg, pos + 2);
  rr.ttl = (static_cast<std::uint32_t>(get16(msg, pos + 4)) << 16) | get16(msg, pos + 6);
  const std::size_t rdlen = get16(msg, pos + 8);
  pos += 10;
  if (pos + rdlen > msg.size()) return false;
  rr.rdata = msg.subspan(pos, rdlen);
  pos += rdlen;
  return true;
}

// RFC 6891 6.1.2: OPT RDATA is a sequence of {code, length, data}; a length running past the
// RDATA makes the OPT malformed.
bool options_well_formed(std::span<const std::uint8_t> rdata) {
  std::size_t at = 0;
  while (at < rdata.size()) {
    if (at + 4 > rdata.size()) return false;
    const std::size_t len = get16(rdata, at + 2);
    at += 4;
    if (at + len > rdata.size()) return false;
    at += len;
  }
  return true;
}

}  // namespace

std::optional<header> header::read(std::span<const std::uint8_t> msg) {
  if (msg.size() < header_octets) return std::nullopt;
  header h;
  h.id = get16(msg, 0);
  h.flags = get16(msg, 2);
  h.qdcount = get16(msg, 4);
  h.ancount = get16(msg, 6);
  h.nscount = get16(msg, 8);
  h.arcount = get16(msg, 10);
  return h;
}

mx::expected<query, query_failure> parse_query(std::span<const std::uint8_t> msg) {
  const auto h = header::read(msg);
  if (!h) return fail(query_fault::drop, header{}, "shorter than a header");
  if (h->has(flag::qr)) return fail(query_fault::drop, *h, "a response, not a query");
  if (h->opcode() != opcode_query) return fail(query_fault::notimp, *h, "opcode not QUERY");
  if (h->qdcount != 1) return fail(query_fault::formerr, *h, "question count is not 1");

  query q;
  q.hdr = *h;
  std::size_t pos = header_octets;
  auto qname = read_name(msg, pos);
  if (!qname) return fail(query_fault::formerr, *h, describe(qname.error()));
  if (pos + 4 > msg.size()) return fail(query_fault::formerr, *h, "question truncated");
  q.qname = *qname;
  q.qtype = get16(msg, pos);
  q.qclass = get16(msg, pos + 2);
  pos += 4;
  q.question_end = pos;

  const std::size_t skipped = std::size_t{h->ancount} + h->nscount;
  raw_rr rr;
  for (std::size_t i = 0; i < skipped; ++i) {
    if (!read_rr(msg, pos, rr)) return fail(query_fault::formerr, *h, "malformed record");
  }
  for (std::size_t i = 0; i < h->arcount; ++i) {
    if (!read_rr(msg, pos, rr)) return fail(query_fault::formerr, *h, "malformed record");
    if (rr.type != rr_type::opt) continue;
    if (q.edns) return fail(query_fault::formerr, *h, "more than one OPT record");
    if (!rr.root_owner) return fail(query_fault::formerr, *h, "OPT owner is not the root");
    if (!options_well_formed(rr.rdata)) return fail(query_fault::formerr, *h, "malformed OPT");
    edns_info e;
    e.udp_payload = rr.klass;
    e.version = static_cast<std::uint8_t>((rr.ttl >> 16) & 0xFF);
    e.dnssec_ok = (rr.ttl & 0x8000) != 0;
    q.edns = e;
  }
  return q;
}

}  // namespace mx::dns
