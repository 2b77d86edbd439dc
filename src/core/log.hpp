// core/log: the shells' logger (cli now, the network layer later): one line per event on stderr,
// either text "mxguard[pid]: level: message" or a JSON object per line for log collectors.
//
// This is the one piece of src/core that does I/O. The pure cores (src/smtp, src/policy) must not
// include it: they return values and the shell decides what to log.
//
// SECURITY: messages carry peer-controlled text (HELO names, addresses, config values). Control
// octets are escaped (text: \xNN; JSON: \uNNNN, invalid UTF-8 as U+FFFD), so nothing a peer sends
// can start a forged log line or break the JSON. Each line is one write(2), so lines from several
// threads do not interleave.
// RFCs: 8259 (JSON strings), 3629 (UTF-8 validity).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace mx::log {

enum class level { info, warn, error };
enum class format { text, json };

std::string_view name_of(level l);  // "info", "warn", "error"

// Process-wide; text by default.
void set_format(format f);
format current_format();

// Send lines to syslog(3) (facility mail, tagged "mxguard" with the pid) instead of stderr.
void use_syslog(bool on);

// The line written for one event, newline included. Pure: the tests call it directly.
std::string format_line(format f, level l, std::string_view message, long pid);

// Writes one line to stderr.
void write(level l, std::string_view message);

template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace mx::log
