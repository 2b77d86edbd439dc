#include "dnsbl/text.hpp"

#include <bit>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace mx::dnsbl::text {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool consume(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// "/bits" after a prefix: digits worth at most `max`.
std::optional<int> mask_bits(std::string_view& s, int max) {
  if (s.empty() || !is_digit(s.front())) return std::nullopt;
  int bits = 0;
  while (!s.empty() && is_digit(s.front())) {
    bits = bits * 10 + (s.front() - '0');
    if (bits > max) return std::nullopt;
    s.remove_prefix(1);
  }
  return bits;
}

// Digits as an unsigned 32-bit value, refusing overflow.
std::optional<std::uint32_t> digits32(std::string_view& s) {
  if (s.empty() || !is_digit(s.front())) return std::nullopt;
  std::uint64_t v = 0;
  while (!s.empty() && is_digit(s.front())) {
    v = v * 10 + static_cast<std::uint64_t>(s.front() - '0');
    if (v > 0xFFFFFFFFu) return std::nullopt;
    s.remove_prefix(1);
  }
  return static_cast<std::uint32_t>(v);
}

// After a number: the end, or a separator (consumed with any that follow).
bool end_of_word(std::string_view& s) {
  if (s.empty()) return true;
  if (!is_space(s.front())) return false;
  skip_space(s);
  return true;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// One $TIMESTAMP field of at most `width` digits in [lo, hi], then an optional ':' or '-'.
std::optional<unsigned> stamp_field(std::string_view& s, unsigned lo, unsigned hi, int width) {
  if (s.empty() || !is_digit(s.front())) return std::nullopt;
  unsigned v = 0;
  for (int i = 0; i < width && !s.empty() && is_digit(s.front()); ++i) {
    v = v * 10 + static_cast<unsigned>(s.front() - '0');
    s.remove_prefix(1);
  }
  if (v < lo || v > hi) return std::nullopt;
  if (!s.empty() && (s.front() == ':' || s.front() == '-')) s.remove_prefix(1);
  return v;
}

}  // namespace

void skip_space(std::string_view& s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
}

bool at_key_end(std::string_view s) {
  return s.empty() || is_space(s.front()) || is_comment(s.front()) || s.front() == ':';
}

// The loader's hottest function (one call per line of a big list): a plain pointer loop.
std::optional<ip4_prefix> parse_ip4_prefix(std::string_view& s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  std::uint32_t addr = 0;
  int octets = 0;
  for (;;) {
    if (p == end || !is_digit(*p)) return std::nullopt;
    std::uint32_t v = 0;
    do {
      v = v * 10 + static_cast<std::uint32_t>(*p - '0');
      if (v > 255) return std::nullopt;
      ++p;
    } while (p != end && is_digit(*p));
    addr |= v << (24 - 8 * octets);
    ++octets;
    if (octets == 4 || p == end || *p != '.') break;
    ++p;
  }
  s.remove_prefix(static_cast<std::size_t>(p - s.data()));
  ip4_prefix out;
  out.addr = addr;
  out.bits = 8 * octets;
  return out;
}

#if defined(__SSE2__)
namespace {

// A plain address line in the 16 octets at p: its length (to the '\n'), where its octets end
// and how long they are (1 to 3 digits), and the digits' values. False: not a plain line.
struct plain_line {
  unsigned len = 0;
  unsigned end[4] = {};
  unsigned digits[4] = {};
  __m128i value;
};

inline bool read_plain_line(const char* p, plain_line& line) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const auto newlines =
      static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))));
  if (newlines == 0) return false;
  const unsigned len = static_cast<unsigned>(std::countr_zero(newlines));
  const unsigned in_line = (1u << len) - 1;
  const unsigned dots =
      static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')))) & in_line;
  line.value = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  const __m128i nine = _mm_set1_epi8(9);
  const unsigned digits = static_cast<unsigned>(_mm_movemask_epi8(
                              _mm_cmpeq_epi8(_mm_min_epu8(line.value, nine), line.value))) &
                          in_line;
  // Three dots exactly: clearing the lowest set bit three times leaves none (bit tricks, as
  // std::popcount is a library call without -mpopcnt).
  const unsigned rest = dots & (dots - 1);
  const unsigned last = rest & (rest - 1);
  if ((dots | digits) != in_line || last == 0 || (last & (last - 1)) != 0) return false;
  line.len = len;
  line.end[0] = static_cast<unsigned>(std::countr_zero(dots));
  line.end[1] = static_cast<unsigned>(std::countr_zero(rest));
  line.end[2] = static_cast<unsigned>(std::countr_zero(last));
  line.end[3] = len;
  line.digits[0] = line.end[0];
  line.digits[1] = line.end[1] - line.end[0] - 1;
  line.digits[2] = line.end[2] - line.end[1] - 1;
  line.digits[3] = len - line.end[2] - 1;
  // 1 to 3 digits each (0 - 1 wraps to a large number).
  return ((line.digits[0] - 1 > 2) | (line.digits[1] - 1 > 2) | (line.digits[2] - 1 > 2) |
          (line.digits[3] - 1 > 2)) == 0;
}

