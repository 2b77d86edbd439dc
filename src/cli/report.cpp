#include "cli/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace mx::cli {

std::string safe_summary(const policy::relay_proof_result& proof) {
  return fmt::format("relay-safe: {} cases evaluated, no relay path for outsiders", proof.cases);
}

std::vector<std::string> unsafe_report(const policy::relay_proof_result& proof) {
  // One line per relay path (recipient form and the restriction that let it through), with the
  // first client found as the example and the other outsider clients it works for folded in:
  // a config trusting 0.0.0.0/0 gives a screenful, not a thousand lines.
  struct group {
    const policy::relay_finding* example = nullptr;
    std::vector<std::string> other_clients;
  };
  std::vector<group> groups;
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> index;
  for (const auto& f : proof.findings) {
    const auto key = std::make_tuple(f.recipient, f.form, f.decided_by);
    auto it = index.find(key);
    if (it == index.end()) {
      index.emplace(key, groups.size());
      groups.push_back({&f, {}});
      continue;
    }
    auto& g = groups[it->second];
    if (f.client != g.example->client &&
        std::find(g.other_clients.begin(), g.other_clients.end(), f.client) == g.other_clients.end()) {
      g.other_clients.push_back(f.client);
    }
  }
  std::vector<std::string> lines;
  lines.emplace_back("UNSAFE: an unauthenticated outsider can relay through this config:");
  for (const auto& g : groups) {
    std::string line = "  " + g.example->to_string();
    if (!g.other_clients.empty()) {
      constexpr std::size_t shown = 3;
      std::string names;
      for (std::size_t i = 0; i < g.other_clients.size() && i < shown; ++i) {
        names += (i ? ", " : "") + g.other_clients[i];
      }
      if (g.other_clients.size() > shown) names += ", ...";
      line += fmt::format("; also from {} other outsider client{} ({})", g.other_clients.size(),
                          g.other_clients.size() == 1 ? "" : "s", names);
    }
    lines.push_back(std::move(line));
  }
  lines.push_back(fmt::format("{} relay path{} ({} findings) in {} cases evaluated", groups.size(),
                              groups.size() == 1 ? "" : "s", proof.findings.size(), proof.cases));
  return lines;
}

}  // namespace mx::cli
