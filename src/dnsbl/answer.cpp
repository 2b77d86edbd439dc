#include "dnsbl/answer.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "dns/message.hpp"
#include "dns/writer.hpp"

namespace mx::dnsbl {

namespace {

using dns::section;

constexpr std::size_t opt_rr_octets = 11;  // root name, type, class, TTL, RDLENGTH 0
constexpr std::size_t max_hits = 64;       // answers per query; more are dropped

struct hit {
  const leaf* set;
  std::uint32_t value;
  std::uint8_t subject_labels;
};

struct verdict {
  std::uint8_t rcode = dns::rcode::noerror;
  outcome what = outcome::nodata;
  bool aa = true;
  bool negative_soa = false;  // add the SOA to the authority section
};

bool write_soa(dns::writer& w, section s, const zone& z, std::uint32_t ttl) {
  const soa_data& soa = *z.soa;
  return w.begin_rr(s, z.apex, dns::rr_type::soa, dns::rr_class::in, ttl) &&
         w.write_name(soa.mname) && w.write_name(soa.rname) && w.write_u32(soa.serial) &&
         w.write_u32(soa.refresh) && w.write_u32(soa.retry) && w.write_u32(soa.expire) &&
         w.write_u32(soa.minimum) && w.end_rr();
}

bool write_ns(dns::writer& w, const zone& z) {
  for (const auto& n : z.ns->names) {
    if (!w.begin_rr(section::answer, z.apex, dns::rr_type::ns, dns::rr_class::in, z.ns->ttl) ||
        !w.write_name(n) || !w.end_rr()) {
      return false;
    }
  }
  return true;
}

// The "$" subject of a hit: the queried address, or the matching dnset entry.
std::size_t subject_text(const hit& h, const lookup_key& key, std::span<char, 256> buf) {
  switch (h.set->family()) {
    case key_family::ip4: {
      const std::uint32_t p = key.v4_full() ? key.v4 : key.mapped_v4().value_or(0);
      return text::ip4_to_text(p, buf.data());
    }
    case key_family::ip6:
      return text::ip6_to_text(key.v6, buf.data());
    case key_family::name: {
      std::size_t n = 0;
      for (std::size_t i = key.labels - h.subject_labels; i < key.labels; ++i) {
        if (n > 0 && n < buf.size()) buf[n++] = '.';
        for (const auto c : key.label(i)) {
          if (n < buf.size()) buf[n++] = static_cast<char>(c);
        }
      }
      return n;
    }
  }
  return 0;
}

class responder {
 public:
  responder(const zone_set& zones, const dns::query& q, dns::writer& w, const answer_options& opts)
      : zones_(zones), q_(q), w_(w), opts_(opts) {}

  verdict run(int& zone_index) {
    verdict v;
    if (q_.qclass != dns::rr_class::in && q_.qclass != dns::rr_class::any) {
      return refuse(outcome::refused, dns::rcode::refused);
    }
    switch (q_.qtype) {
      case dns::rr_type::opt:
        return refuse(outcome::formerr, dns::rcode::formerr);
      case dns::rr_type::tsig:
      case dns::rr_type::mailb:
      case dns::rr_type::maila:
        return refuse(outcome::notimp, dns::rcode::notimp);
      case dns::rr_type::axfr:
        // RFC 5936 4.2: AXFR over UDP is not defined (BIND answers FORMERR too). Over TCP the
        // shell serves the peers it allows (transfer.hpp); whoever reaches here is refused.
        if (opts_.via == transport::udp) return refuse(outcome::formerr, dns::rcode::formerr);
        return refuse(outcome::refused, dns::rcode::refused);
      case dns::rr_type::ixfr:
        return refuse(outcome::refused, dns::rcode::refused);
      default:
        break;
    }
    zone_ = zones_.find(q_.qname, &zone_index);
    if (!zone_) return refuse(outcome::refused, dns::rcode::refused);
    v.aa = q_.qclass == dns::rr_class::in;
    lower_ = q_.qname;
    lower_.to_lower();
    const std::size_t rel = lower_.label_count() - zone_->apex.label_count();
    if (rel == 0) return apex(v);
    return below(v, rel);
  }