// The octets from the digit values, in scalar code without branches (octet lengths are random
// in a list): the tens and hundreds are always read, from a copy with two zero octets before
// it, and weighted by 0 when absent.
inline bool octets_sse2(const plain_line& line, std::uint32_t& addr) {
  alignas(16) unsigned char buf[32] = {};
  unsigned char* const d = buf + 2;
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d), line.value);
  const auto octet = [d](unsigned end, unsigned digits) {
    const int e = static_cast<int>(end);
    return d[e - 1] + 10u * (digits >> 1) * d[e - 2] + 100u * ((digits + 1) >> 2) * d[e - 3];
  };
  const unsigned o0 = octet(line.end[0], line.digits[0]);
  const unsigned o1 = octet(line.end[1], line.digits[1]);
  const unsigned o2 = octet(line.end[2], line.digits[2]);
  const unsigned o3 = octet(line.end[3], line.digits[3]);
  if ((o0 | o1 | o2 | o3) > 255) return false;
  addr = (o0 << 24) | (o1 << 16) | (o2 << 8) | o3;
  return true;
}

// SSSE3: one shuffle puts each octet's digits in a 32-bit lane as (hundreds, tens, units, 0),
// absent digits zero; two multiply-adds make the lanes the octets' values. The shuffle comes
// from a table of the 81 layouts (1 to 3 digits, four times).
struct shuffle_table {
  alignas(16) unsigned char mask[81][16];
};

constexpr shuffle_table make_shuffle_table() {
  shuffle_table t{};
  for (unsigned id = 0; id < 81; ++id) {
    const unsigned digits[4] = {id / 27 + 1, id / 9 % 3 + 1, id / 3 % 3 + 1, id % 3 + 1};
    unsigned start = 0;
    for (unsigned i = 0; i < 4; ++i) {
      for (unsigned k = 0; k < 4; ++k) t.mask[id][4 * i + k] = 0x80;  // zero
      for (unsigned k = 0; k < digits[i]; ++k) {
        t.mask[id][4 * i + 3 - digits[i] + k] = static_cast<unsigned char>(start + k);
      }
      start += digits[i] + 1;
    }
  }
  return t;
}

constexpr shuffle_table shuffles = make_shuffle_table();

__attribute__((target("ssse3"))) inline bool octets_ssse3(const plain_line& line,
                                                          std::uint32_t& addr) {
  const unsigned id = (line.digits[0] - 1) * 27 + (line.digits[1] - 1) * 9 +
                      (line.digits[2] - 1) * 3 + (line.digits[3] - 1);
  const __m128i mask = _mm_load_si128(reinterpret_cast<const __m128i*>(shuffles.mask[id]));
  const __m128i lanes = _mm_shuffle_epi8(line.value, mask);
  const __m128i pairs = _mm_maddubs_epi16(lanes, _mm_set1_epi32(0x00010A64));  // 100, 10, 1, 0
  const __m128i octets = _mm_madd_epi16(pairs, _mm_set1_epi16(1));
  if (_mm_movemask_epi8(_mm_cmpgt_epi32(octets, _mm_set1_epi32(255))) != 0) return false;
  const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(octets, octets), octets);
  addr = __builtin_bswap32(static_cast<std::uint32_t>(_mm_cvtsi128_si32(bytes)));
  return true;
}

