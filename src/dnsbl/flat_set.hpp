// dnsbl/flat_set: a set of small fixed-size keys for a load's bookkeeping (the tries' "seen this
// prefix" check, which rbldnsd's duplicate warning needs): open addressing with linear probing
// in one array, so a million entries cost no allocation each. std::unordered_set allocated a
// node per prefix (40 MB and most of an ip4trie load for a million prefixes); std::set did the
// same and compared its way down a tree (two thirds of an ip6trie load).
//
// Key: trivially copyable, with ==, and one value that is never inserted (marks a free slot);
// Hash: a functor giving 64 well-mixed bits. Grows by doubling at half full.
//
// SECURITY: keys come from operator data; the hash is not keyed, so crafted data could make
// probes long, at a cost bounded by the file's size (the data is the operator's, not a peer's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mx::dnsbl {

template <class Key, class Hash>
class flat_set {
 public:
  // empty: a key never inserted, which marks a free slot (one array, so a probe is one cache
  // line, not one for the key and one for a flag).
  explicit flat_set(const Key& empty) : empty_(empty) {}

  // False when key was already in the set.
  bool insert(const Key& key) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = Hash{}(key)&mask;; i = (i + 1) & mask) {
      if (slots_[i] == empty_) {
        slots_[i] = key;
        ++size_;
        return true;
      }
      if (slots_[i] == key) return false;
    }
  }
  std::size_t size() const { return size_; }
  void clear() {
    std::vector<Key>().swap(slots_);
    size_ = 0;
  }

 private:
  void grow() {
    std::vector<Key> old(slots_.empty() ? 64 : 2 * slots_.size(), empty_);
    old.swap(slots_);
    size_ = 0;
    for (const Key& k : old) {
      if (!(k == empty_)) insert(k);
    }
  }

  Key empty_;
  std::vector<Key> slots_;
  std::size_t size_ = 0;
};

// A 64-bit mix (the finaliser of MurmurHash3), for keys made of integers.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace mx::dnsbl
