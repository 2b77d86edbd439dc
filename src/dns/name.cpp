#include "dns/name.hpp"

namespace mx::dns {

bool labels_equal_ci(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool name::push_label(std::span<const std::uint8_t> label) {
  if (label.empty() || label.size() > max_label_octets) return false;
  if (labels_ >= max_labels || length_ + label.size() + 1 > max_name_octets) return false;
  const std::size_t at = length_ - 1u;  // overwrite the root octet
  offsets_[labels_++] = static_cast<std::uint8_t>(at);
  bytes_[at] = static_cast<std::uint8_t>(label.size());
  std::copy(label.begin(), label.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  length_ = static_cast<std::uint16_t>(length_ + label.size() + 1);
  bytes_[length_ - 1u] = 0;
  return true;
}

std::optional<name> name::from_labels(std::span<const std::uint8_t> labels) {
  name out;
  std::size_t pos = 0;
  while (pos < labels.size()) {
    const std::size_t len = labels[pos];
    if (len == 0 || pos + 1 + len > labels.size()) return std::nullopt;
    if (!out.push_label(labels.subspan(pos + 1, len))) return std::nullopt;
    pos += 1 + len;
  }
  return out;
}

std::optional<name> name::from_text(std::string_view text) {
  name out;
  if (text == ".") return out;
  if (text.empty()) return std::nullopt;
  std::array<std::uint8_t, max_label_octets + 1> label{};
  std::size_t len = 0;
  bool overflow = false;
  auto flush = [&]() {
    if (len == 0 || overflow) return false;
    return out.push_label({label.data(), len});
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<std::uint8_t>(text[i]);
    if (c == '.') {
      if (!flush()) return std::nullopt;
      len = 0;
      if (i + 1 == text.size()) return out;  // one trailing dot: absolute name
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) return std::nullopt;
      const auto d0 = static_cast<std::uint8_t>(text[i + 1]);
      if (d0 >= '0' && d0 <= '9') {
        if (i + 3 >= text.size()) return std::nullopt;  // "\DDD" needs three digits
        unsigned v = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          const auto d = static_cast<std::uint8_t>(text[i + k]);
          if (d < '0' || d > '9') return std::nullopt;
          v = v * 10 + (d - '0');
        }
        if (v > 255) return std::nullopt;
        c = static_cast<std::uint8_t>(v);
        i += 3;
      } else {
        c = d0;
        i += 1;
      }
    }
    if (len >= max_label_octets) {
      overflow = true;
      continue;
    }
    label[len++] = c;
  }
  if (!flush()) return std::nullopt;
  return out;
}

name name::suffix(std::size_t first) const {
  name out;
  for (std::size_t i = first; i < labels_; ++i) out.push_label(label(i));
  return out;
}

std::string name::to_text() const {
  if (labels_ == 0) return ".";
  std::string out;
  for (std::size_t i = 0; i < labels_; ++i) {
    if (i > 0) out.push_back('.');
    for (const std::uint8_t c : label(i)) {
      if (c == '.' || c == '\\' || c == '"') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x21 || c > 0x7e) {
        out.push_back('\\');
        out.push_back(static_cast<char>('0' + c / 100));
        out.push_back(static_cast<char>('0' + (c / 10) % 10));
        out.push_back(static_cast<char>('0' + c % 10));
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
  }
  return out;
}

void name::to_lower() {
  for (std::size_t i = 0; i < labels_; ++i) {
    const std::size_t at = offsets_[i];
    for (std::size_t k = 1; k <= bytes_[at]; ++k) bytes_[at + k] = ascii_lower(bytes_[at + k]);
  }
}

bool name::equals_ci(const name& other) const {
  if (length_ != other.length_ || labels_ != other.labels_) return false;
  for (std::size_t i = 0; i < length_; ++i) {
    if (ascii_lower(bytes_[i]) != ascii_lower(other.bytes_[i])) return false;
  }
  return true;
}

bool name::is_subdomain_of(const name& ancestor) const {
  if (ancestor.labels_ > labels_) return false;
  const std::size_t skip = labels_ - ancestor.labels_;
  const std::size_t at = label_offset(skip);
  if (length_ - at != ancestor.length_) return false;
  for (std::size_t i = 0; i < ancestor.length_; ++i) {
    if (ascii_lower(bytes_[at + i]) != ascii_lower(ancestor.bytes_[i])) return false;
  }
  return true;
}

std::string_view describe(name_error e) {
  switch (e) {
    case name_error::truncated:
      return "name runs past the end of the message";
    case name_error::label_type:
      return "unsupported label type";
    case name_error::bad_pointer:
      return "compression pointer not strictly backwards";
    case name_error::too_long:
      return "name longer than 255 octets";
  }
  return "bad name";
}

mx::expected<name, name_error> read_name(std::span<const std::uint8_t> msg, std::size_t& pos) {
  name out;
  std::size_t at = pos;
  std::size_t run_start = pos;  // start of the run of labels being read; pointers must go below it
  std::size_t wire = 1;         // octets the decoded name takes, terminating zero included
  bool jumped = false;
  for (;;) {
    if (at >= msg.size()) return mx::unexpected(name_error::truncated);
    const std::uint8_t len = msg[at];
    if (len == 0) {
      if (!jumped) pos = at + 1;
      return out;
    }
    const std::uint8_t kind = len & 0xC0;
    if (kind == 0xC0) {
      if (at + 1 >= msg.size()) return mx::unexpected(name_error::truncated);
      const std::size_t target = (static_cast<std::size_t>(len & 0x3F) << 8) | msg[at + 1];
      if (target < header_octets || target >= run_start) {
        return mx::unexpected(name_error::bad_pointer);
      }
      if (!jumped) pos = at + 2;
      jumped = true;
      at = run_start = target;
      continue;
    }
    if (kind != 0) return mx::unexpected(name_error::label_type);
    if (at + 1 + len > msg.size()) return mx::unexpected(name_error::truncated);
    wire += 1u + len;
    if (wire > max_name_octets) return mx::unexpected(name_error::too_long);
    out.push_label(msg.subspan(at + 1, len));  // fits: checked against 255 above
    at += 1u + len;
  }
}

}  // namespace mx::dns