template <bool (*octets)(const plain_line&, std::uint32_t&)>
inline std::size_t plain_lines(std::string_view text, std::uint32_t* out, std::size_t max,
                               std::size_t& count) {
  count = 0;
  const char* const begin = text.data();
  const char* p = begin;
  const char* const end = begin + text.size();
  plain_line line;
  while (count < max && end - p >= 16 && read_plain_line(p, line)) {
    std::uint32_t addr = 0;
    if (!octets(line, addr)) break;
    out[count++] = addr;
    p += line.len + 1;
  }
  return static_cast<std::size_t>(p - begin);
}

// flatten: the loop and octets_ssse3 inlined here, compiled for SSSE3 as a whole (a function of
// that target is not inlined into one of the default target).
__attribute__((target("ssse3"), flatten)) std::size_t plain_lines_ssse3(std::string_view text,
                                                                        std::uint32_t* out,
                                                                        std::size_t max,
                                                                        std::size_t& count) {
  return plain_lines<octets_ssse3>(text, out, max, count);
}

}  // namespace
#endif

std::size_t plain_ip4_lines(std::string_view text, std::uint32_t* out, std::size_t max,
                            std::size_t& count) {
#if defined(__SSE2__)
  static const bool ssse3 = __builtin_cpu_supports("ssse3");
  if (ssse3) return plain_lines_ssse3(text, out, max, count);
#endif
  return plain_ip4_lines_sse2(text, out, max, count);
}

std::size_t plain_ip4_lines_sse2(std::string_view text, std::uint32_t* out, std::size_t max,
                                 std::size_t& count) {
#if defined(__SSE2__)
  return plain_lines<octets_sse2>(text, out, max, count);
#else
  (void)text;
  (void)out;
  (void)max;
  count = 0;
  return 0;
#endif
}

bool append_reversed_name(std::string_view name, std::string& out) {
  // Wire form: the labels' octets and length octets plus the root's: name.size() + 2.
  if (name.empty() || name.size() > 253) return false;
  std::array<std::uint8_t, 128> start{};  // at most 127 labels in 253 octets
  std::size_t labels = 0;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '.') {
      if (name[i] == '\\') return false;
      continue;
    }
    const std::size_t len = i - from;
    if (len == 0 || len > 63) return false;
    start[labels++] = static_cast<std::uint8_t>(from);
    from = i + 1;
  }
  std::size_t end = name.size();
  for (std::size_t k = labels; k-- > 0;) {
    const std::size_t len = end - start[k];
    out.push_back(static_cast<char>(len));
    for (std::size_t i = start[k]; i < end; ++i) {
      const char c = name[i];
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    end = start[k] - 1;  // before the dot
  }
  return true;
}

std::optional<ip4_range> parse_ip4_range(std::string_view& s) {
  const auto a = parse_ip4_prefix(s);
  if (!a) return std::nullopt;
  ip4_range out;
  out.lo = a->addr;
  if (consume(s, '-')) {
    auto b = parse_ip4_prefix(s);
    if (!b) return std::nullopt;
    int bits = b->bits;
    if (b->bits == 8) {
      // "127.0.0.1-255": the end is a new value for the start's last given octet.
      b->addr = (b->addr >> (a->bits - 8)) | (a->addr & ip4_mask(a->bits - 8));
      bits = a->bits;
    } else if (b->bits != a->bits) {
      return std::nullopt;  // "1.2-1.2.3.4" is refused, as in rbldnsd
    }
    out.hi = b->addr | ~ip4_mask(bits);
    if (out.lo > out.hi) return std::nullopt;
    out.bits = 32;
    return out;
  }
  int bits = a->bits;
  if (consume(s, '/')) {
    const auto m = mask_bits(s, 32);
    if (!m) return std::nullopt;
    bits = *m;
  } else if (a->bits == 8) {
    return std::nullopt;  // a bare number: write "127/8"
  }
  out.bits = bits;
  out.hi = out.lo | ~ip4_mask(bits);
  return out;
}

std::optional<ip4_range> parse_ip4_cidr(std::string_view& s) {
  const auto a = parse_ip4_prefix(s);
  if (!a) return std::nullopt;
  int bits = a->bits;
  if (consume(s, '/')) {
    const auto m = mask_bits(s, 32);
    if (!m) return std::nullopt;
    bits = *m;
  } else if (a->bits == 8) {
    return std::nullopt;
  }
  ip4_range out;
  out.lo = a->addr;
  out.bits = bits;
  out.hi = a->addr | ~ip4_mask(bits);
  return out;
}

