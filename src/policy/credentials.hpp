// policy/credentials: who may log in with SMTP AUTH. Parses a Dovecot-style passwd-file (the text;
// the shell reads the file named by `[auth] passwd_file`) and checks passwords against it with
// libxcrypt. Pure apart from the CPU time of the hash: no files, no clock, no logging.
//
//   # comment lines and blank lines are ignored
//   alice:{CRYPT}$y$j9T$...$...          yescrypt (what `mxguard passwd` prints)
//   bob:{BLF-CRYPT}$2b$10$...            bcrypt
//   carol:{SHA512-CRYPT}$6$...           also {SHA256-CRYPT} $5$, {MD5-CRYPT} $1$
//   dave:$6$...:1000:1000::/home/dave::  no {SCHEME}: CRYPT, as Dovecot reads it; fields after
//                                        the hash (uid, gid, home, extra fields) are ignored
//
// Scheme names are case-insensitive ({crypt} = {CRYPT}); user names are compared exactly
// (case-sensitively), as Dovecot's passwd-file does without auth_username_format: "Alice" and
// "alice" are two users. A file naming one user twice is an error (Dovecot would silently take
// the first line; a duplicate is more likely an edit gone wrong).
//
// SECURITY:
//  - Plaintext schemes ({PLAIN}, {CLEARTEXT} and their variants) and every scheme not listed above
//    are refused with the line number: a file that could hold readable passwords is a config
//    error, not a feature. Under {CRYPT} only the modern crypt(3) methods are taken (yescrypt $y$,
//    gost-yescrypt $gy$, scrypt $7$, bcrypt $2b$/$2a$/$2y$, SHA-512 $6$, SHA-256 $5$, MD5 $1$);
//    traditional DES and bigcrypt (which keep only 8 password octets), BSDi "_", NT $3$ and the
//    other legacy methods are refused, as is a hash whose checksum is missing or has the wrong
//    length (a truncated line never quietly becomes an account nobody can use, or anyone can).
//  - verify() compares crypt's output with the stored hash in constant time (CRYPTO_memcmp). For a
//    user that does not exist it still runs crypt, against the table's first hash (same method and
//    cost as the users `mxguard passwd` creates), and answers false: the time taken does not tell
//    which users exist. A password holding a NUL, or an empty one, never verifies (crypt would
//    see a shorter string).
//  - bcrypt reads only the first 72 password octets (a property of the method; yescrypt has none).
//  - verify_cache keeps no password: an HMAC-SHA256 of (user, password) under a random key made
//    once per process (RAND_bytes), so a memory dump does not yield a password or an offline-
//    crackable fast hash without that key. A cached entry is used only while the table still
//    holds the very hash the password verified against: a changed or removed user misses.
// Thread-safety: a credential_table is immutable after parsing; verify() may run on many threads
// at once (each call has its own crypt state). verify_cache is internally locked (one mutex, held
// only for the map operations, never during crypt) and may be shared by all threads.
// References: Dovecot passwd-file and password schemes documentation; crypt(5) of libxcrypt.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"

namespace mx::policy {

enum class password_scheme : std::uint8_t {
  crypt,
  blf_crypt,
  sha512_crypt,
  sha256_crypt,
  md5_crypt
};
std::string_view name_of(password_scheme s);  // "CRYPT", "BLF-CRYPT", ...

struct credential {
  std::string user;
  password_scheme scheme = password_scheme::crypt;
  std::string hash;  // the crypt(3) string, "$y$j9T$salt$checksum"
  int line = 0;      // where it was defined (for logs)
};

struct credentials_error {
  std::string source;
  int line = 0;
  std::string message;
  std::string to_string() const;  // "file:line: message"
};

class credential_table {
 public:
  credential_table() = default;  // empty: nobody can log in

  // The entry for `user` (exact match), or nullptr.
  const credential* find(std::string_view user) const;
  std::size_t size() const { return users_.size(); }
  bool empty() const { return users_.empty(); }

  // True when `user` exists and `password` hashes to its stored hash. Takes the hash's full cost
  // whether or not the user exists (see SECURITY above). Safe to call from several threads.
  bool verify(std::string_view user, std::string_view password) const;

  // Distinguishes one parsed table from another (a reload makes a new one): verify_cache drops its
  // entries when it sees another generation. Copies share their generation.
  std::uint64_t generation() const { return generation_; }

 private:
  friend expected<credential_table, credentials_error> parse_passwd(std::string_view,
                                                                    std::string_view);
  std::unordered_map<std::string, credential> users_;
  std::string dummy_hash_;  // hashed for unknown users so they cost what a real one does
  std::uint64_t generation_ = 0;
};

// Parses passwd-file text. `source_name` prefixes error messages ("passwd:3: ...").
expected<credential_table, credentials_error> parse_passwd(std::string_view text,
                                                           std::string_view source_name);

// The crypt(3) hash `password` would have under `setting` ("$y$j9T$salt", or a full stored hash),
// or nullopt when libxcrypt refuses the setting. For `mxguard passwd` and tests.
std::optional<std::string> crypt_hash(std::string_view password, std::string_view setting);

// A new yescrypt setting ("$y$j9T$<salt>") at libxcrypt's default cost, salted from
// `random_bytes` (at least 16 octets from a CSPRNG; the caller gets them, this module does no I/O).
// nullopt if libxcrypt refuses.
std::optional<std::string> yescrypt_setting(std::span<const unsigned char> random_bytes);

// Remembers successful logins so that a client that logs in again (every message of a submission
// client is often a new connection) does not pay yescrypt's cost each time, as Dovecot's
// auth_cache does. Only successes are cached; a wrong password always takes the slow path.
// Bounded: at most `capacity` users, the least recently used evicted first. No time-to-live: an
// entry lives until evicted or until the table changes.
class verify_cache {
 public:
  static constexpr std::size_t key_size = 32;

  // A random HMAC key from OpenSSL's RAND_bytes. If the RNG fails the cache stays disabled
  // (every call takes the slow path), never keyed with something predictable.
  explicit verify_cache(std::size_t capacity = 4096);
  // A given key (tests).
  verify_cache(std::size_t capacity, std::span<const unsigned char, key_size> key);
  ~verify_cache();
  verify_cache(const verify_cache&) = delete;
  verify_cache& operator=(const verify_cache&) = delete;

  // table.verify(user, password), answered from the cache when this user last verified with this
  // password against the hash the table still holds for them.
  bool verify(const credential_table& table, std::string_view user, std::string_view password);
  // Only the cache: true when verify() would answer true from it (a hit, counted), false when it
  // would have to hash (nothing counted). Cheap: the shell asks this on its io thread and sends
  // only misses to the hashing pool.
  bool known(const credential_table& table, std::string_view user, std::string_view password);

  void clear();
  std::size_t size() const;
  std::uint64_t hits() const;
  std::uint64_t misses() const;
  bool enabled() const { return enabled_; }

 private:
  using digest = std::array<unsigned char, 32>;
  struct entry {
    std::string user;
    std::string hash;  // the stored hash the password verified against
    digest mac{};
  };
  digest mac_of(std::string_view user, std::string_view password) const;

  std::size_t capacity_;
  bool enabled_ = true;
  std::array<unsigned char, key_size> key_{};
  mutable std::mutex mutex_;
  std::list<entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<entry>::iterator> index_;  // keys: lru_ users
  std::uint64_t generation_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace mx::policy
