#include "cli/report.hpp"

#include <fmt/format.h>

namespace mx::cli {

std::string safe_summary(const policy::relay_proof_result& proof) {
  return fmt::format("relay-safe: {} cases evaluated, no relay path for outsiders", proof.cases);
}

std::vector<std::string> unsafe_report(const policy::relay_proof_result& proof) {
  std::vector<std::string> lines;
  lines.emplace_back("UNSAFE: an unauthenticated outsider can relay through this config:");
  for (const auto& f : proof.findings) lines.push_back("  " + f.to_string());
  lines.push_back(fmt::format("{} relay path{} found in {} cases evaluated", proof.findings.size(),
                              proof.findings.size() == 1 ? "" : "s", proof.cases));
  return lines;
}

}  // namespace mx::cli