std::optional<ip4_prefix> parse_ip4_addr(std::string_view& s) {
  auto p = parse_ip4_prefix(s);
  if (!p) return std::nullopt;
  switch (p->bits) {
    case 8:
      p->addr >>= 24;
      break;
    case 16:
      p->addr = (p->addr & 0xFF000000u) | ((p->addr >> 16) & 255u);
      break;
    case 24:
      p->addr = (p->addr & 0xFFFF0000u) | ((p->addr >> 8) & 255u);
      break;
    default:
      break;
  }
  return p;
}

std::optional<ip6_prefix> parse_ip6_prefix(std::string_view& s) {
  ip6_prefix out;
  std::size_t bytes = 0;
  int zstart = -1;
  int ret = -1;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    zstart = 0;
    s.remove_prefix(2);
  }
  for (;;) {
    unsigned v = 0;
    std::size_t used = 0;
    while (used < s.size()) {
      const int nib = hex_value(s[used]);
      if (nib < 0) break;
      v = (v << 4) | static_cast<unsigned>(nib);
      if (v > 0xFFFF) break;
      ++used;
    }
    if (used == 0 || v > 0xFFFF) {
      s.remove_prefix(used);
      break;
    }
    s.remove_prefix(used);
    out.addr[bytes++] = static_cast<std::uint8_t>(v >> 8);
    out.addr[bytes++] = static_cast<std::uint8_t>(v);
    if (s.empty() || s.front() != ':' || bytes + 2 > 16) {
      ret = static_cast<int>(bytes * 8);
      break;
    }
    s.remove_prefix(1);
    if (zstart < 0 && !s.empty() && s.front() == ':') {
      zstart = static_cast<int>(bytes);
      s.remove_prefix(1);
    }
  }
  if (zstart >= 0) {
    const std::size_t nzeros = 16 - bytes;
    if (nzeros == 0) return std::nullopt;
    const auto z = static_cast<std::size_t>(zstart);
    for (std::size_t i = bytes; i-- > z;) out.addr[i + nzeros] = out.addr[i];
    for (std::size_t i = z; i < z + nzeros; ++i) out.addr[i] = 0;
    ret = 128;
  }
  if (ret < 0) return std::nullopt;
  out.bits = ret;
  return out;
}

std::optional<ip6_prefix> parse_ip6_cidr(std::string_view& s) {
  auto p = parse_ip6_prefix(s);
  if (!p) return std::nullopt;
  if (consume(s, '/')) {
    const auto m = mask_bits(s, 128);
    if (!m) return std::nullopt;
    p->bits = *m;
  } else if (p->bits == 16) {
    return std::nullopt;  // a bare group
  }
  return p;
}

bool ip6_clear_host(ip6_bytes& addr, int bits) {
  bool had = false;
  for (int i = 0; i < 16; ++i) {
    const int keep = bits - 8 * i;  // bits of this byte that are network bits
    std::uint8_t mask = keep >= 8   ? 0xFF
                        : keep <= 0 ? 0
                                    : static_cast<std::uint8_t>(0xFF << (8 - keep));
    if ((addr[static_cast<std::size_t>(i)] & ~mask) != 0) had = true;
    addr[static_cast<std::size_t>(i)] &= mask;
  }
  return had;
}

std::optional<std::uint32_t> parse_uint32(std::string_view& s) {
  const auto v = digits32(s);
  if (!v || !end_of_word(s)) return std::nullopt;
  return v;
}

std::optional<std::uint32_t> parse_time(std::string_view& s) {
  auto v = digits32(s);
  if (!v) return std::nullopt;
  std::uint32_t mult = 0;
  if (!s.empty()) {
    switch (s.front()) {
      case 'w':
      case 'W':
        mult = 7 * 24 * 3600;
        break;
      case 'd':
      case 'D':
        mult = 24 * 3600;
        break;
      case 'h':
      case 'H':
        mult = 3600;
        break;
      case 'm':
      case 'M':
        mult = 60;
        break;
      case 's':
      case 'S':
        mult = 1;
        break;
      default:
        break;
    }
  }
  if (mult != 0) {
    if (0xFFFFFFFFu / mult < *v) return std::nullopt;
    *v *= mult;
    s.remove_prefix(1);
  }
  if (!s.empty() && s.front() != ':') {
    if (!is_space(s.front())) return std::nullopt;
    skip_space(s);
  }
  return v;
}

