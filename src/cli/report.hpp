// cli/report: how the relay-safety proof's result is worded, shared by check-config and serve so
// that both say the same thing.
//
// SECURITY: findings carry config-derived text only (domains, addresses from the config file),
// already validated by the loader; the logger escapes control octets anyway.
// RFCs: none.
#pragma once

#include <string>
#include <vector>

#include "policy/relay_proof.hpp"

namespace mx::cli {

// "relay-safe: 1234 cases evaluated, no relay path for outsiders"
std::string safe_summary(const policy::relay_proof_result& proof);
// "UNSAFE: an unauthenticated outsider can relay through this config:", then one line per
// finding ("  " + finding.to_string()), then the count of findings and cases.
std::vector<std::string> unsafe_report(const policy::relay_proof_result& proof);

}  // namespace mx::cli
