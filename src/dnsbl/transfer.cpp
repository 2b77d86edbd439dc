#include "dnsbl/transfer.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "dns/writer.hpp"

namespace mx::dnsbl {

namespace {

using traits = key_traits<u128>;

constexpr std::size_t opt_rr_octets = 11;

// The value with its low `bits` bits set.
u128 low_ones(int bits) {
  if (bits <= 0) return {};
  if (bits >= 128) return {~0ULL, ~0ULL};
  if (bits > 64) return {~0ULL >> (128 - bits), ~0ULL};
  return {0, bits == 64 ? ~0ULL : ((1ULL << bits) - 1)};
}
u128 bit_or(u128 a, u128 b) {
  return {a.hi | b.hi, a.lo | b.lo};
}
bool is_aligned(u128 v, int bits) {
  const u128 m = low_ones(bits);
  return (v.hi & m.hi) == 0 && (v.lo & m.lo) == 0;
}

// Address layout per family: label width in bits, address width, widest wildcard block (a
// wildcard at the subzone itself would also cover names that are not addresses).
struct layout {
  int unit;
  int total;
  int max_wild;
  u128 max;
};
layout layout_of(key_family f) {
  if (f == key_family::ip4) return {8, 32, 24, {0, 0xFFFFFFFFu}};
  return {4, 128, 124, {~0ULL, ~0ULL}};
}

// Bits [from, from + width) of v counted from the most significant end of a `total`-bit value.
unsigned field(u128 v, int total, int from, int width) {
  const int shift = total - from - width;  // from the low end
  std::uint64_t x = 0;
  if (shift >= 64) {
    x = v.hi >> (shift - 64);
  } else if (shift == 0) {
    x = v.lo;
  } else {
    x = (v.lo >> shift) | (v.hi << (64 - shift));
  }
  return static_cast<unsigned>(x & ((1u << width) - 1));
}

text::ip6_bytes to_bytes(u128 v) {
  text::ip6_bytes b{};
  for (int i = 0; i < 8; ++i) {
    b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v.hi >> (56 - 8 * i));
    b[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(v.lo >> (56 - 8 * i));
  }
  return b;
}

bool label_is(std::string_view reversed, std::string_view word) {
  return reversed.size() == word.size() + 1 &&
         static_cast<std::size_t>(static_cast<unsigned char>(reversed[0])) == word.size() &&
         reversed.substr(1) == word;
}

}  // namespace

zone_walker::zone_walker(std::shared_ptr<const zone_set> zones, std::size_t zone, std::int64_t now)
    : zones_(std::move(zones)), z_(&zones_->zones()[zone]), now_(now) {
  excluded_ = z_->apex;
  const std::uint8_t label[] = {'e', 'x', 'c', 'l', 'u', 'd', 'e', 'd'};
  std::array<std::uint8_t, dns::max_name_octets> buf{};
  buf[0] = sizeof label;
  std::memcpy(buf.data() + 1, label, sizeof label);
  const auto apex = z_->apex.wire();
  if (apex.size() - 1 + 1 + sizeof label <= buf.size()) {
    std::copy(apex.begin(), apex.end() - 1, buf.begin() + 1 + sizeof label);
    if (auto n = dns::name::from_labels({buf.data(), apex.size() - 1 + 1 + sizeof label})) {
      excluded_ = *n;
    }
  }
  batch_.resize(8);
}

xfr_record& zone_walker::add(const dns::name& owner, std::uint16_t type, std::uint32_t ttl) {
  if (batch_used_ == batch_.size()) batch_.resize(batch_.size() * 2);
  xfr_record& r = batch_[batch_used_++];
  r.owner = owner;
  r.type = type;
  r.ttl = ttl;
  r.txt_length = 0;
  r.target = nullptr;
  return r;
}

bool zone_walker::next(xfr_record& out) {
  for (;;) {
    if (batch_pos_ < batch_used_) {
      out = batch_[batch_pos_++];
      return true;
    }
    batch_used_ = batch_pos_ = 0;
    switch (stage_) {
      case stage::soa_first:
      case stage::soa_last:
        add(z_->apex, dns::rr_type::soa, z_->soa ? z_->soa->ttl : 0);
        stage_ = stage_ == stage::soa_first ? stage::ns : stage::done;
        break;
      case stage::ns:
        if (z_->ns && ns_i_ < z_->ns->names.size()) {
          add(z_->apex, dns::rr_type::ns, z_->ns->ttl).target = &z_->ns->names[ns_i_++];
        } else {
          stage_ = stage::data;
        }
        break;
      case stage::data:
        if (!fill_data()) stage_ = stage::soa_last;
        break;
      case stage::done:
        return false;
    }
  }
}

bool zone_walker::usable(const zone_binding& b, key_family f) const {
  if (b.expires != 0 && now_ != 0 && now_ > b.expires) return false;
  return b.set->family() == f;
}

bool zone_walker::fill_data() {
  const auto& bindings = z_->bindings;
  for (;;) {
    switch (phase_) {
      case phase::start_group: {
        if (group_begin_ >= bindings.size()) return false;
        const dns::name& sz = bindings[group_begin_].subzone;
        group_end_ = group_begin_;
        while (group_end_ < bindings.size() && bindings[group_end_].subzone == sz) ++group_end_;
        const auto sw = sz.wire();
        const auto aw = z_->apex.wire();
        suffix_length_ = 0;
        if (sw.size() - 1 + aw.size() - 1 > suffix_.size()) {
          phase_ = phase::next_group;  // cannot be: zone_set built these names
          break;
        }
        std::copy(sw.begin(), sw.end() - 1, suffix_.begin());
        std::copy(aw.begin(), aw.end() - 1,
                  suffix_.begin() + static_cast<std::ptrdiff_t>(sw.size() - 1));
        suffix_length_ = sw.size() - 1 + aw.size() - 1;
        start_ip(key_family::ip4);
        phase_ = phase::v4;
        break;
      }
      case phase::v4:
      case phase::v6:
        if (ip_step()) return true;
        if (phase_ == phase::v4) {
          start_ip(key_family::ip6);
          phase_ = phase::v6;
        } else {
          name_leaf_ = group_begin_;
          name_cursor_ = {};
          test_done_ = false;
          phase_ = phase::names;
        }
        break;
      case phase::names:
        if (name_step()) return true;
        phase_ = phase::next_group;
        break;
      case phase::next_group:
        group_begin_ = group_end_;
        phase_ = phase::start_group;
        break;
    }
  }
}

void zone_walker::start_ip(key_family f) {
  family_ = f;
  sources_.clear();
  specials_.clear();
  bool test_points = false;
  for (std::size_t i = group_begin_; i < group_end_; ++i) {
    const auto& b = z_->bindings[i];
    if (!usable(b, f)) continue;
    ip_source s;
    s.set = b.set.get();
    s.has = s.set->next_run(s.cursor, s.run);
    sources_.push_back(s);
    test_points = test_points || s.set->test_points();
  }
  if (test_points) {
    if (f == key_family::ip4) {
      specials_ = {{0, 0x7F000001u}, {0, 0x7F000002u}};
    } else {
      specials_ = {{0, 0x0000FFFF7F000001ULL}, {0, 0x0000FFFF7F000002ULL}};
    }
  }
  pos_valid_ = false;
  sweep_done_ = sources_.empty();
  in_run_ = false;
}

// The next run of addresses [run_cur_, run_hi_] with one set of hits, over every source at
// once: a sweep that stops at each run's start and end, and at the test points.
bool zone_walker::merge_next() {
  const layout lay = layout_of(family_);
  while (!sweep_done_) {
    for (auto& s : sources_) {
      while (s.has && pos_valid_ && s.run.hi < pos_) s.has = s.set->next_run(s.cursor, s.run);
    }
    bool found = false;
    u128 a{};
    auto consider = [&](u128 v) {
      if (!found || v < a) a = v;
      found = true;
    };
    for (const auto& s : sources_) {
      if (s.has) consider(pos_valid_ && s.run.lo < pos_ ? pos_ : s.run.lo);
    }
    for (const auto& p : specials_) {
      if (!pos_valid_ || !(p < pos_)) consider(p);
    }
    if (!found) {
      sweep_done_ = true;
      return false;
    }
    u128 end = lay.max;
    hits_.clear();
    for (const auto& s : sources_) {
      if (!s.has) continue;
      if (s.run.lo <= a) {
        end = std::min(end, s.run.hi);
        for (const auto v : s.run.values) hits_.push_back({s.set, v});
      } else {
        end = std::min(end, traits::prev(s.run.lo));
      }
    }
    bool special = false;
    for (const auto& p : specials_) {
      if (p == a) {
        end = a;
        special = true;
      } else if (a < p) {
        end = std::min(end, traits::prev(p));
      }
    }
    if (end == lay.max) {
      sweep_done_ = true;
    } else {
      pos_ = traits::next(end);
      pos_valid_ = true;
    }
    if (special) {
      if (a == specials_[0]) {  // never listed
        std::erase_if(hits_, [](const hit& h) { return h.first->test_points(); });
      } else {  // always listed: the set's first default unless its data lists it
        for (const auto& s : sources_) {
          if (!s.set->test_points()) continue;
          const bool listed = std::any_of(hits_.begin(), hits_.end(),
                                          [&](const hit& h) { return h.first == s.set; });
          if (!listed) hits_.push_back({s.set, s.set->default_value()});
        }
      }
    }
    if (hits_.empty()) continue;
    run_cur_ = a;
    run_hi_ = end;
    return true;
  }
  return false;
}

bool zone_walker::ip_step() {
  const layout lay = layout_of(family_);
  for (;;) {
    if (!in_run_) {
      if (!merge_next()) return false;
      in_run_ = true;
    }
    // The widest aligned block at run_cur_ that stays inside the run.
    int bits = lay.max_wild;
    while (bits > 0 &&
           (!is_aligned(run_cur_, bits) || run_hi_ < bit_or(run_cur_, low_ones(bits)))) {
      bits -= lay.unit;
    }
    const u128 base = run_cur_;
    const u128 block_end = bit_or(run_cur_, low_ones(bits));
    if (block_end == run_hi_) {
      in_run_ = false;
    } else {
      run_cur_ = traits::next(block_end);
    }
    emit_block(base, bits);
    if (batch_used_ > 0) return true;
  }
}

bool zone_walker::make_owner(std::span<const std::uint8_t> labels, dns::name& out) const {
  std::array<std::uint8_t, 2 * dns::max_name_octets> buf;  // NOLINT: written before read
  if (labels.size() + suffix_length_ > dns::max_name_octets - 1) return false;
  std::copy(labels.begin(), labels.end(), buf.begin());
  std::copy(suffix_.begin(), suffix_.begin() + static_cast<std::ptrdiff_t>(suffix_length_),
            buf.begin() + static_cast<std::ptrdiff_t>(labels.size()));
  auto n = dns::name::from_labels({buf.data(), labels.size() + suffix_length_});
  if (!n) return false;
  out = *n;
  return true;
}

void zone_walker::emit_block(const u128& base, int wildcard_bits) {
  const layout lay = layout_of(family_);
  std::array<std::uint8_t, dns::max_name_octets> labels;  // NOLINT: written before read
  std::size_t n = 0;
  if (wildcard_bits > 0) {
    labels[n++] = 1;
    labels[n++] = '*';
  }
  // Reversed: the least significant fixed label first.
  const int fixed = (lay.total - wildcard_bits) / lay.unit;
  for (int i = fixed - 1; i >= 0; --i) {
    const unsigned v = field(base, lay.total, i * lay.unit, lay.unit);
    if (family_ == key_family::ip4) {
      char digits[4];
      const int len = std::snprintf(digits, sizeof digits, "%u", v);
      labels[n++] = static_cast<std::uint8_t>(len);
      for (int k = 0; k < len; ++k) labels[n++] = static_cast<std::uint8_t>(digits[k]);
    } else {
      labels[n++] = 1;
      labels[n++] = static_cast<std::uint8_t>("0123456789abcdef"[v]);
    }
  }
  dns::name owner;
  if (!make_owner({labels.data(), n}, owner)) return;
  std::array<char, 64> subject;  // NOLINT: written before read
  std::size_t slen = 0;
  if (family_ == key_family::ip4) {
    slen = text::ip4_to_text(static_cast<std::uint32_t>(base.lo), subject.data());
  } else {
    slen = text::ip6_to_text(to_bytes(base), subject.data());
  }
  push_values(owner, hits_, std::string_view(subject.data(), slen));
}

void zone_walker::push_values(const dns::name& owner, std::span<const hit> hits,
                              std::string_view subject) {
  std::uint32_t a_ttl = 0xFFFFFFFFu;
  std::uint32_t txt_ttl = 0xFFFFFFFFu;
  for (const auto& [set, v] : hits) {
    a_ttl = std::min(a_ttl, set->ttl());
    if (set->values().at(v).txt_length != 0) txt_ttl = std::min(txt_ttl, set->ttl());
  }
  const std::size_t first = batch_used_;
  for (const auto& [set, v] : hits) {
    const std::uint32_t a = set->values().at(v).a;
    bool dup = false;
    for (std::size_t i = first; i < batch_used_ && !dup; ++i) dup = batch_[i].a == a;
    if (!dup) add(owner, dns::rr_type::a, a_ttl).a = a;
  }
  const std::size_t txt_first = batch_used_;
  for (const auto& [set, v] : hits) {
    const value& val = set->values().at(v);
    if (val.txt_length == 0) continue;
    std::array<char, max_txt_octets> txt;  // NOLINT: written before read
    const std::size_t len = expand_template(set->values().final_template(val), subject, txt);
    if (len == 0) continue;
    bool dup = false;
    for (std::size_t i = txt_first; i < batch_used_ && !dup; ++i) {
      dup = batch_[i].txt_length == len && std::memcmp(batch_[i].txt.data(), txt.data(), len) == 0;
    }
    if (dup) continue;
    xfr_record& r = add(owner, dns::rr_type::txt, txt_ttl);
    std::memcpy(r.txt.data(), txt.data(), len);
    r.txt_length = len;
  }
}

bool zone_walker::name_step() {
  while (name_leaf_ < group_end_) {
    const zone_binding& b = z_->bindings[name_leaf_];
    if (!usable(b, key_family::name)) {
      ++name_leaf_;
      continue;
    }
    const leaf& set = *b.set;
    if (!test_done_) {
      test_done_ = true;
      if (set.test_points()) {
        // TEST as lookup() answers it: its data value, or the first default.
        static constexpr std::uint8_t test_label[] = {4, 't', 'e', 's', 't'};
        const lookup_key key = lookup_key::from_labels(test_label);
        const match m = set.lookup(key);
        dns::name owner;
        if (m.what == found::listed && make_owner(test_label, owner)) {
          hits_.clear();
          for (const auto v : m.values) hits_.push_back({&set, v});
          push_values(owner, hits_, "test");
          if (batch_used_ > 0) return true;
        }
      }
    }
    name_entry e;
    if (!set.next_name(name_cursor_, e)) {
      ++name_leaf_;
      name_cursor_ = {};
      test_done_ = false;
      continue;
    }
    if (set.test_points() && !e.wildcard &&
        (label_is(e.reversed, "test") || label_is(e.reversed, "invalid"))) {
      continue;
    }
    // Labels back in name order, and the "$" subject (the entry's name, dotted).
    std::array<std::uint8_t, dns::max_name_octets> labels;  // NOLINT: written before read
    std::array<std::size_t, dns::max_labels> starts;        // NOLINT: written before read
    std::size_t count = 0;
    for (std::size_t p = 0; p < e.reversed.size() && count < starts.size();) {
      starts[count++] = p;
      p += 1 + static_cast<unsigned char>(e.reversed[p]);
    }
    std::size_t n = 0;
    if (e.wildcard) {
      labels[n++] = 1;
      labels[n++] = '*';
    }
    std::array<char, 256> subject;  // NOLINT: written before read
    std::size_t slen = 0;
    for (std::size_t i = count; i-- > 0 && n < labels.size();) {
      const std::size_t len = static_cast<unsigned char>(e.reversed[starts[i]]);
      if (n + 1 + len > labels.size()) break;
      labels[n++] = static_cast<std::uint8_t>(len);
      if (slen > 0 && slen < subject.size()) subject[slen++] = '.';
      for (std::size_t k = 0; k < len; ++k) {
        const char c = e.reversed[starts[i] + 1 + k];
        labels[n++] = static_cast<std::uint8_t>(c);
        if (slen < subject.size()) subject[slen++] = c;
      }
    }
    dns::name owner;
    if (!make_owner({labels.data(), n}, owner)) continue;
    if (e.excluded) {
      add(owner, dns::rr_type::cname, set.ttl()).target = &excluded_;
      return true;
    }
    hits_.clear();
    for (const auto v : e.values) hits_.push_back({&set, v});
    push_values(owner, hits_, std::string_view(subject.data(), slen));
    if (batch_used_ > 0) return true;
  }
  return false;
}

axfr_target find_axfr_zone(const zone_set& zones, const dns::query& q) {
  axfr_target t;
  if (q.qclass != dns::rr_class::in) return t;
  int index = -1;
  const zone* z = zones.find(q.qname, &index);
  if (z == nullptr || !z->apex.equals_ci(q.qname) || !z->soa) return t;  // REFUSED
  t.zone = index;
  t.rcode = dns::rcode::noerror;
  return t;
}

axfr_stream::axfr_stream(std::shared_ptr<const zone_set> zones, std::size_t zone,
                         const dns::query& q, std::int64_t now)
    : walker_(std::move(zones), zone, now),
      id_(q.hdr.id),
      flags_(static_cast<std::uint16_t>(q.hdr.flags & (dns::flag::opcode_mask | dns::flag::rd))),
      qname_(walker_.current_zone().apex),  // lowercase: data names compress against it
      qclass_(q.qclass),
      edns_(q.edns.has_value()) {}

namespace {

bool write_record(dns::writer& w, const xfr_record& r, const zone& z) {
  if (!w.begin_rr(dns::section::answer, r.owner, r.type, dns::rr_class::in, r.ttl)) return false;
  switch (r.type) {
    case dns::rr_type::soa: {
      const soa_data& s = *z.soa;
      if (!w.write_name(s.mname) || !w.write_name(s.rname) || !w.write_u32(s.serial) ||
          !w.write_u32(s.refresh) || !w.write_u32(s.retry) || !w.write_u32(s.expire) ||
          !w.write_u32(s.minimum)) {
        return false;
      }
      break;
    }
    case dns::rr_type::ns:
    case dns::rr_type::cname:
      if (!w.write_name(*r.target)) return false;
      break;
    case dns::rr_type::a:
      if (!w.write_u32(r.a)) return false;
      break;
    case dns::rr_type::txt:
      if (!w.write_u8(static_cast<std::uint8_t>(r.txt_length)) ||
          !w.write_bytes({reinterpret_cast<const std::uint8_t*>(r.txt.data()), r.txt_length})) {
        return false;
      }
      break;
    default:
      return false;
  }
  return w.end_rr();
}

}  // namespace

std::size_t axfr_stream::next_message(std::span<std::uint8_t> out) {
  if (done_ || out.size() < dns::classic_udp_size) return 0;
  dns::writer w(out, out.size());
  dns::header h;
  h.id = id_;
  h.qdcount = first_ ? 1 : 0;
  if (!w.write_header(h)) return 0;
  // RFC 5936 2.2.1: the question in the first message only.
  if (first_ && !w.write_question(qname_, dns::rr_type::axfr, qclass_)) return 0;
  if (edns_ && !w.reserve(opt_rr_octets)) return 0;
  std::size_t n = 0;
  for (;;) {
    if (!pending_) {
      if (!walker_.next(record_)) {
        done_ = true;
        break;
      }
      pending_ = true;
    }
    const auto mark = w.save();
    if (!write_record(w, record_, walker_.current_zone())) {
      w.restore(mark);
      if (n > 0) break;  // the next message
      pending_ = false;  // cannot fit even alone: cannot happen within 512 octets; skipped
      continue;
    }
    pending_ = false;
    ++n;
    ++records_;
  }
  if (n == 0 && done_ && !first_) return 0;
  if (edns_) {
    w.release(opt_rr_octets);
    if (!w.begin_rr(dns::section::additional, dns::name(), dns::rr_type::opt, 1232, 0) ||
        !w.end_rr()) {
      return 0;
    }
  }
  first_ = false;
  ++messages_;
  return w.finish(static_cast<std::uint16_t>(dns::flag::qr | dns::flag::aa | flags_));
}

}  // namespace mx::dnsbl
