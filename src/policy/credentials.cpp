#include "policy/credentials.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <utility>

namespace mx::policy {

namespace {

std::atomic<std::uint64_t> next_generation{1};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) {
             return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
           };
           return lower(x) == lower(y);
         });
}

struct scheme_name {
  std::string_view name;
  password_scheme scheme;
};
constexpr scheme_name scheme_names[] = {
    {"CRYPT", password_scheme::crypt},
    {"BLF-CRYPT", password_scheme::blf_crypt},
    {"SHA512-CRYPT", password_scheme::sha512_crypt},
    {"SHA256-CRYPT", password_scheme::sha256_crypt},
    {"MD5-CRYPT", password_scheme::md5_crypt},
};

// A crypt(3) method: its "$id$", which schemes may name it, and what a complete hash looks like.
struct crypt_method {
  std::string_view id;          // between the first two '$'
  std::size_t min_dollars;      // '$' signs in a complete hash
  std::size_t checksum_length;  // octets after the last '$' (bcrypt: 0, its length is fixed)
  std::size_t total_length;     // bcrypt only: the whole hash
  password_scheme scheme;       // the specific scheme; CRYPT accepts every row
};
constexpr crypt_method methods[] = {
    {"y", 4, 43, 0, password_scheme::crypt},         // yescrypt
    {"gy", 4, 43, 0, password_scheme::crypt},        // gost-yescrypt
    {"7", 3, 43, 0, password_scheme::crypt},         // scrypt
    {"2b", 3, 0, 60, password_scheme::blf_crypt},    // bcrypt
    {"2a", 3, 0, 60, password_scheme::blf_crypt},    // bcrypt, older variant
    {"2y", 3, 0, 60, password_scheme::blf_crypt},    // bcrypt, PHP's name for 2b
    {"6", 3, 86, 0, password_scheme::sha512_crypt},  // SHA-512 crypt
    {"5", 3, 43, 0, password_scheme::sha256_crypt},  // SHA-256 crypt
    {"1", 3, 22, 0, password_scheme::md5_crypt},     // MD5 crypt (legacy, still read)
};

bool crypt_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/' || c == '$' || c == '=' || c == ',';
}

// Why `hash` is not a complete hash of a method `scheme` allows, or nullopt when it is.
std::optional<std::string> check_hash(password_scheme scheme, const std::string& hash) {
  const std::string_view want = scheme == password_scheme::crypt ? "a crypt(3) hash" : [&] {
    switch (scheme) {
      case password_scheme::blf_crypt:
        return "a bcrypt hash ($2b$...)";
      case password_scheme::sha512_crypt:
        return "a SHA-512 crypt hash ($6$...)";
      case password_scheme::sha256_crypt:
        return "a SHA-256 crypt hash ($5$...)";
      default:
        return "an MD5 crypt hash ($1$...)";
    }
  }();
  if (hash.empty() || hash.front() != '$') {
    if (scheme == password_scheme::crypt) {
      return std::string(
          "traditional DES crypt (or an unknown format) is refused: it keeps only 8 password "
          "octets; make a new hash with `mxguard passwd`");
    }
    return fmt::format("expected {}", want);
  }
  if (!std::all_of(hash.begin(), hash.end(), crypt_char)) {
    return fmt::format("expected {}: invalid character in the hash", want);
  }
  const std::size_t second = hash.find('$', 1);
  const std::string_view id = second == std::string::npos
                                  ? std::string_view()
                                  : std::string_view(hash).substr(1, second - 1);
  const auto m = std::find_if(std::begin(methods), std::end(methods),
                              [&](const crypt_method& x) { return x.id == id; });
  if (m == std::end(methods)) {
    return fmt::format("expected {}: method ${}$ is unknown or too weak to accept", want, id);
  }
  if (scheme != password_scheme::crypt && scheme != m->scheme) {
    return fmt::format("expected {}, found a ${}$ hash", want, id);
  }
  const int checked = crypt_checksalt(hash.c_str());
  if (checked != CRYPT_SALT_OK && checked != CRYPT_SALT_METHOD_LEGACY) {
    return fmt::format("libxcrypt refuses this ${}$ hash (invalid or disabled setting)", id);
  }
  const auto dollars = static_cast<std::size_t>(std::count(hash.begin(), hash.end(), '$'));
  const std::size_t checksum = hash.size() - hash.rfind('$') - 1;
  const bool complete =
      dollars >= m->min_dollars &&
      (m->total_length != 0 ? hash.size() == m->total_length : checksum == m->checksum_length);
  if (!complete) return fmt::format("incomplete ${}$ hash (truncated line?)", id);
  return std::nullopt;
}

