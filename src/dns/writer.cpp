#include "dns/writer.hpp"

#include <algorithm>

namespace mx::dns {

writer::writer(std::span<std::uint8_t> buf, std::size_t limit)
    : buf_(buf), limit_(std::min({limit, buf.size(), max_message_size})) {}

void writer::restore(const mark& m) {
  pos_ = m.pos;
  names_ = m.names;
  counts_ = m.counts;
  overflow_ = false;
}

bool writer::room(std::size_t n) {
  if (pos_ + n > limit_) {
    overflow_ = true;
    return false;
  }
  return true;
}

bool writer::write_u8(std::uint8_t v) {
  if (!room(1)) return false;
  buf_[pos_++] = v;
  return true;
}

bool writer::write_u16(std::uint16_t v) {
  if (!room(2)) return false;
  buf_[pos_++] = static_cast<std::uint8_t>(v >> 8);
  buf_[pos_++] = static_cast<std::uint8_t>(v);
  return true;
}

bool writer::write_u32(std::uint32_t v) {
  if (!room(4)) return false;
  for (int shift = 24; shift >= 0; shift -= 8) buf_[pos_++] = static_cast<std::uint8_t>(v >> shift);
  return true;
}

bool writer::write_bytes(std::span<const std::uint8_t> bytes) {
  if (!room(bytes.size())) return false;
  std::copy(bytes.begin(), bytes.end(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
  pos_ += bytes.size();
  return true;
}

bool writer::write_header(const header& h) {
  pos_ = 0;
  names_ = 0;
  counts_ = {};
  overflow_ = false;
  return write_u16(h.id) && write_u16(h.flags) && write_u16(h.qdcount) && write_u16(0) &&
         write_u16(0) && write_u16(0);
}

bool writer::write_question(const name& qname, std::uint16_t qtype, std::uint16_t qclass) {
  return write_name(qname) && write_u16(qtype) && write_u16(qclass);
}

bool writer::matches_at(std::size_t at, const name& n, std::size_t first) const {
  // Names in the buffer were written by this writer: well formed, pointers strictly backwards.
  std::size_t label = first;
  for (int hops = 0; hops < 128;) {
    const std::uint8_t len = buf_[at];
    if ((len & 0xC0) == 0xC0) {
      at = (static_cast<std::size_t>(len & 0x3F) << 8) | buf_[at + 1];
      ++hops;
      continue;
    }
    if (len == 0) return label == n.label_count();
    if (label == n.label_count()) return false;
    if (!labels_equal_ci({buf_.data() + at + 1, len}, n.label(label))) return false;
    ++label;
    at += 1u + len;
  }
  return false;
}

bool writer::write_name(const name& n) {
  // Find the longest suffix already in the message.
  std::size_t first = n.label_count();
  std::size_t target = 0;
  for (std::size_t i = 0; i < n.label_count() && first == n.label_count(); ++i) {
    for (std::size_t k = 0; k < names_; ++k) {
      if (matches_at(name_at_[k], n, i)) {
        first = i;
        target = name_at_[k];
        break;
      }
    }
  }
  const std::size_t literal = n.label_offset(first);  // octets of labels written out
  const std::size_t need = literal + (first < n.label_count() ? 2 : 1);
  if (!room(need)) return false;
  for (std::size_t i = 0; i < first; ++i) {
    if (pos_ < 0x4000 && names_ < max_names) name_at_[names_++] = static_cast<std::uint16_t>(pos_);
    const auto l = n.label(i);
    buf_[pos_++] = static_cast<std::uint8_t>(l.size());
    std::copy(l.begin(), l.end(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ += l.size();
  }
  if (first < n.label_count()) {
    buf_[pos_++] = static_cast<std::uint8_t>(0xC0 | (target >> 8));
    buf_[pos_++] = static_cast<std::uint8_t>(target);
  } else {
    buf_[pos_++] = 0;
  }
  return true;
}

bool writer::begin_rr(section s, const name& owner, std::uint16_t type, std::uint16_t klass,
                      std::uint32_t ttl) {
  rr_section_ = static_cast<std::size_t>(s);
  if (!write_name(owner) || !write_u16(type) || !write_u16(klass) || !write_u32(ttl)) return false;
  rdlength_at_ = pos_;
  return write_u16(0);
}

bool writer::end_rr() {
  const std::size_t rdlen = pos_ - rdlength_at_ - 2;
  if (rdlen > 0xFFFF || counts_[rr_section_] == 0xFFFF) {
    overflow_ = true;
    return false;
  }
  buf_[rdlength_at_] = static_cast<std::uint8_t>(rdlen >> 8);
  buf_[rdlength_at_ + 1] = static_cast<std::uint8_t>(rdlen);
  ++counts_[rr_section_];
  return true;
}

bool writer::reserve(std::size_t n) {
  if (pos_ + n > limit_) return false;
  limit_ -= n;
  return true;
}

std::size_t writer::finish(std::uint16_t flags) {
  if (pos_ < header_octets) return 0;
  buf_[2] = static_cast<std::uint8_t>(flags >> 8);
  buf_[3] = static_cast<std::uint8_t>(flags);
  for (std::size_t s = 0; s < 3; ++s) {
    buf_[6 + 2 * s] = static_cast<std::uint8_t>(counts_[s] >> 8);
    buf_[7 + 2 * s] = static_cast<std::uint8_t>(counts_[s]);
  }
  return pos_;
}

}  // namespace mx::dns
