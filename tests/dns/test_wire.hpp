// Test helpers: build query messages and decode responses into comparable text. Shared by
// tests/dns and tests/dnsbl (included by relative path).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dns/message.hpp"
#include "dns/name.hpp"

namespace mx::dns::testing {

struct query_spec {
  std::uint16_t id = 0x1234;
  std::uint16_t flags = flag::rd;
  std::string qname = "example.test";
  std::uint16_t qtype = rr_type::a;
  std::uint16_t qclass = rr_class::in;
  std::optional<std::uint16_t> edns_size;  // adds an OPT record
  std::uint8_t edns_version = 0;
  bool dnssec_ok = false;

  // Chained setters: designated initializers that skip members trip -Wmissing-field-initializers.
  query_spec& with_name(std::string n) {
    qname = std::move(n);
    return *this;
  }
  query_spec& with_type(std::uint16_t t) {
    qtype = t;
    return *this;
  }
  query_spec& with_class(std::uint16_t c) {
    qclass = c;
    return *this;
  }
  query_spec& with_id(std::uint16_t i) {
    id = i;
    return *this;
  }
  query_spec& with_flags(std::uint16_t f) {
    flags = f;
    return *this;
  }
  query_spec& with_edns(std::uint16_t size, std::uint8_t version = 0) {
    edns_size = size;
    edns_version = version;
    return *this;
  }
  query_spec& with_do() {
    dnssec_ok = true;
    return *this;
  }
};

inline header make_header(std::uint16_t id, std::uint16_t qdcount) {
  header h;
  h.id = id;
  h.qdcount = qdcount;
  return h;
}

inline void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

inline std::vector<std::uint8_t> build_query(const query_spec& q) {
  std::vector<std::uint8_t> out;
  put16(out, q.id);
  put16(out, q.flags);
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, q.edns_size ? 1 : 0);
  const auto n = name::from_text(q.qname);
  if (!n) return {};
  const auto w = n->wire();
  out.insert(out.end(), w.begin(), w.end());
  put16(out, q.qtype);
  put16(out, q.qclass);
  if (q.edns_size) {
    out.push_back(0);
    put16(out, rr_type::opt);
    put16(out, *q.edns_size);
    out.push_back(0);
    out.push_back(q.edns_version);
    put16(out, q.dnssec_ok ? 0x8000 : 0);
    put16(out, 0);
  }
  return out;
}

struct decoded_rr {
  std::string owner;  // text, case as in the message
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::string data;  // "127.0.0.2", "\"text\"", "ns.example. host.example. 1 2 3 4 5", ...
};

struct decoded {
  bool ok = false;
  std::string error;
  header hdr;
  std::string qname;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::vector<decoded_rr> answer, authority, additional;

  std::uint8_t rcode() const { return static_cast<std::uint8_t>(hdr.flags & flag::rcode_mask); }
};

inline std::uint32_t get32(const std::vector<std::uint8_t>& m, std::size_t at) {
  return (static_cast<std::uint32_t>(m[at]) << 24) | (static_cast<std::uint32_t>(m[at + 1]) << 16) |
         (static_cast<std::uint32_t>(m[at + 2]) << 8) | m[at + 3];
}

// Decodes a whole response; every name is read with read_name, so a bad compression pointer
// written by the server shows up as a decode error.
inline decoded decode(const std::vector<std::uint8_t>& m) {
  decoded d;
  const auto h = header::read(m);
  if (!h) {
    d.error = "short";
    return d;
  }
  d.hdr = *h;
  std::size_t pos = header_octets;
  for (int i = 0; i < h->qdcount; ++i) {
    auto n = read_name(m, pos);
    if (!n || pos + 4 > m.size()) {
      d.error = "bad question";
      return d;
    }
    d.qname = n->to_text();
    d.qtype = static_cast<std::uint16_t>((m[pos] << 8) | m[pos + 1]);
    d.qclass = static_cast<std::uint16_t>((m[pos + 2] << 8) | m[pos + 3]);
    pos += 4;
  }
  const int counts[3] = {h->ancount, h->nscount, h->arcount};
  std::vector<decoded_rr>* sections[3] = {&d.answer, &d.authority, &d.additional};
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < counts[s]; ++i) {
      decoded_rr rr;
      auto owner = read_name(m, pos);
      if (!owner || pos + 10 > m.size()) {
        d.error = "bad record header";
        return d;
      }
      rr.owner = owner->to_text();
      rr.type = static_cast<std::uint16_t>((m[pos] << 8) | m[pos + 1]);
      rr.klass = static_cast<std::uint16_t>((m[pos + 2] << 8) | m[pos + 3]);
      rr.ttl = get32(m, pos + 4);
      const std::size_t rdlen = static_cast<std::size_t>((m[pos + 8] << 8) | m[pos + 9]);
      pos += 10;
      if (pos + rdlen > m.size()) {
        d.error = "rdata past end";
        return d;
      }
      const std::size_t end = pos + rdlen;
      if (rr.type == rr_type::a && rdlen == 4) {
        rr.data = std::to_string(m[pos]) + "." + std::to_string(m[pos + 1]) + "." +
                  std::to_string(m[pos + 2]) + "." + std::to_string(m[pos + 3]);
      } else if (rr.type == rr_type::txt) {
        std::size_t at = pos;
        while (at < end) {
          const std::size_t len = m[at];
          if (at + 1 + len > end) {
            d.error = "bad TXT";
            return d;
          }
          if (!rr.data.empty()) rr.data += " ";
          rr.data += "\"" +
                     std::string(m.begin() + static_cast<long>(at) + 1,
                                 m.begin() + static_cast<long>(at + 1 + len)) +
                     "\"";
          at += 1 + len;
        }
      } else if (rr.type == rr_type::ns || rr.type == rr_type::cname) {
        std::size_t at = pos;
        auto n = read_name(m, at);
        if (!n || at != end) {
          d.error = "bad NS";
          return d;
        }
        rr.data = n->to_text();
      } else if (rr.type == rr_type::soa) {
        std::size_t at = pos;
        auto mname = read_name(m, at);
        auto rname = mname ? read_name(m, at) : mname;
        if (!mname || !rname || at + 20 != end) {
          d.error = "bad SOA";
          return d;
        }
        rr.data = mname->to_text() + " " + rname->to_text();
        for (int k = 0; k < 5; ++k) rr.data += " " + std::to_string(get32(m, at + 4 * k));
      } else if (rr.type == rr_type::opt) {
        rr.data = "udp=" + std::to_string(rr.klass);
      } else {
        rr.data = "rdlen=" + std::to_string(rdlen);
      }
      pos = end;
      sections[s]->push_back(rr);
    }
  }
  if (pos != m.size()) {
    d.error = "trailing octets";
    return d;
  }
  d.ok = true;
  return d;
}

}  // namespace mx::dns::testing