bool user_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

struct crypt_state_deleter {
  void operator()(crypt_data* d) const {
    OPENSSL_cleanse(d, sizeof *d);
    delete d;
  }
};

// crypt_rn into a private, wiped state. The password must not hold a NUL.
std::optional<std::string> run_crypt(const std::string& password, const std::string& setting) {
  const std::unique_ptr<crypt_data, crypt_state_deleter> state(new crypt_data{});
  const char* out = crypt_rn(password.c_str(), setting.c_str(), state.get(), sizeof(crypt_data));
  if (out == nullptr || out[0] == '*') return std::nullopt;
  return std::string(out);
}

}  // namespace

std::string_view name_of(password_scheme s) {
  for (const auto& n : scheme_names) {
    if (n.scheme == s) return n.name;
  }
  return "?";
}

std::string credentials_error::to_string() const {
  return fmt::format("{}:{}: {}", source, line, message);
}

const credential* credential_table::find(std::string_view user) const {
  const auto it = users_.find(std::string(user));
  return it == users_.end() ? nullptr : &it->second;
}

bool credential_table::verify(std::string_view user, std::string_view password) const {
  const credential* c = find(user);
  const std::string& hash = c != nullptr ? c->hash : dummy_hash_;
  if (hash.empty()) return false;  // an empty table: there is no user to hide
  // A NUL would end the password early for crypt: hash what precedes it (same cost) and refuse.
  const bool usable = !password.empty() && password.find('\0') == std::string_view::npos;
  std::string pw(password.substr(0, password.find('\0')));
  const auto out = run_crypt(pw, hash);
  OPENSSL_cleanse(pw.data(), pw.size());
  const bool match = out && out->size() == hash.size() &&
                     CRYPTO_memcmp(out->data(), hash.data(), hash.size()) == 0;
  return match && usable && c != nullptr;
}

expected<credential_table, credentials_error> parse_passwd(std::string_view text,
                                                           std::string_view source_name) {
  credential_table table;
  table.generation_ = next_generation.fetch_add(1, std::memory_order_relaxed);
  int line_no = 0;
  const auto error = [&](std::string message) {
    return unexpected(credentials_error{std::string(source_name), line_no, std::move(message)});
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;

    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return error("expected user:{SCHEME}hash");
    const std::string_view user = line.substr(0, colon);
    if (user.empty()) return error("empty user name");
    if (!std::all_of(user.begin(), user.end(), user_char)) {
      return error("user name holds a space or a control character");
    }
    std::string_view field = line.substr(colon + 1);
    field = field.substr(0, field.find(':'));  // uid, gid, home, extra fields: not ours
    if (field.empty()) return error(fmt::format("no password hash for user {}", user));

    password_scheme scheme = password_scheme::crypt;  // Dovecot's default for passwd-file
    if (field.front() == '{') {
      const std::size_t close = field.find('}');
      if (close == std::string_view::npos) return error("unterminated {SCHEME}");
      const std::string_view name = field.substr(1, close - 1);
      const auto known = std::find_if(std::begin(scheme_names), std::end(scheme_names),
                                      [&](const scheme_name& n) { return iequals(n.name, name); });
      if (known == std::end(scheme_names)) {
        const auto starts = [&](std::string_view p) {
          return iequals(name.substr(0, p.size()), p);
        };
        if (starts("PLAIN") || starts("CLEARTEXT")) {
          return error(
              fmt::format("plaintext scheme {{{}}} refused: store a hash (mxguard passwd)", name));
        }
        return error(fmt::format(
            "unsupported password scheme {{{}}} (supported: CRYPT, BLF-CRYPT, SHA512-CRYPT, "
            "SHA256-CRYPT, MD5-CRYPT)",
            name));
      }
      scheme = known->scheme;
      field.remove_prefix(close + 1);
    }
    credential c{std::string(user), scheme, std::string(field), line_no};
    if (auto why = check_hash(scheme, c.hash)) return error(fmt::format("user {}: {}", user, *why));
    if (table.users_.contains(c.user)) {
      return error(fmt::format("user {} defined twice (first on line {})", user,
                               table.users_.at(c.user).line));
    }
    if (table.dummy_hash_.empty()) table.dummy_hash_ = c.hash;
    table.users_.emplace(c.user, std::move(c));
  }
  return table;
}