std::optional<std::int64_t> parse_timestamp(std::string_view& s) {
  if (!s.empty() && (s[0] == '0' || s[0] == '-' || s[0] == ':') &&
      (s.size() == 1 || is_space(s[1]))) {
    s.remove_prefix(1);
    skip_space(s);
    return 0;
  }
  const auto year = stamp_field(s, 1970, 2038, 4);
  if (!year) return std::nullopt;
  const auto mon = stamp_field(s, 1, 12, 2);
  if (!mon) return std::nullopt;
  static constexpr unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  const unsigned max_day = (*mon == 2 && leap) ? 29 : mdays[*mon - 1];
  const auto day = stamp_field(s, 1, max_day, 2);
  if (!day) return std::nullopt;
  unsigned hms[3] = {0, 0, 0};
  const unsigned hms_max[3] = {23, 59, 59};
  for (int i = 0; i < 3; ++i) {
    if (s.empty() || is_space(s.front())) break;
    const auto f = stamp_field(s, 0, hms_max[i], 2);
    if (!f) return std::nullopt;
    hms[i] = *f;
  }
  if (!end_of_word(s)) return std::nullopt;
  const std::int64_t days = days_from_civil(*year, *mon, *day);
  return ((days * 24 + hms[0]) * 60 + hms[1]) * 60 + hms[2];
}

std::optional<a_txt> parse_value(std::string_view s, value_error& err) {
  a_txt out;
  if (!s.empty() && s.front() == ':') {
    s.remove_prefix(1);
    auto a = parse_ip4_addr(s);
    if (!a || a->addr == 0) {
      err = value_error::bad_a;
      return std::nullopt;
    }
    out.a = a->bits == 8 ? (a->addr | 0x7F000000u) : a->addr;  // ":2" is 127.0.0.2
    out.has_a = true;
    skip_space(s);
    if (consume(s, ':')) {
      skip_space(s);
    } else if (!s.empty()) {
      err = value_error::junk_after_a;
      return std::nullopt;
    } else {
      out.txt_from_default = true;
    }
  }
  if (s.size() > 255) {
    s = s.substr(0, 255);
    out.truncated = true;
  }
  out.txt = s;
  return out;
}

std::size_t ip6_to_text(const ip6_bytes& addr, char* buf) {
  unsigned words[8];
  for (int i = 0; i < 8; ++i) {
    words[i] = (static_cast<unsigned>(addr[static_cast<std::size_t>(2 * i)]) << 8) |
               addr[static_cast<std::size_t>(2 * i + 1)];
  }
  int zstart = 0;
  int nzeros = 0;
  for (int i = 0; i + nzeros < 8; ++i) {
    int nz = 0;
    while (i + nz < 8 && words[i + nz] == 0) ++nz;
    if (nz > 1 && nz > nzeros) {
      nzeros = nz;
      zstart = i;
    }
  }
  static const char* hex = "0123456789abcdef";
  std::size_t n = 0;
  auto word = [&](unsigned w) {
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nib = (w >> shift) & 15;
      if (nib != 0 || started || shift == 0) {
        buf[n++] = hex[nib];
        started = true;
      }
    }
  };
  const int head = nzeros ? zstart : 8;
  for (int i = 0; i < head; ++i) {
    if (i > 0) buf[n++] = ':';
    word(words[i]);
  }
  if (nzeros) {
    buf[n++] = ':';
    buf[n++] = ':';
    for (int i = zstart + nzeros; i < 8; ++i) {
      if (i > zstart + nzeros) buf[n++] = ':';
      word(words[i]);
    }
  }
  return n;
}

std::string ip6_to_text(const ip6_bytes& addr) {
  char buf[48];
  return std::string(buf, ip6_to_text(addr, buf));
}

std::size_t ip4_to_text(std::uint32_t addr, char* buf) {
  std::size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) buf[n++] = '.';
    const unsigned o = (addr >> (24 - 8 * i)) & 255u;
    if (o >= 100) buf[n++] = static_cast<char>('0' + o / 100);
    if (o >= 10) buf[n++] = static_cast<char>('0' + (o / 10) % 10);
    buf[n++] = static_cast<char>('0' + o % 10);
  }
  return n;
}

}  // namespace mx::dnsbl::text
