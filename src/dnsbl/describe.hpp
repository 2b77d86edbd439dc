// dnsbl/describe: everything a dataset load produced, as text, one line an item: the warnings
// (with file:line) and their count, whether $SOA and $NS were given, the entry count, and for each
// set its TTL, default value, values in order and the runs of addresses with their values in
// key order. Two loads are the same load when their descriptions are equal, which is how the
// tests and fuzz targets check that a parallel load, a fork's absorbed part or the plain-line
// reader gives what the sequential general parser gives. Pure: no I/O.
//
// SECURITY: the text is for comparison and debugging, not for display to peers; it grows with
// the data (one line a run).
#pragma once

#include <string>

#include "core/result.hpp"
#include "dnsbl/dataset.hpp"

namespace mx::dnsbl {

std::string describe(const mx::expected<load_result, load_error>& load);

}  // namespace mx::dnsbl