  bool truncated() const { return truncated_; }

 private:
  static verdict refuse(outcome o, std::uint8_t rcode) {
    verdict v;
    v.rcode = rcode;
    v.what = o;
    v.aa = false;
    return v;
  }

  verdict apex(verdict v) {
    const bool want_soa = q_.qtype == dns::rr_type::soa || q_.qtype == dns::rr_type::any;
    const bool want_ns = q_.qtype == dns::rr_type::ns || q_.qtype == dns::rr_type::any;
    const auto mark = w_.save();
    bool any = false;
    bool ok = true;
    if (want_soa && zone_->soa) {
      ok = ok && write_soa(w_, section::answer, *zone_, zone_->soa->ttl);
      any = true;
    }
    if (want_ns && zone_->ns) {
      ok = ok && write_ns(w_, *zone_);
      any = true;
    }
    if (!ok) {
      w_.restore(mark);
      truncated_ = true;
    }
    v.what = any ? outcome::apex : outcome::nodata;
    v.negative_soa = !any;
    return v;
  }

  verdict below(verdict v, std::size_t rel) {
    const auto wire = lower_.wire();
    const std::size_t rel_end = lower_.label_offset(rel);  // octets of the relative labels
    // The most specific subzone that holds the name (the root always does).
    std::size_t first = zone_->bindings.size();
    std::size_t sub_labels = 0;
    for (std::size_t i = 0; i < zone_->bindings.size(); ++i) {
      const dns::name& s = zone_->bindings[i].subzone;
      if (s.label_count() > rel) continue;
      const std::size_t at = lower_.label_offset(rel - s.label_count());
      const auto sw = s.wire().first(s.wire_length() - 1);
      if (rel_end - at == sw.size() &&
          std::equal(sw.begin(), sw.end(), wire.begin() + static_cast<std::ptrdiff_t>(at))) {
        first = i;
        sub_labels = s.label_count();
        break;
      }
    }
    bool exists = false;
    std::size_t nhits = 0;
    const std::size_t key_end = lower_.label_offset(rel - sub_labels);
    if (first < zone_->bindings.size()) {
      if (key_end == 0) {
        exists = true;  // the subzone's own name
      } else {
        key_ = lookup_key::from_labels(wire.first(key_end));
        const dns::name& sz = zone_->bindings[first].subzone;
        for (std::size_t i = first; i < zone_->bindings.size() && zone_->bindings[i].subzone == sz;
             ++i) {
          const auto& b = zone_->bindings[i];
          if (b.expires != 0 && opts_.now != 0 && opts_.now > b.expires) continue;
          const match m = b.set->lookup(key_);
          if (m.what == found::exists) exists = true;
          if (m.what != found::listed) continue;
          for (const auto val : m.values) {
            if (nhits < max_hits) hits_[nhits++] = {b.set.get(), val, m.subject_labels};
          }
        }
      }
    }
    if (nhits == 0 && !exists) {
      // An ancestor of a subzone exists too (e.g. "b" for subzone "a.b").
      const auto rw = wire.first(rel_end);
      for (const auto& s : zone_->subzones) {
        if (s.label_count() <= rel) continue;
        const std::size_t at = s.label_offset(s.label_count() - rel);
        const auto sw = s.wire().subspan(at, s.wire_length() - 1 - at);
        if (std::equal(sw.begin(), sw.end(), rw.begin(), rw.end())) {
          exists = true;
          break;
        }
      }
    }
    if (nhits == 0) {
      v.what = exists ? outcome::nodata : outcome::not_listed;
      v.rcode = exists ? dns::rcode::noerror : dns::rcode::nxdomain;
      v.negative_soa = true;
      return v;
    }
    v.what = outcome::listed;
    const auto mark = w_.save();
    const bool written = write_hits(nhits);
    if (w_.overflowed()) {
      w_.restore(mark);
      truncated_ = true;
    } else if (!written) {
      v.negative_soa = true;  // listed, but nothing of this type: NODATA
    }
    return v;
  }