std::optional<std::string> crypt_hash(std::string_view password, std::string_view setting) {
  if (password.find('\0') != std::string_view::npos ||
      setting.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string pw(password);
  auto out = run_crypt(pw, std::string(setting));
  OPENSSL_cleanse(pw.data(), pw.size());
  return out;
}

std::optional<std::string> yescrypt_setting(std::span<const unsigned char> random_bytes) {
  if (random_bytes.size() < 16) return std::nullopt;
  char out[CRYPT_GENSALT_OUTPUT_SIZE];  // NOLINT(*-avoid-c-arrays): libxcrypt's buffer
  const char* got = crypt_gensalt_rn("$y$", 0, reinterpret_cast<const char*>(random_bytes.data()),
                                     static_cast<int>(random_bytes.size()), out, sizeof out);
  if (got == nullptr || got[0] == '*') return std::nullopt;
  return std::string(got);
}

// ---- verify_cache ----

verify_cache::verify_cache(std::size_t capacity) : capacity_(capacity) {
  enabled_ = RAND_bytes(key_.data(), static_cast<int>(key_.size())) == 1;
}

verify_cache::verify_cache(std::size_t capacity, std::span<const unsigned char, key_size> key)
    : capacity_(capacity) {
  std::copy(key.begin(), key.end(), key_.begin());
}

verify_cache::~verify_cache() {
  OPENSSL_cleanse(key_.data(), key_.size());
  for (auto& e : lru_) OPENSSL_cleanse(e.mac.data(), e.mac.size());
}

verify_cache::digest verify_cache::mac_of(std::string_view user, std::string_view password) const {
  // Length-prefixed user, so ("ab", "c") and ("a", "bc") differ.
  std::string message = fmt::format("{}:", user.size());
  message.append(user).append(password);
  digest out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), &length);
  OPENSSL_cleanse(message.data(), message.size());
  return out;
}

bool verify_cache::known(const credential_table& table, std::string_view user,
                         std::string_view password) {
  if (!enabled_ || capacity_ == 0) return false;
  const credential* c = table.find(user);
  if (c == nullptr) return false;
  const digest mac = mac_of(user, password);
  const std::lock_guard lock(mutex_);
  if (generation_ != table.generation()) return false;
  const auto it = index_.find(user);
  if (it == index_.end() || it->second->hash != c->hash ||
      CRYPTO_memcmp(it->second->mac.data(), mac.data(), mac.size()) != 0) {
    return false;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  return true;
}

bool verify_cache::verify(const credential_table& table, std::string_view user,
                          std::string_view password) {
  if (!enabled_ || capacity_ == 0) return table.verify(user, password);
  const credential* c = table.find(user);
  const digest mac = mac_of(user, password);
  {
    const std::lock_guard lock(mutex_);
    if (generation_ != table.generation()) {
      lru_.clear();
      index_.clear();
      generation_ = table.generation();
    }
    const auto it = index_.find(user);
    if (c != nullptr && it != index_.end() && it->second->hash == c->hash &&
        CRYPTO_memcmp(it->second->mac.data(), mac.data(), mac.size()) == 0) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++hits_;
      return true;
    }
    ++misses_;
  }
  // The slow part runs unlocked, so logins on other threads are not serialised behind it.
  if (!table.verify(user, password)) return false;
  const std::lock_guard lock(mutex_);
  if (generation_ != table.generation()) return true;  // another table took over meanwhile
  if (const auto it = index_.find(user); it != index_.end()) {
    it->second->hash = c->hash;
    it->second->mac = mac;
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
  }
  if (lru_.size() >= capacity_) {
    index_.erase(lru_.back().user);
    lru_.pop_back();
  }
  lru_.push_front(entry{std::string(user), c->hash, mac});
  index_.emplace(lru_.front().user, lru_.begin());
  return true;
}

void verify_cache::clear() {
  const std::lock_guard lock(mutex_);
  lru_.clear();
  index_.clear();
}

std::size_t verify_cache::size() const {
  const std::lock_guard lock(mutex_);
  return lru_.size();
}

std::uint64_t verify_cache::hits() const {
  const std::lock_guard lock(mutex_);
  return hits_;
}

std::uint64_t verify_cache::misses() const {
  const std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace mx::policy
