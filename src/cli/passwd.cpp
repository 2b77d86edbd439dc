// `mxguard passwd [USER]`: prints a passwd-file line for `[auth] passwd_file` with a new yescrypt
// hash of a password read from stdin: "USER:{CRYPT}$y$j9T$salt$hash" (or "{CRYPT}$y$..." with no
// USER). From a terminal it prompts on stderr with echo off and asks twice; from a pipe it reads
// the whole input, one trailing newline ("\n" or "\r\n") removed. Exit 0 printed, 2 refused
// (empty password, a newline or NUL inside, over 4096 octets, mismatch, a USER the passwd-file
// cannot hold), 3 internal error.
//
// SECURITY: the salt's 16 octets come from getrandom(2); the cost is libxcrypt's default for
// yescrypt. The password never appears on the command line (it would be in ps and shell
// history), and its buffers are wiped. Before printing, the line is parsed and verified by
// policy/credentials exactly as the server will, so a printed line always logs in.
// References: crypt(5), crypt_gensalt(3) of libxcrypt; Dovecot passwd-file.
#include <openssl/crypto.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "policy/credentials.hpp"

namespace mx::cli {

namespace {

constexpr std::size_t max_password = 4096;

// Wipes a string's buffer when it goes out of scope.
struct wiped {
  std::string s;
  ~wiped() { OPENSSL_cleanse(s.data(), s.size()); }
};

bool valid_user(std::string_view user) {
  return !user.empty() && std::all_of(user.begin(), user.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f && c != ':';
  });
}

// Reads all of fd 0 (at most max_password + 2 octets are kept; more is reported as too long).
bool read_all(std::string& out, bool& too_long) {
  std::array<char, 512> buf{};
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      OPENSSL_cleanse(buf.data(), buf.size());
      return false;
    }
    if (out.size() <= max_password + 2) out.append(buf.data(), static_cast<std::size_t>(n));
    if (out.size() > max_password + 2) too_long = true;
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  return true;
}

// One line from a terminal with echo off; the prompt goes to stderr.
bool read_hidden_line(const char* prompt, std::string& out) {
  // Echo goes off before the prompt appears (as getpass does), so nothing typed in answer to the
  // prompt is echoed.
  termios old{};
  const bool have_tty = ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (have_tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    // TCSANOW, not TCSAFLUSH: a flush waits for output to drain and drops typeahead, and under
    // load that raced with a client answering the prompt (seen in test_passwd). Retried on EINTR.
    while (::tcsetattr(STDIN_FILENO, TCSANOW, &quiet) != 0 && errno == EINTR) {
    }
  }
  fmt::print(stderr, "{}", prompt);
  std::fflush(stderr);
  bool ok = true;
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = !out.empty();
      break;
    }
    if (c == '\n') break;
    if (out.size() <= max_password) out.push_back(c);
  }
  if (have_tty) ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  return ok;
}

bool fill_random(std::array<unsigned char, 16>& bytes) {
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

int run_passwd(const std::string& user) {
  if (!user.empty() && !valid_user(user)) {
    fmt::print(stderr,
               "mxguard passwd: user name must not hold ':', spaces or control characters\n");
    return exit_invalid;
  }
  wiped password;
  if (::isatty(STDIN_FILENO) != 0) {
    wiped again;
    if (!read_hidden_line("Password: ", password.s) ||
        !read_hidden_line("Retype password: ", again.s)) {
      fmt::print(stderr, "mxguard passwd: no password read\n");
      return exit_invalid;
    }
    if (password.s != again.s) {
      fmt::print(stderr, "mxguard passwd: the passwords differ\n");
      return exit_invalid;
    }
  } else {
    bool too_long = false;
    if (!read_all(password.s, too_long)) {
      fmt::print(stderr, "mxguard passwd: cannot read stdin\n");
      return exit_invalid;
    }
    if (too_long) {
      fmt::print(stderr, "mxguard passwd: password longer than {} octets\n", max_password);
      return exit_invalid;
    }
    if (password.s.ends_with("\r\n")) {
      password.s.resize(password.s.size() - 2);
    } else if (password.s.ends_with('\n')) {
      password.s.pop_back();
    }
  }
  if (password.s.empty()) {
    fmt::print(stderr, "mxguard passwd: empty password refused\n");
    return exit_invalid;
  }
  if (password.s.size() > max_password) {
    fmt::print(stderr, "mxguard passwd: password longer than {} octets\n", max_password);
    return exit_invalid;
  }
  if (password.s.find_first_of(std::string_view("\n\0", 2)) != std::string::npos) {
    fmt::print(stderr,
               "mxguard passwd: the password holds a newline or NUL (one password, one line)\n");
    return exit_invalid;
  }

  std::array<unsigned char, 16> random{};
  if (!fill_random(random)) {
    fmt::print(stderr, "mxguard passwd: getrandom failed\n");
    return exit_internal;
  }
  const auto setting = policy::yescrypt_setting(random);
  OPENSSL_cleanse(random.data(), random.size());
  const auto hash = setting ? policy::crypt_hash(password.s, *setting) : std::nullopt;
  if (!hash) {
    fmt::print(stderr, "mxguard passwd: libxcrypt refused to make a yescrypt hash\n");
    return exit_internal;
  }
  const std::string entry = "{CRYPT}" + *hash;
  // Read it back as the server will; a line that would not log in is never printed.
  const std::string check_user = user.empty() ? "user" : user;
  const auto table = policy::parse_passwd(check_user + ":" + entry + "\n", "mxguard passwd");
  if (!table || !table->verify(check_user, password.s)) {
    fmt::print(stderr, "mxguard passwd: internal error: the new hash does not verify{}\n",
               table ? "" : ": " + table.error().to_string());
    return exit_internal;
  }
  fmt::print("{}{}\n", user.empty() ? "" : user + ":", entry);
  return exit_ok;
}

}  // namespace mx::cli