  // Writes the A and TXT records of the hits; false when none was of the asked type.
  bool write_hits(std::size_t nhits) {
    const bool want_a = q_.qtype == dns::rr_type::a || q_.qtype == dns::rr_type::any;
    const bool want_txt = q_.qtype == dns::rr_type::txt || q_.qtype == dns::rr_type::any;
    bool wrote = false;
    if (want_a) {
      std::uint32_t ttl = 0xFFFFFFFFu;
      for (std::size_t i = 0; i < nhits; ++i) ttl = std::min(ttl, hits_[i].set->ttl());
      std::array<std::uint32_t, max_hits> seen;  // NOLINT: [0, nseen) written before read
      std::size_t nseen = 0;
      for (std::size_t i = 0; i < nhits; ++i) {
        const std::uint32_t a = hits_[i].set->values().at(hits_[i].value).a;
        if (std::find(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(nseen), a) !=
            seen.begin() + static_cast<std::ptrdiff_t>(nseen)) {
          continue;
        }
        seen[nseen++] = a;
        if (!w_.begin_rr(section::answer, q_.qname, dns::rr_type::a, dns::rr_class::in, ttl) ||
            !w_.write_u32(a) || !w_.end_rr()) {
          return wrote;
        }
        wrote = true;
      }
    }
    if (want_txt) {
      std::uint32_t ttl = 0xFFFFFFFFu;
      for (std::size_t i = 0; i < nhits; ++i) {
        const auto& vals = hits_[i].set->values();
        if (vals.at(hits_[i].value).txt_length != 0) ttl = std::min(ttl, hits_[i].set->ttl());
      }
      std::array<std::pair<std::size_t, std::size_t>, max_hits> seen;  // rdata in out
      std::size_t nseen = 0;
      for (std::size_t i = 0; i < nhits; ++i) {
        const auto& vals = hits_[i].set->values();
        const value& val = vals.at(hits_[i].value);
        if (val.txt_length == 0) continue;
        std::array<char, 256> subject;  // NOLINT: written before read
        const std::size_t slen = subject_text(hits_[i], key_, subject);
        std::array<char, max_txt_octets> txt;  // NOLINT: written before read
        const std::size_t tlen =
            expand_template(vals.final_template(val), std::string_view(subject.data(), slen), txt);
        if (tlen == 0) continue;
        const auto out = w_.written();
        bool dup = false;
        for (std::size_t k = 0; k < nseen && !dup; ++k) {
          dup = seen[k].second == tlen &&
                std::memcmp(out.data() + seen[k].first, txt.data(), tlen) == 0;
        }
        if (dup) continue;
        if (!w_.begin_rr(section::answer, q_.qname, dns::rr_type::txt, dns::rr_class::in, ttl) ||
            !w_.write_u8(static_cast<std::uint8_t>(tlen))) {
          return wrote;
        }
        const std::size_t at = w_.size();
        if (!w_.write_bytes({reinterpret_cast<const std::uint8_t*>(txt.data()), tlen}) ||
            !w_.end_rr()) {
          return wrote;
        }
        seen[nseen++] = {at, tlen};
        wrote = true;
      }
    }
    return wrote;
  }

 public:
  const zone* zone_ptr() const { return zone_; }

