#include "smtp/reply.hpp"

#include <fmt/format.h>

namespace mx::smtp {

namespace {

std::string clean(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

}  // namespace

std::string reply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += lines[i];
  }
  return out;
}

std::string reply::wire() const {
  std::string out;
  const std::size_t n = lines.empty() ? 1 : lines.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char sep = (i + 1 == n) ? ' ' : '-';
    std::string body = lines.empty() ? std::string() : clean(lines[i]);
    if (!enhanced.empty()) {
      body = body.empty() ? enhanced : fmt::format("{} {}", enhanced, body);
    }
    // An empty text keeps its separator: RFC 4954 4 wants "334 " CRLF for an empty challenge.
    fmt::format_to(std::back_inserter(out), "{}{}{}\r\n", code, sep, body);
  }
  return out;
}

}  // namespace mx::smtp
