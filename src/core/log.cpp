#include "core/log.hpp"

#include <syslog.h>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mx::log {
namespace {

std::atomic<format> g_format{format::text};

// Length of the valid UTF-8 sequence (RFC 3629: shortest form, no surrogates, <= U+10FFFF) at
// `s[i]`, with its code point; 0 when the octets there are not valid UTF-8.
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2, cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

void append_text_escaped(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    // C0, DEL and C1 controls could fake a line or drive a terminal; invalid UTF-8 is shown as is.
    if (len == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == '\\') {
      const std::size_t n = len == 0 ? 1 : len;
      for (std::size_t k = 0; k < n; ++k) {
        if (s[i + k] == '\\') {
          out += "\\\\";
        } else {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i + k]));
        }
      }
      i += n;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    if (len == 0) {
      out += "\\ufffd";  // JSON text must be valid Unicode
      ++i;
      continue;
    }
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
          out += fmt::format("\\u{:04x}", static_cast<std::uint32_t>(cp));
        } else {
          out.append(s.substr(i, len));
        }
    }
    i += len;
  }
  out += '"';
}

}  // namespace

std::string_view name_of(level l) {
  switch (l) {
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "error";
}

namespace {
std::atomic<bool> g_syslog{false};
}  // namespace

void use_syslog(bool on) {
  if (on) ::openlog("mxguard", LOG_PID | LOG_NDELAY, LOG_MAIL);
  g_syslog.store(on, std::memory_order_relaxed);
}

void set_format(format f) {
  g_format.store(f, std::memory_order_relaxed);
}
format current_format() {
  return g_format.load(std::memory_order_relaxed);
}

std::string format_line(format f, level l, std::string_view message, long pid) {
  std::string line;
  if (f == format::json) {
    line =
        fmt::format(R"({{"program":"mxguard","pid":{},"level":"{}","message":)", pid, name_of(l));
    append_json_string(line, message);
    line += "}\n";
  } else {
    line = fmt::format("mxguard[{}]: {}: ", pid, name_of(l));
    append_text_escaped(line, message);
    line += '\n';
  }
  return line;
}

void write(level l, std::string_view message) {
  const std::string line = format_line(current_format(), l, message, static_cast<long>(::getpid()));
  if (g_syslog.load(std::memory_order_relaxed)) {
    // syslog adds its own tag and pid: send the escaped message (or the JSON object) only.
    std::string body = line.substr(0, line.size() - 1);
    if (current_format() == format::text) body = body.substr(body.find(": ", body.find("]: ") + 3) + 2);
    const int priority = l == level::error ? LOG_ERR : l == level::warn ? LOG_WARNING : LOG_INFO;
    ::syslog(priority, "%s", body.c_str());
    return;
  }
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr is gone: nowhere left to report it
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace mx::log
