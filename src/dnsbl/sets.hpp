// dnsbl/sets: the concrete set types (internal). Each has a builder (line parser) and a leaf
// (immutable lookup structure):
//   ip4set, ip4trie  interval_table<uint32>: single addresses 4 octets each, intervals for CIDRs
//                    and ranges; ip4set levels are rbldnsd's octet boundaries, ip4trie's prefix
//                    lengths
//   ip4tset          a sorted array of addresses, 4 octets each, one value
//   ip6trie          interval_table<u128>
//   ip6tset          a sorted array of /64 prefixes (8 octets each) and of excluded /128s
//   dnset            sorted arrays of names stored with their labels reversed, so that the
//                    names below a name are one contiguous run (empty non-terminal checks)
// SECURITY: see leaf.hpp; lookups are binary searches, no allocation.
#pragma once

#include <memory>

#include "dnsbl/builder.hpp"

namespace mx::dnsbl {

std::unique_ptr<leaf_builder> make_ip4_builder(dataset_type type);  // ip4set or ip4trie
std::unique_ptr<leaf_builder> make_ip4tset_builder();
std::unique_ptr<leaf_builder> make_ip6trie_builder();
std::unique_ptr<leaf_builder> make_ip6tset_builder();
std::unique_ptr<leaf_builder> make_dnset_builder();

}  // namespace mx::dnsbl