 private:
  const zone_set& zones_;
  const dns::query& q_;
  dns::writer& w_;
  const answer_options& opts_;
  const zone* zone_ = nullptr;
  dns::name lower_;
  lookup_key key_;
  std::array<hit, max_hits> hits_;  // [0, nhits) written before read
  bool truncated_ = false;
};

answer_result header_only(std::span<std::uint8_t> out, const dns::header& h, std::uint8_t rcode,
                          outcome what) {
  dns::writer w(out, out.size());
  dns::header r;
  r.id = h.id;
  w.write_header(r);
  const auto flags = static_cast<std::uint16_t>(
      dns::flag::qr | (h.flags & (dns::flag::opcode_mask | dns::flag::rd)) | rcode);
  answer_result res;
  res.size = w.finish(flags);
  res.what = what;
  return res;
}

}  // namespace

std::string_view name_of(outcome o) {
  switch (o) {
    case outcome::dropped:
      return "dropped";
    case outcome::formerr:
      return "formerr";
    case outcome::notimp:
      return "notimp";
    case outcome::refused:
      return "refused";
    case outcome::badvers:
      return "badvers";
    case outcome::listed:
      return "listed";
    case outcome::not_listed:
      return "not_listed";
    case outcome::nodata:
      return "nodata";
    case outcome::apex:
      return "apex";
  }
  return "?";
}

answer_result answer(const zone_set& zones, std::span<const std::uint8_t> query,
                     std::span<std::uint8_t> out, const answer_options& opts) {
  answer_result res;
  if (out.size() < dns::classic_udp_size) return res;
  const auto parsed = dns::parse_query(query);
  if (!parsed) {
    const auto& f = parsed.error();
    switch (f.fault) {
      case dns::query_fault::drop:
        return res;
      case dns::query_fault::formerr:
        return header_only(out, f.hdr, dns::rcode::formerr, outcome::formerr);
      case dns::query_fault::notimp:
        return header_only(out, f.hdr, dns::rcode::notimp, outcome::notimp);
    }
    return res;
  }
  const dns::query& q = *parsed;

  std::size_t limit = dns::max_message_size;
  const std::size_t ours = std::max<std::size_t>(opts.udp_payload, dns::classic_udp_size);
  if (opts.via == transport::udp) {
    limit = q.edns ? std::clamp<std::size_t>(q.edns->udp_payload, dns::classic_udp_size, ours)
                   : dns::classic_udp_size;
  }
  dns::writer w(out, limit);
  dns::header h;
  h.id = q.hdr.id;
  h.qdcount = 1;
  if (!w.write_header(h) || !w.write_question(q.qname, q.qtype, q.qclass)) return res;
  if (q.edns && !w.reserve(opt_rr_octets)) return res;

  std::uint16_t ext_rcode = 0;  // the upper 8 bits of a 12-bit RCODE, carried in the OPT
  verdict v;
  bool truncated = false;
  if (q.edns && q.edns->version != 0) {
    v.rcode = 0;
    v.aa = false;
    v.what = outcome::badvers;
    ext_rcode = dns::rcode::badvers >> 4;
  } else {
    responder r(zones, q, w, opts);
    v = r.run(res.zone);
    truncated = r.truncated();
    if (v.negative_soa && !truncated && r.zone_ptr() && r.zone_ptr()->soa) {
      const zone& z = *r.zone_ptr();
      const auto mark = w.save();
      if (!write_soa(w, section::authority, z, std::min(z.soa->ttl, z.soa->minimum))) {
        w.restore(mark);
        truncated = true;
      }
    }
  }
  if (q.edns) {
    w.release(opt_rr_octets);
    const std::uint32_t ttl =
        (static_cast<std::uint32_t>(ext_rcode) << 24) | (q.edns->dnssec_ok ? 0x8000u : 0u);
    if (!w.begin_rr(section::additional, dns::name(), dns::rr_type::opt,
                    static_cast<std::uint16_t>(ours), ttl) ||
        !w.end_rr()) {
      return answer_result{};  // cannot happen: the room was reserved
    }
  }
  std::uint16_t flags =
      dns::flag::qr | (q.hdr.flags & (dns::flag::opcode_mask | dns::flag::rd | dns::flag::cd));
  if (v.aa) flags |= dns::flag::aa;
  if (truncated) flags |= dns::flag::tc;
  flags |= v.rcode & dns::flag::rcode_mask;
  res.size = w.finish(flags);
  res.what = v.what;
  res.truncated = truncated;
  return res;
}

}  // namespace mx::dnsbl
