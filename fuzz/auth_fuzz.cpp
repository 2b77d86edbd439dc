// Fuzz target for the AUTH decoders: the passwd-file parser (policy/credentials), the sender-login
// map parser (policy/sender_login) and the SASL PLAIN/LOGIN response decoding (smtp/sasl).
// Input: [mode byte][bytes...]. Nothing may crash or leak; a broken invariant traps, so libFuzzer
// reports it as a crash:
//  - passwd: a table holds at most one user per non-blank line, and every user it holds can be
//    found, with a hash of the allowed alphabet (no ':', no blank). No password is hashed here (a
//    fuzzed bcrypt cost would take hours), only parsed.
//  - sender-login map: at most one key per line; the null sender is always allowed; a listed
//    address is allowed for its first owner and refused for a name no line can hold.
//  - SASL: strict base64 means one encoding per credential, so a decoded response re-encodes to
//    the very input, and encode_plain -> decode_plain round-trips any valid triple.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base64.hpp"
#include "policy/credentials.hpp"
#include "policy/sender_login.hpp"
#include "smtp/sasl.hpp"

namespace {

using namespace mx;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::size_t count_lines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

void fuzz_passwd(std::string_view text) {
  const auto table = policy::parse_passwd(text, "fuzz");
  if (!table) {
    require(table.error().line >= 1 &&
            static_cast<std::size_t>(table.error().line) <= count_lines(text));
    require(!table.error().message.empty());
    return;
  }
  require(table->size() <= count_lines(text));
  // Each line that looks like "user:..." and is not a comment names a user the table holds.
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    const std::string_view user = line.substr(0, line.find(':'));
    const policy::credential* c = table->find(user);
    require(c != nullptr && c->user == user && c->line >= 1);
    require(!c->hash.empty() && c->hash.front() == '$');
    require(c->hash.find_first_of(": \t\r\n") == std::string::npos);
  }
  require(table->find("") == nullptr);
}

void fuzz_sender_login(std::string_view text) {
  const auto map = policy::parse_sender_login_map(text, "fuzz");
  if (!map) {
    require(map.error().line >= 1 &&
            static_cast<std::size_t>(map.error().line) <= count_lines(text));
    return;
  }
  require(map->size() <= count_lines(text));
  const auto null_sender = smtp::parse_address("<>", {.smtputf8 = true, .allow_null = true});
  require(null_sender.has_value());
  require(map->allowed(*null_sender, "anyone"));
  // A name holding a space can never be an owner.
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const std::size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos || sp == 0 || line.front() == '@' || line.front() == '#') {
      continue;
    }
    const auto sender =
        smtp::parse_address("<" + std::string(line.substr(0, sp)) + ">", {.smtputf8 = true});
    if (!sender) continue;
    const auto* owners = map->owners(*sender);
    require(owners != nullptr && !owners->empty());
    require(map->allowed(*sender, owners->front()));
    require(!map->allowed(*sender, "no one"));
  }
}

void check_plain(const smtp::sasl::plain_credentials& c) {
  require(!c.authcid.empty());
  require(c.authzid.empty() || c.authzid == c.authcid);
  for (const std::string* s : {&c.authzid, &c.authcid, &c.password}) {
    require(s->find('\0') == std::string::npos);
  }
}

void fuzz_sasl(std::string_view bytes, bool initial) {
  using namespace smtp::sasl;
  const response_kind kind = initial ? response_kind::initial : response_kind::continuation;
  // The bytes as a response line.
  if (const auto decoded = decode_response(bytes, kind)) {
    require(base64::encode(*decoded) == bytes || (initial && bytes == "=" && decoded->empty()));
  } else {
    require(decoded.error().code == 501);
  }
  if (const auto plain = decode_plain(bytes, kind)) {
    check_plain(*plain);
    require(encode_plain(plain->authzid, plain->authcid, plain->password) == bytes);
  } else {
    require(plain.error().code == 501);
  }
  // The bytes as a PLAIN message, and as three fields split at 0xff, through the encoder.
  if (const auto plain = parse_plain(bytes)) check_plain(*plain);
  const std::size_t a = bytes.find('\xff');
  const std::size_t b = a == std::string_view::npos ? a : bytes.find('\xff', a + 1);
  if (b != std::string_view::npos) {
    const std::string_view authzid = bytes.substr(0, a);
    const std::string_view authcid = bytes.substr(a + 1, b - a - 1);
    const std::string_view password = bytes.substr(b + 1);
    const bool valid =
        !authcid.empty() && (authzid.empty() || authzid == authcid) &&
        (std::string(authzid) + std::string(authcid) + std::string(password)).find('\0') ==
            std::string::npos;
    const auto round = decode_plain(encode_plain(authzid, authcid, password));
    require(round.has_value() == valid);
    if (round) {
      require(round->authzid == authzid && round->authcid == authcid &&
              round->password == password);
    }
  }
  // LOGIN: the user as sent, the password as the rest.
  const std::size_t sep = bytes.find('\xff');
  const auto login =
      finish_login(std::string(bytes.substr(0, sep)),
                   sep == std::string_view::npos ? "" : std::string(bytes.substr(sep + 1)));
  if (login) require(!login->user.empty() && login->user.find('\0') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzz_passwd(rest);
      break;
    case 1:
      fuzz_sender_login(rest);
      break;
    default:
      fuzz_sasl(rest, data[0] % 4 == 3);
      break;
  }
  return 0;
}
